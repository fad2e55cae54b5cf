"""Audit records for tests, written through the audit trail's own write paths (the services)."""

import uuid

from django.utils import timezone

from audit.services import audit_record_finalize, audit_record_open
from tests.conftest import MODEL


def record(user, team, *, model="llama3.2", status="succeeded", started_at=None, latency=500,
           ttft=50, prompt=10, completion=20, messages=(), record_id=None) -> uuid.UUID:  # fmt: skip
    """A record opened with `messages` and, unless `status` is "running", finalized."""
    record_id = record_id or uuid.uuid4()
    audit_record_open(
        record_id=record_id, started_at=started_at or timezone.now(), user=user, team=team,
        token_prefix="", client_ip=None, user_agent="", surface="api", operation="chat",
        model=model, upstream_model=model, backend_id=None, backend_name="", stream=False,
        options={}, request_format=None, tools=None, messages=list(messages), metadata={},
        conversation_id="", trace_id="", span_id="",
    )  # fmt: skip
    if status != "running":
        audit_record_finalize(
            record_id=record_id, status=status, prompt_tokens=prompt, completion_tokens=completion,
            latency_ms=latency, ttft_ms=ttft,
        )  # fmt: skip
    return record_id


def make_calls(api, count: int, content: str = "hello") -> list[str]:
    """Records made the real way: `count` native chat calls; their record ids."""
    return [
        api.post(
            "/api/v1/chat",
            {"model": MODEL, "messages": [{"role": "user", "content": f"{content} {i}"}]},
            format="json",
        )
        .json()
        .get("id")
        for i in range(count)
    ]
