"""The fault matrix's harness: the doors, how an error looks out of each, and the stack of Corral's
real processes whose dependencies the tests cut (the `stack` fixture, in conftest.py)."""

import json
import os
import time
from dataclasses import dataclass
from unittest import mock

import httpx

from audit.models import AuditRecord
from gateway.tracing.outbox import otlp_batch_ids_due, otlp_batch_resend
from tests.conftest import MODEL
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import wait_for

QUESTION = [{"role": "user", "content": "are you there?"}]


@dataclass
class Door:
    """One way in, and how an error looks when it comes out of it."""

    name: str
    surface: str
    path: str

    def body(self, stream: bool) -> dict:
        return {"model": MODEL, "messages": QUESTION, "stream": stream}

    def error_of(self, response: httpx.Response) -> str:
        """The error's message, asserting the door's error shape."""
        body = response.json()
        if self.name == "ollama":
            assert set(body) == {"error"} and isinstance(body["error"], str)
            return body["error"]
        error = body["error"]
        if self.name == "openai":
            assert {"message", "type", "code"} <= set(error)
        else:
            assert set(error) == {"code", "message"}
        return error["message"]

    def stream_error_of(self, text: str) -> str:
        """The in-band error that ends a stream which had begun."""
        if self.name == "ollama":
            last = json.loads(text.strip().splitlines()[-1])
            assert set(last) == {"error"}
            return last["error"]
        events = [block for block in text.strip().split("\n\n") if block]
        if self.name == "openai":
            data = [block.removeprefix("data: ") for block in events]
            error = json.loads(next(d for d in data if '"error"' in d))["error"]
            assert {"message", "type", "code"} <= set(error)
            return error["message"]
        assert events[-1].startswith("event: error\n")
        error = json.loads(events[-1].split("data: ", 1)[1])["error"]
        assert set(error) == {"code", "message"}
        return error["message"]


DOORS = [
    Door("native", AuditRecord.Surface.API, "/api/v1/chat"),
    Door("ollama", AuditRecord.Surface.OLLAMA, "/ollama/api/chat"),
    Door("openai", AuditRecord.Surface.OPENAI, "/v1/chat/completions"),
]
# The status each door answers for a contract error (Ollama's door says 500 for a failed upstream).
STATUS = {
    "upstream_unavailable": {"native": 503, "ollama": 503, "openai": 503},
    "upstream_timeout": {"native": 504, "ollama": 504, "openai": 504},
    "upstream_error": {"native": 502, "ollama": 500, "openai": 502},
    "limits_unavailable": {"native": 503, "ollama": 503, "openai": 503},
    "database_unavailable": {"native": 503, "ollama": 503, "openai": 503},
}


class Stack:
    def __init__(self, base: str, token: str, receiver, ollama, relays: dict[str, TcpProxy]):
        self.base, self.token, self.receiver, self.ollama = base, token, receiver, ollama
        self.relays = relays

    def call(self, door: Door, stream: bool = False) -> httpx.Response:
        with self.stream(door, stream) as response:
            response.read()
        return response

    def stream(self, door: Door, stream: bool = True):
        """The call as a context manager, read as it arrives."""
        return httpx.stream(
            "POST",
            f"{self.base}{door.path}",
            headers={"Authorization": f"Bearer {self.token}"},
            json=door.body(stream),
            timeout=30,
        )

    def last_record(self, door: Door) -> AuditRecord:
        def settled() -> AuditRecord | None:
            record = (
                AuditRecord.objects.filter(surface=door.surface).order_by("-started_at").first()
            )
            return record if record and record.status != AuditRecord.Status.RUNNING else None

        assert wait_for(settled, timeout=15), "no finished audit record"
        return settled()

    def span_of(self, record: AuditRecord):
        """The call's span. This stack runs no Celery worker: when the collector, on a busy
        machine, takes longer than the direct export's 1 s, the batch waits in the outbox (and
        batches go there for a while after); it is sent from there as the worker would."""
        audit_id = str(record.id)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.receiver.find(lambda s: s.attributes.get("corral.audit_id") == audit_id, 1):
                break
            collector = self.env["OTEL_EXPORTER_OTLP_ENDPOINT"]
            with mock.patch.dict(os.environ, {"OTEL_EXPORTER_OTLP_ENDPOINT": collector}):
                for batch_id in otlp_batch_ids_due():
                    otlp_batch_resend(batch_id=batch_id)
        return self.receiver.span_for_audit(audit_id, timeout=1)

    def works(self, door: Door, within: float = 15) -> None:
        """The service recovers by itself: a plain call through the door answers again (the
        breaker may have taken the backend out after three failures; its cool-down here is 1 s)."""
        assert wait_for(lambda: self.call(door).status_code == 200, timeout=within)
        assert self.last_record(door).status == AuditRecord.Status.SUCCEEDED


def assert_failed(
    stack: Stack, door: Door, code: str, *, partial: str = "", status=AuditRecord.Status.FAILED
) -> AuditRecord:
    record = stack.last_record(door)
    assert (record.status, record.error_code) == (status, code)
    assert record.completion == partial
    span = stack.span_of(record)
    assert span.attributes["error.type"] == code
    assert span.status_code == 2  # ERROR
    return record


def clear_ollama(stack: Stack) -> None:
    stack.ollama.reset()
    if not stack.relays["ollama"].is_up:
        stack.relays["ollama"].up()
