"""The audit trail cannot be changed without it showing: no write path, a database guard on
PostgreSQL, a hash chain that audit_verify walks, retention that keeps the chain verifiable, signed
checkpoints kept outside the table."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.utils import timezone

from accounts.services import membership_ensure, team_get_or_create, user_create
from audit.chain import audit_chain_seal, audit_chain_verify, audit_content_purge
from audit.models import AdminAction, AuditRecord, ChainVerification, ImmutableRecordError
from tests.support.audit_records import make_calls

pytestmark = pytest.mark.django_db

on_postgres = pytest.mark.skipif("connection.vendor != 'postgresql'")


@pytest.fixture(autouse=True)
def _no_checkpoint_left_in_redis(redis_client):
    """Redis keeps the newest signed checkpoint; another test's must not anchor this one's chain."""
    yield


def verify() -> str:
    out = StringIO()
    call_command("audit_verify", stdout=out)
    return out.getvalue()


def test_sealed_chain_verifies(api, route):
    make_calls(api, 5)
    assert audit_chain_seal() == 5
    assert list(AuditRecord.objects.order_by("chain_seq").values_list("chain_seq", flat=True)) == [
        1,
        2,
        3,
        4,
        5,
    ]
    assert verify().startswith("OK: 5 sealed records verified")
    make_calls(api, 2)
    assert audit_chain_seal() == 2 and audit_chain_verify().checked == 7


def test_no_write_path_in_the_orm(api, route):
    record = AuditRecord.objects.get(id=make_calls(api, 1)[0])
    record.completion = "tampered"
    with pytest.raises(ImmutableRecordError):
        record.save()
    with pytest.raises(ImmutableRecordError):
        record.delete()
    with pytest.raises(ImmutableRecordError):
        AuditRecord.objects.all().delete()
    with pytest.raises(ImmutableRecordError):
        AdminAction.objects.all().delete()


def _tamper(record_id: str, **changes) -> None:
    """A change made behind Corral's back (on PostgreSQL with the guard switched off, as a DBA could)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")  # triggers off; superuser only
        AuditRecord.objects.filter(id=record_id).update(**changes)
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = origin")
    else:
        AuditRecord.objects.filter(id=record_id).update(**changes)


@pytest.mark.parametrize(
    "changes",
    [
        {"completion": "I never said that"},
        {"prompt_tokens": 1},
        {"username": "mallory"},
        {"status": "failed"},
    ],
)
def test_tampering_is_caught_at_the_changed_record(api, route, changes):
    ids = make_calls(api, 4)
    audit_chain_seal()
    target = AuditRecord.objects.get(chain_seq=3)
    _tamper(str(target.id), **changes)
    report = audit_chain_verify()
    assert not report.ok and report.first_bad_id == str(target.id) and report.first_bad_seq == 3
    assert report.checked == 2
    with pytest.raises(CommandError, match=f"MISMATCH at record {target.id}"):
        verify()
    assert len(ids) == 4


def test_a_removed_record_breaks_the_sequence(api, route):
    make_calls(api, 3)
    audit_chain_seal()
    second = AuditRecord.objects.get(chain_seq=2)
    _tamper(str(second.id), chain_seq=99)
    report = audit_chain_verify()
    assert not report.ok and "sequence gap" in report.reason


def test_retention_blanks_content_and_the_chain_still_verifies(api, route):
    old, new = make_calls(api, 2, "a secret prompt")
    _tamper(old, started_at=timezone.now() - timedelta(days=40))  # an old record, before sealing
    audit_chain_seal()
    assert audit_content_purge(older_than_days=30) == 1
    purged = AuditRecord.objects.get(id=old)
    assert purged.messages == [] and purged.completion == "" and purged.content_purged_at
    assert purged.prompt_tokens > 0 and purged.content_hash
    assert AuditRecord.objects.get(id=new).completion == "You said: a secret prompt 1"
    assert audit_chain_verify().ok
    assert audit_content_purge(older_than_days=30) == 0


@on_postgres
def test_the_database_refuses_changes_to_final_records(api, route):
    record_id = make_calls(api, 1)[0]
    for statement in (
        "UPDATE audit_auditrecord SET completion = 'tampered' WHERE id = %s",
        "UPDATE audit_auditrecord SET status = 'failed' WHERE id = %s",
        "DELETE FROM audit_auditrecord WHERE id = %s",
    ):
        with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(statement, [record_id])
    audit_chain_seal()  # sealing is the one change allowed, once
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_auditrecord SET chain_hash = 'x' WHERE id = %s", [record_id])
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE audit_adminaction SET action = 'x'")
    assert AuditRecord.objects.get(id=record_id).completion == "You said: hello 0"


def _raw(statement: str, params=()) -> None:
    """SQL run behind Corral's back, with the database's guards off as a DBA could."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = replica")  # triggers off; superuser only
        cursor.execute(statement, params)
        if connection.vendor == "postgresql":
            cursor.execute("SET session_replication_role = origin")


def test_a_deleted_tail_is_caught_by_the_signed_checkpoint(api, route, redis_client):
    """Attack 9: deleting the newest sealed records still verified OK."""
    make_calls(api, 5)
    audit_chain_seal()
    assert verify().startswith("OK: 5 sealed records verified, anchored by a signed checkpoint")
    _raw("DELETE FROM audit_auditrecord WHERE chain_seq > 3")
    report = audit_chain_verify()
    assert not report.ok and "missing from the end" in report.reason
    assert "says 5 records were sealed, the chain has 3" in report.reason
    with pytest.raises(CommandError, match="missing from the end"):
        verify()


def test_a_wiped_table_is_caught_from_outside_the_database(
    api, route, redis_client, caplog, django_capture_on_commit_callbacks
):
    """Attack 9: deleting every record (and every checkpoint) still verified OK."""
    make_calls(api, 3)
    with (
        caplog.at_level("INFO", logger="corral.audit.checkpoint"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        audit_chain_seal()
    logged = next(
        r.getMessage() for r in caplog.records if "audit checkpoint seal" in r.getMessage()
    )
    line = logged.split("audit checkpoint seal ", 1)[1]
    _raw("DELETE FROM audit_auditrecord")
    _raw("DELETE FROM audit_auditcheckpoint")
    report = audit_chain_verify()  # Redis still holds the newest checkpoint
    assert not report.ok and "from Redis" in report.reason and "the chain has 0" in report.reason
    redis_client.flushdb()
    assert audit_chain_verify().ok  # nothing left inside: only the line kept elsewhere tells
    with pytest.raises(CommandError, match="3 records were sealed, the chain has 0"):
        call_command("audit_verify", "--checkpoint", line, stdout=StringIO())


def test_a_forged_checkpoint_does_not_verify(api, route, redis_client, settings):
    make_calls(api, 2)
    audit_chain_seal()
    settings.CORRAL_AUDIT_SIGNING_KEY = "someone-elses-key"
    report = audit_chain_verify()
    assert not report.ok and "does not verify" in report.reason


def test_content_rewritten_under_a_purge_mark_is_caught(api, route):
    """Attack 9: rewriting a record's content and setting content_purged_at verified OK."""
    ids = make_calls(api, 3, "what was really said")
    audit_chain_seal()
    _raw(
        "UPDATE audit_auditrecord SET completion = %s, content_purged_at = %s WHERE id = %s",
        ["something else entirely", timezone.now(), ids[1].replace("-", "")]
        if connection.vendor == "sqlite"
        else ["something else entirely", timezone.now(), ids[1]],
    )
    report = audit_chain_verify()
    assert not report.ok and report.first_bad_id == ids[1]
    assert "changed after its purge" in report.reason


def test_blanking_outside_the_retention_job_is_caught(api, route):
    ids = make_calls(api, 2, "evidence")
    audit_chain_seal()
    # the blank values the purge writes, written by hand
    _raw(
        "UPDATE audit_auditrecord SET messages = '[]', completion = '', metadata = '{}', "
        "content_purged_at = %s WHERE id = %s",
        [timezone.now(), ids[0].replace("-", "") if connection.vendor == "sqlite" else ids[0]],
    )
    report = audit_chain_verify()
    assert not report.ok and "no signed purge covers this record" in report.reason


@on_postgres
def test_the_database_lets_the_purge_only_blank(api, route):
    record_id = make_calls(api, 1)[0]
    audit_chain_seal()
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE audit_auditrecord SET completion = 'rewritten', content_purged_at = now() "
            "WHERE id = %s",
            [record_id],
        )
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditcheckpoint")
    assert AuditRecord.objects.get(id=record_id).completion == "You said: hello 0"


def test_checkpoints_reach_the_trace(api, route, spans, django_capture_on_commit_callbacks):
    make_calls(api, 1)
    with django_capture_on_commit_callbacks(execute=True):
        audit_chain_seal()
    seq = AuditRecord.objects.get().chain_seq
    found = spans.find(
        lambda s: any(
            e["name"] == "corral.audit.checkpoint"
            and e["attributes"].get("corral.audit.chain_seq") == seq
            for e in s.events
        )
    )
    assert found


def test_verify_now_runs_in_celery_and_shows_a_badge(
    admin_client, client, api, route, eager_celery, django_capture_on_commit_callbacks
):
    ids = make_calls(api, 3)
    audit_chain_seal()
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post("/admin/audit/auditrecord/verify/")
    assert response.status_code == 302
    page = admin_client.get("/admin/audit/auditrecord/").content.decode()
    assert "Chain verified" in page and "3 records" in page and "Verify now" in page
    done = ChainVerification.objects.get()
    assert done.state == "done" and done.ok and done.requested_by == "root"

    _tamper(ids[1], completion="I never said that")
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post("/admin/audit/auditrecord/verify/")
    page = admin_client.get("/admin/audit/auditrecord/").content.decode()
    assert "Chain MISMATCH" in page and ids[1] in page

    # a team auditor reads the list but may not start a verification
    auditor = user_create(username="ted")
    membership_ensure(team=team_get_or_create(slug="research"), user=auditor, role="auditor")
    client.force_login(auditor)
    assert "Verify now" not in client.get("/admin/audit/auditrecord/").content.decode()
    assert client.post("/admin/audit/auditrecord/verify/").status_code == 403
