"""The audit trail's write paths: open, finalize exactly once, sweep rows a crash left running."""

from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, connection
from django.utils import timezone

from audit.models import AdminAction, AuditRecord
from audit.services import (
    audit_record_finalize,
    audit_record_mark_interrupted,
    audit_record_open,
)
from audit.statements import insert_row
from common.ids import uuid7
from gateway.tasks import mark_interrupted

pytestmark = pytest.mark.django_db


def _open(user, *, started_at=None, record_id=None) -> AuditRecord:
    record_id = record_id or uuid7()
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


def _fields(record: AuditRecord) -> dict:
    return {
        field.attname: getattr(record, field.attname)
        for field in AuditRecord._meta.concrete_fields
        if field.attname != "id"
    }


def test_the_services_write_what_the_orm_would_have(user, team, backend):
    """The two writes are statements built from the model (audit.statements): every field, its
    default where not given, and each value prepared for the database as the ORM prepares it."""
    started = timezone.now()
    asked = {
        "started_at": started, "token_prefix": "crl_abcdefgh", "client_ip": "2001:db8::1",
        "user_agent": "ollama-python/0.6.3", "surface": "ollama", "operation": "chat",
        "model": "llama3.2", "upstream_model": "llama3.2:latest", "backend_id": backend.pk,
        "backend_name": backend.name, "stream": True,
        "options": {"temperature": 0.2, "stop": ["\n\n", "ünd"]}, "think": "high",
        "keep_alive": "5m", "tool_choice": {"type": "function", "function": {"name": "f"}},
        "request_format": {"type": "object", "properties": {}},
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
        "messages": [{"role": "user", "content": "héllo \u2603 'quoted' \"twice\""}],
        "metadata": {"job": "nightly"}, "conversation_id": "c-1",
        "trace_id": "0af7651916cd43dd8448eb211c80319c", "span_id": "b7ad6b7169203331",
    }  # fmt: skip
    outcome = {
        "status": "succeeded", "completion": "an answer", "thinking": "hm",
        "tool_calls": [{"function": {"name": "f", "arguments": {"x": 1}}}], "finish_reason": "stop",
        "prompt_tokens": 12, "completion_tokens": 34, "latency_ms": 567, "ttft_ms": 89,
        "upstream_attempts": [{"backend": backend.name, "outcome": "served"}],
        "finished_at": started + timedelta(seconds=1),
    }  # fmt: skip
    written = uuid7()
    audit_record_open(record_id=written, user=user, team=team, **asked)
    assert audit_record_finalize(
        record_id=written, backend_id=backend.pk, backend_name=backend.name,
        upstream_model="llama3.2:latest", **outcome,
    )  # fmt: skip
    by_orm = AuditRecord.objects.create(
        **{**asked, "user": user, "team": team}, username=user.username, team_slug=team.slug
    )
    AuditRecord.objects.filter(pk=by_orm.pk).update(**outcome)
    assert _fields(AuditRecord.objects.get(id=written)) == _fields(
        AuditRecord.objects.get(pk=by_orm.pk)
    )


needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="statements are sent as written on PostgreSQL"
)


@needs_postgresql
def test_on_postgresql_the_writes_are_sent_as_written(user):
    """Not parsed and quoted by psycopg on every call (its client-side binding, which caches its
    parse only for statements of at most 50 parameters): sent with `$n` placeholders, their
    values beside them."""
    sent = []

    def keep(execute, sql, params, many, context):
        sent.append((sql, params))
        return execute(sql, params, many, context)

    with connection.execute_wrapper(keep):
        record = _open(user)
        assert audit_record_finalize(record_id=record.id, status="succeeded", completion="ok")
    writes = [(sql, params) for sql, params in sent if sql.startswith(("INSERT", "UPDATE"))]
    assert [sql.split(" ", 1)[0] for sql, _ in writes] == ["INSERT", "UPDATE"]
    for sql, params in writes:
        assert "%s" not in sql and f"${len(params)}" in sql and f"${len(params) + 1}" not in sql
    record.refresh_from_db()
    assert (record.status, record.completion) == ("succeeded", "ok")


@needs_postgresql
def test_statements_a_connection_runs_often_are_prepared_and_the_orms_are_not(user, team):
    """PostgreSQL then parses and plans each of the two writes once per connection, not once per
    call (DATABASE_PREPARE_THRESHOLD); the ORM's queries, bound on the client, stay unprepared."""
    for _ in range(6):
        record = _open(user)
        audit_record_finalize(record_id=record.id, status="succeeded", completion="ok")
        list(AuditRecord.objects.filter(team=team))
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = sorted(statement.split(" ", 1)[0] for (statement,) in cursor.fetchall())
    assert prepared == ["INSERT", "UPDATE"]
    assert AuditRecord.objects.filter(status="succeeded", completion="ok").count() == 6


@needs_postgresql
def test_a_statement_postgresql_refuses_is_djangos_error(user):
    """What the grouped writer tells apart (a row refused, the database away) comes as Django's
    errors from the statements sent as written too."""
    record = _open(user)
    with pytest.raises(IntegrityError):
        _open(user, record_id=record.id)


def test_a_model_whose_save_makes_a_value_is_not_written_by_a_statement(db):
    with pytest.raises(ImproperlyConfigured, match=r"AdminAction\.at"):
        insert_row(AdminAction, {"action": "export"})


def test_a_value_for_no_field_is_refused_not_dropped(db, user):
    with pytest.raises(TypeError, match="prompt_tokenz"):
        insert_row(AuditRecord, {"id": uuid7(), "user_id": user.pk, "prompt_tokenz": 3})
