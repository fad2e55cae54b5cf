"""The audit trail's write paths: open, finalize exactly once, sweep rows a crash left running."""

from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditRecord
from audit.services import (
    audit_record_finalize,
    audit_record_mark_interrupted,
    audit_record_open,
)
from common.ids import uuid7
from gateway.tasks import mark_interrupted

pytestmark = pytest.mark.django_db


def _open(user, *, started_at=None) -> AuditRecord:
    record_id = uuid7()
    audit_record_open(
        record_id=record_id,
        started_at=started_at or timezone.now(),
        user=user,
        team=None,
        token_prefix="crl_abcdefgh",
        client_ip="10.0.0.1",
        user_agent="pytest",
        surface="api",
        operation="chat",
        model="m",
        upstream_model="m:latest",
        backend_id=None,
        backend_name="",
        stream=False,
        options={},
        request_format=None,
        tools=None,
        messages=[{"role": "user", "content": "hi"}],
        metadata={},
        conversation_id="",
        trace_id="",
        span_id="",
    )
    return AuditRecord.objects.get(id=record_id)


def test_a_finalized_record_is_never_finalized_again(user):
    record = _open(user)
    assert audit_record_finalize(record_id=record.id, status="succeeded", completion="first")
    assert not audit_record_finalize(record_id=record.id, status="failed", completion="second")
    record.refresh_from_db()
    assert (record.status, record.completion) == ("succeeded", "first")


def test_sweeper_marks_only_old_running_records_interrupted(user):
    old = _open(user, started_at=timezone.now() - timedelta(hours=2))
    fresh = _open(user)
    done = _open(user, started_at=timezone.now() - timedelta(hours=2))
    audit_record_finalize(record_id=done.id, status="succeeded")
    assert audit_record_mark_interrupted(older_than=timedelta(hours=1)) == [old.id]
    statuses = {r.id: r.status for r in AuditRecord.objects.all()}
    assert statuses == {old.id: "interrupted", fresh.id: "running", done.id: "succeeded"}


def test_the_beat_task_runs_the_sweeper(user, settings):
    settings.CORRAL_AUDIT_INTERRUPTED_AFTER = 60
    _open(user, started_at=timezone.now() - timedelta(minutes=5))
    assert mark_interrupted.apply().get() == 1


def test_ids_are_time_ordered_uuid7():
    first, second = uuid7(), uuid7()
    assert first.version == 7 and second.version == 7
    assert first.int >> 80 <= second.int >> 80
