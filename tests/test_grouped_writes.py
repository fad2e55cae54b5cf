"""Calls of one process that open or finalize their audit records at the same moment share one
statement (audit.grouped), and each still gets exactly what it would alone: its row committed
before it goes on, its own error, its own answer to "was it still running?".

Each test holds the first writer inside its statement until the other callers have queued behind
it, so the group is formed by the code under test, not by luck; the callers are threads with
their own connections, as greenlets of a gevent worker are."""

import threading
import time
import uuid

import psycopg
import pytest
from django.db import IntegrityError, OperationalError, connection

from audit import services
from audit.models import AuditRecord
from audit.services import audit_record_finalize
from common.ids import uuid7
from tests.support import audit_records

FIELDS = AuditRecord._meta.concrete_fields

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="the finalizing UPDATE is grouped on PostgreSQL (both are checked there)",
    ),
]


def _open(user, record_id):
    audit_records.record(
        user, None, status="running", record_id=record_id,
        messages=[{"role": "user", "content": f"question {record_id}"}],
    )  # fmt: skip


def _until(condition, what: str, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting for {what}")
        time.sleep(0.005)


class Callers:
    """`work(i)` run by n threads: the first one's first write is held until the others have
    queued in `group` (so they write as one group after it); every statement each thread runs is
    counted, what each raised kept, and `on_group()` run just before a group's statement."""

    def __init__(self, group, n: int, work, on_group=None):
        self.group, self.n, self.work, self.on_group = group, n, work, on_group
        self.statements: list[str] = []
        self.results: dict[int, object] = {}
        self.errors: dict[int, BaseException] = {}
        self.holding = threading.Event()

    def _run(self, index: int) -> None:
        held = [index == 0]

        def wrapper(execute, sql, params, many, context):
            self.statements.append(sql.split(" ", 1)[0])
            if held[0] and sql.startswith(("INSERT", "UPDATE")):
                held[0] = False
                self.holding.set()
                _until(lambda: len(self.group._queue) == self.n - 1, "the others to queue")
            elif self.on_group is not None and len(params) > len(FIELDS):
                self.on_group()
            return execute(sql, params, many, context)

        try:
            with connection.execute_wrapper(wrapper):
                self.results[index] = self.work(index)
        except BaseException as exc:
            self.errors[index] = exc
        finally:
            connection.close()

    def run(self) -> "Callers":
        first = threading.Thread(target=self._run, args=(0,))
        first.start()
        assert self.holding.wait(10)
        others = [threading.Thread(target=self._run, args=(i,)) for i in range(1, self.n)]
        for thread in others:
            thread.start()
        for thread in [first, *others]:
            thread.join(30)
        return self


def test_records_opened_and_finalized_together_share_statements_and_each_gets_its_answer(user):
    ids = [uuid7() for _ in range(12)]
    opened = Callers(services._opening, 12, lambda i: _open(user, ids[i])).run()
    assert opened.errors == {}
    # the first alone (nobody was queued when it began), the eleven queued behind it in one
    assert opened.statements.count("INSERT") == 2
    records = {r.id: r for r in AuditRecord.objects.filter(id__in=ids)}
    assert set(records) == set(ids)
    for record_id in ids:
        record = records[record_id]
        assert record.status == "running"
        assert record.messages == [{"role": "user", "content": f"question {record_id}"}]

    # One of the twelve already final: the group changes the other eleven, and that caller alone
    # hears that its record was not running any more.
    assert audit_record_finalize(record_id=ids[5], status="cancelled")
    columns = (
        "upstream_attempts", "status", "finished_at", "completion", "thinking", "tool_calls",
        "finish_reason", "error_code", "error_message", "prompt_tokens", "completion_tokens",
        "latency_ms", "ttft_ms",
    )  # fmt: skip
    group = services._finalizing[columns]
    finalized = Callers(
        group,
        12,
        lambda i: audit_record_finalize(
            record_id=ids[i],
            status="succeeded",
            completion=f"answer {i}",
            prompt_tokens=i,
            completion_tokens=2 * i,
            latency_ms=100 + i,
            ttft_ms=None if i % 2 else 7,
            tool_calls=[{"function": {"name": "f", "arguments": {"i": i}}}] if i == 3 else None,
        ),
    ).run()
    assert finalized.errors == {}
    assert finalized.statements.count("UPDATE") == 2
    assert finalized.results == {i: i != 5 for i in range(12)}
    records = {r.id: r for r in AuditRecord.objects.filter(id__in=ids)}
    for i, record_id in enumerate(ids):
        record = records[record_id]
        if i == 5:
            assert (record.status, record.completion) == ("cancelled", "")
            continue
        assert (record.status, record.completion) == ("succeeded", f"answer {i}")
        assert (record.prompt_tokens, record.completion_tokens) == (i, 2 * i)
        assert (record.latency_ms, record.ttft_ms) == (100 + i, None if i % 2 else 7)
        assert record.tool_calls == (
            [{"function": {"name": "f", "arguments": {"i": 3}}}] if i == 3 else None
        )
        assert record.finished_at is not None


def test_a_caller_holding_a_pooled_connection_writes_with_it_and_waits_for_nobody(user):
    """A call that read something first (its token, its route) holds a pooled connection. Queued
    behind a writer who waits for a connection, it would hold one of the connections that writer
    waits for: with every connection of the pool so held, the process stalled (seen: a burst of
    two hundred on a one-connection pool, calls answered after the pool's 60 s queue timeout)."""
    ids = [uuid7() for _ in range(2)]
    held, release, done = threading.Event(), threading.Event(), threading.Event()

    def wrapper(execute, sql, params, many, context):
        if sql.startswith("INSERT"):
            held.set()
            assert release.wait(10)
        return execute(sql, params, many, context)

    def writer():
        with connection.execute_wrapper(wrapper):
            _open(user, ids[0])
        connection.close()

    def holder():
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        _open(user, ids[1])
        done.set()
        connection.close()

    first = threading.Thread(target=writer)
    first.start()
    assert held.wait(10)
    second = threading.Thread(target=holder)
    second.start()
    try:
        assert done.wait(10), "queued behind a writer while holding a connection of its own"
        assert AuditRecord.objects.filter(id=ids[1]).exists()
    finally:
        release.set()
        first.join(10)
        second.join(10)
    assert AuditRecord.objects.filter(id__in=ids).count() == 2


def test_a_row_the_database_refuses_fails_only_its_own_call(user):
    ids = [uuid7() for _ in range(4)]
    _open(user, ids[2])  # a second INSERT of this id breaks the key: its caller's fault only
    callers = Callers(services._opening, 4, lambda i: _open(user, ids[i])).run()
    assert list(callers.errors) == [2]
    assert isinstance(callers.errors[2], IntegrityError)
    assert AuditRecord.objects.filter(id__in=ids).count() == 4
    # the lone first, the group of three refused, then each of the three alone
    assert callers.statements.count("INSERT") == 5


def test_with_the_database_gone_every_caller_of_the_group_hears_it_and_none_was_written(user):
    ids = [uuid7() for _ in range(5)]

    def cut_the_writer():
        # the group's writer loses its server process, as in an outage
        pid = connection.connection.info.backend_pid
        with psycopg.connect(**_libpq_params(), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])

    callers = Callers(services._opening, 5, lambda i: _open(user, ids[i]), cut_the_writer).run()
    # the first wrote alone; the four queued behind it hear the outage, and none tried alone
    assert sorted(callers.errors) == [1, 2, 3, 4]
    assert all(isinstance(exc, OperationalError) for exc in callers.errors.values())
    assert callers.statements.count("INSERT") == 2
    assert set(AuditRecord.objects.filter(id__in=ids).values_list("id", flat=True)) == {ids[0]}
    # and the queue is free again: the next call writes
    record_id = uuid7()
    _open(user, record_id)
    assert AuditRecord.objects.filter(id=record_id).exists()


class Killed(BaseException):
    """What a killed greenlet meets (gevent's GreenletExit is a BaseException too)."""


def test_a_writer_killed_in_its_statement_leaves_nobody_waiting(user):
    ids = [uuid7() for _ in range(5)]

    def kill():
        raise Killed

    callers = Callers(services._opening, 5, lambda i: _open(user, ids[i]), kill).run()
    # the group's writer (whichever queued first) is gone; the other three of its group wrote
    # alone, nobody was left waiting
    assert len(callers.errors) == 1
    [(killed, error)] = callers.errors.items()
    assert isinstance(error, Killed)
    written = set(AuditRecord.objects.filter(id__in=ids).values_list("id", flat=True))
    assert written == set(ids) - {ids[killed]}
    assert callers.statements.count("INSERT") == 1 + 1 + 3


def _libpq_params() -> dict:
    database = connection.settings_dict
    return {
        "host": database["HOST"],
        "port": database["PORT"] or 5432,
        "user": database["USER"],
        "dbname": database["NAME"],
        "password": database["PASSWORD"] or None,
    }


def test_ids_match_what_the_database_returns():
    # the finalizer matches its rows by the id it prepared against the ids PostgreSQL returns
    record_id = uuid.uuid4()
    field = AuditRecord._meta.get_field("id")
    assert field.get_db_prep_save(record_id, connection) == record_id
