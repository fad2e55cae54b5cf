"""The fault matrix, against Corral's real processes: gunicorn (gevent) and, where a row needs it,
the Celery worker and beat. Ollama, PostgreSQL and Redis are reached through TCP relays the tests
cut and restore, so "down" is what a client really sees (reset connections, refused connects).

Every row checks the same four things: the caller gets a clear error in its door's own format, an
audit record exists with the right status, the call's span reaches the collector, and the next
call succeeds again without restarting anything."""

import json
import os
import time
from dataclasses import dataclass
from unittest import mock

import httpx
import pytest
from django.conf import settings as django_settings

from audit.models import AuditRecord
from audit.spool import finalizations_waiting
from gateway.models import Backend, OtlpBatch
from gateway.tracing.outbox import otlp_batch_ids_due, otlp_batch_resend
from tests.conftest import MODEL
from tests.support import processes
from tests.support.tcp_proxy import TcpProxy
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

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
            with mock.patch.dict(os.environ, {"OTEL_EXPORTER_OTLP_ENDPOINT": self.collector}):
                for batch_id in otlp_batch_ids_due():
                    otlp_batch_resend(batch_id=batch_id)
        return self.receiver.span_for_audit(audit_id, timeout=1)

    def works(self, door: Door, within: float = 15) -> None:
        """The service recovers by itself: a plain call through the door answers again (the
        breaker may have taken the backend out after three failures; its cool-down here is 1 s)."""
        assert wait_for(lambda: self.call(door).status_code == 200, timeout=within)
        assert self.last_record(door).status == AuditRecord.Status.SUCCEEDED


@pytest.fixture
def stack(otlp_receiver, ollama, route, token, tmp_path, redis_client):
    from django.db import connection

    settings = connection.settings_dict
    collector_port = int(otlp_receiver.endpoint.rsplit(":", 1)[1])
    with (
        TcpProxy("127.0.0.1", ollama._server.server_address[1]) as upstream,
        TcpProxy(settings["HOST"] or "127.0.0.1", int(settings["PORT"] or 5432)) as database,
        TcpProxy("127.0.0.1", 6379) as redis,
        TcpProxy("127.0.0.1", collector_port) as collector,
    ):
        Backend.objects.update(
            base_url=f"http://127.0.0.1:{upstream.port}", first_token_timeout=1.0
        )
        env = processes.corral_env(
            f"http://127.0.0.1:{collector.port}",
            DATABASE_URL=processes.database_url().replace(
                f":{settings['PORT'] or 5432}/", f":{database.port}/"
            ),
            REDIS_URL=f"redis://127.0.0.1:{redis.port}/15",
            # a failing backend is taken out after 3 failed calls; back in rotation after 1 s
            CORRAL_BREAKER_COOLDOWN="1",
            CORRAL_ROUTE_CACHE_SECONDS="0",
            CORRAL_TOKEN_CACHE_SECONDS="0",
            CORRAL_AUDIT_REPLAY_SECONDS="1",
            CORRAL_AUDIT_SWEEP_SECONDS="1",
            # a collector that does not answer hands its spans to the outbox after 1 s
            OTEL_EXPORTER_OTLP_TRACES_TIMEOUT="1",
            CORRAL_OTLP_SWEEP_SECONDS="1",
            DATABASE_POOL_TIMEOUT="2",
            # limits are checked in Redis on every call (without limits Redis is not needed)
            CORRAL_USER_REQUESTS_PER_MINUTE="10000",
        )
        with processes.web_process(env, tmp_path) as (base, web):
            relays = {
                "ollama": upstream,
                "database": database,
                "redis": redis,
                "collector": collector,
            }
            stack = Stack(base, token, otlp_receiver, ollama, relays)
            stack.env, stack.log_dir, stack.web = env, tmp_path, web
            stack.collector = env["OTEL_EXPORTER_OTLP_ENDPOINT"]
            yield stack
        otlp_receiver.status, otlp_receiver.retry_after = 200, None


def _assert_failed(
    stack: Stack, door: Door, code: str, *, partial: str = "", status=AuditRecord.Status.FAILED
) -> AuditRecord:
    record = stack.last_record(door)
    assert (record.status, record.error_code) == (status, code)
    assert record.completion == partial
    span = stack.span_of(record)
    assert span.attributes["error.type"] == code
    assert span.status_code == 2  # ERROR
    return record


OLLAMA_FAULTS = {
    # fault: (set it up, the contract code the caller sees, whether the caller streams)
    "down": (lambda s: s.relays["ollama"].down(), "upstream_unavailable", False),
    "slow": (lambda s: setattr(s.ollama, "first_token_delay", 1.5), "upstream_timeout", False),
    "500": (lambda s: s.ollama.fail_next(500, "model runner crashed"), "upstream_error", False),
    "503 busy": (lambda s: s.ollama.fail_next(503, "server busy"), "upstream_unavailable", False),
}


def _clear(stack: Stack) -> None:
    stack.ollama.reset()
    if not stack.relays["ollama"].is_up:
        stack.relays["ollama"].up()


@pytest.mark.parametrize("fault", list(OLLAMA_FAULTS))
def test_ollama_fault_before_the_answer(stack, fault):
    make, code, _ = OLLAMA_FAULTS[fault]
    for door in DOORS:
        make(stack)
        response = stack.call(door)
        assert response.status_code == STATUS[code][door.name], response.text
        message = door.error_of(response)
        assert message and "Traceback" not in message
        if fault == "503 busy":
            assert response.headers.get("Retry-After") == "1"
        _assert_failed(stack, door, code)
        _clear(stack)
        stack.works(door)


@pytest.mark.parametrize("fault", ["stream cut", "malformed line"])
def test_ollama_fault_in_the_middle_of_a_stream(stack, fault):
    for door in DOORS:
        stack.ollama.reply = "one two three four"
        if fault == "stream cut":
            stack.ollama.cut_after = 2
        else:
            stack.ollama.malformed_after = 2
        response = stack.call(door, stream=True)
        assert response.status_code == 200  # the stream had begun: the error comes in-band
        message = door.stream_error_of(response.text)
        assert message and "Traceback" not in message
        assert "one " in response.text  # what came before the fault reached the caller
        _assert_failed(stack, door, "upstream_error", partial="one two ")
        _clear(stack)
        stack.works(door)


def test_client_disconnecting_mid_stream(stack):
    for door in DOORS:
        stack.ollama.reply = " ".join(["word"] * 100)
        stack.ollama.hold_after = 2
        with stack.stream(door) as response:
            assert response.status_code == 200
            next(response.iter_lines())
        stack.ollama.release.set()  # Corral notices the client is gone on its next write
        record = stack.last_record(door)
        assert record.status == AuditRecord.Status.CLIENT_DISCONNECTED
        assert stack.span_of(record).attributes["error.type"] == "client_disconnected"
        _clear(stack)
        stack.works(door)


def test_redis_down_and_back(stack):
    redis = stack.relays["redis"]
    for door in DOORS:
        redis.down()
        response = stack.call(door)
        assert response.status_code == 503, response.text
        assert "limits" in door.error_of(response)
        # refused before any model was asked: on the record as such
        _assert_failed(stack, door, "limits_unavailable", status=AuditRecord.Status.REFUSED)
        redis.up()
        stack.works(door)


needs_postgresql = pytest.mark.skipif(
    "postgresql" not in django_settings.DATABASES["default"]["ENGINE"],
    reason="the database is cut over TCP: PostgreSQL (as CI runs) only",
)


@needs_postgresql
def test_database_lost_before_the_call_refuses_it(stack):
    database = stack.relays["database"]
    stack.works(DOORS[0])  # the web process holds pooled connections now
    for door in DOORS:
        before = AuditRecord.objects.count()
        database.down()
        response = stack.call(door)
        assert response.status_code == 503, response.text
        assert "database" in door.error_of(response)
        assert AuditRecord.objects.count() == before  # refused: no call without its record
        spans = stack.receiver.find(
            lambda s, p=door.path: (
                s.attributes.get("http.target", s.attributes.get("url.path")) == p
                and s.attributes.get(
                    "http.status_code", s.attributes.get("http.response.status_code")
                )
                == 503
            ),
            timeout=15,
        )
        assert spans, "the refused call's server span was not delivered"
        database.up()
        stack.works(door)


@needs_postgresql
def test_database_lost_during_a_stream_keeps_its_outcome(stack):
    """The record was opened before the database went away; its outcome waits in Redis and is
    written by the worker once the database is back."""
    database = stack.relays["database"]
    with processes.worker(stack.env, stack.log_dir):
        for door in DOORS:
            stack.ollama.reply = "alpha beta gamma delta"
            stack.ollama.hold_after = 2
            with stack.stream(door) as response:
                lines = response.iter_lines()
                next(lines)
                record = AuditRecord.objects.filter(surface=door.surface).latest("started_at")
                assert record.status == AuditRecord.Status.RUNNING
                database.down()
                stack.ollama.release.set()
                rest = "\n".join(lines)
            assert "delta" in rest  # the caller got the whole answer
            assert wait_for(lambda: finalizations_waiting() >= 1, timeout=10)
            database.up()
            assert wait_for(
                lambda r=record: (
                    AuditRecord.objects.get(id=r.id).status == AuditRecord.Status.SUCCEEDED
                ),
                timeout=20,
            )
            record.refresh_from_db()
            assert record.completion == "alpha beta gamma delta"
            assert record.completion_tokens == 4 and record.finished_at > record.started_at
            assert stack.span_of(record).attributes["gen_ai.usage.output_tokens"] == 4
            stack.ollama.reset()
            stack.works(door)


COLLECTOR_FAULTS = {
    "down": lambda s: s.relays["collector"].down(),
    "503": lambda s: setattr(s.receiver, "status", 503),
    "429": lambda s: (setattr(s.receiver, "status", 429), setattr(s.receiver, "retry_after", "2")),
}


@pytest.mark.parametrize("fault", list(COLLECTOR_FAULTS))
def test_collector_fault_delays_spans_and_loses_none(stack, fault):
    """Callers do not notice the collector; spans wait in the outbox and arrive once it is back."""
    first = len(stack.receiver.spans)
    with processes.worker(stack.env, stack.log_dir):
        COLLECTOR_FAULTS[fault](stack)
        records = []
        for door in DOORS:
            for stream in (False, True):
                response = stack.call(door, stream=stream)
                assert response.status_code == 200, response.text
                records.append(stack.last_record(door))
        assert all(r.status == AuditRecord.Status.SUCCEEDED for r in records)
        assert wait_for(lambda: OtlpBatch.objects.exists(), timeout=30), "nothing in the outbox"
        ids = {str(r.id) for r in records}
        assert stack.receiver.find(lambda s: s.attributes.get("corral.audit_id") in ids, 0.1) == []

        stack.receiver.status, stack.receiver.retry_after = 200, None
        if not stack.relays["collector"].is_up:
            stack.relays["collector"].up()
        for record in records:
            span = stack.receiver.span_for_audit(str(record.id), timeout=60)
            assert span.span_id == record.span_id and span.status_code != 2
        assert wait_for(
            lambda: not OtlpBatch.objects.filter(status=OtlpBatch.Status.PENDING).exists(), 60
        )
    assert stack.receiver.delivered_twice(since=first) == []
    stack.works(DOORS[0])


def test_web_process_killed_mid_stream(stack, tmp_path):
    """A web worker lost mid-call (OOM killer, node gone): the caller's connection breaks, the
    sweeper marks the record interrupted, the span that died with the process is rebuilt from the
    record and delivered, and a new web process serves again."""
    door = DOORS[0]
    stack.ollama.reply = " ".join(["word"] * 50)
    stack.ollama.hold_after = 2
    with pytest.raises(httpx.HTTPError), stack.stream(door) as response:
        lines = response.iter_lines()
        next(lines)
        processes.kill_hard(stack.web)
        list(lines)
    stack.ollama.release.set()
    record = AuditRecord.objects.get(surface=door.surface)
    assert record.status == AuditRecord.Status.RUNNING  # nobody was left to finalize it

    sweeping = {**stack.env, "CORRAL_AUDIT_INTERRUPTED_AFTER": "2"}
    with processes.worker(sweeping, stack.log_dir):
        assert wait_for(
            lambda: AuditRecord.objects.get(id=record.id).status == "interrupted", timeout=30
        )
        span = stack.span_of(record)
        assert (span.trace_id, span.span_id) == (record.trace_id, record.span_id)
        assert span.attributes["error.type"] == "interrupted" and span.status_code == 2

    stack.ollama.reset()
    restarted = tmp_path / "restarted"
    restarted.mkdir()
    with processes.web(stack.env, restarted) as base:
        stack.base = base
        stack.works(door)
