"""The fault matrix, the rows of what Corral depends on besides Ollama: Redis, PostgreSQL, the
collector, and a web process killed mid-call. Each checks what the fault matrix checks
(tests/faults/__init__.py)."""

import httpx
import pytest
from django.conf import settings as django_settings

from audit.models import AuditRecord
from audit.spool import finalizations_waiting
from gateway.models import OtlpBatch
from tests.faults.stack import DOORS, assert_failed
from tests.support import processes
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_redis_down_and_back(stack):
    redis = stack.relays["redis"]
    for door in DOORS:
        redis.down()
        response = stack.call(door)
        assert response.status_code == 503, response.text
        assert "limits" in door.error_of(response)
        # refused before any model was asked: on the record as such
        assert_failed(stack, door, "limits_unavailable", status=AuditRecord.Status.REFUSED)
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
