"""On PostgreSQL the audit search reads a `tsvector` column kept by a trigger: it follows the text a
record holds when the record is opened, finalized and purged, and the sealer's stamp leaves it be
(it used to be computed again there, for nothing)."""

import pytest
from django.conf import settings as django_settings
from django.db import connection

from accounts.services import user_create
from audit.chain import audit_chain_seal, audit_content_purge
from audit.models import AuditRecord
from audit.selectors import audit_record_search
from audit.services import audit_record_finalize
from tests.support.audit_records import record

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        "postgresql" not in django_settings.DATABASES["default"]["ENGINE"],
        reason="the full-text column is PostgreSQL's (SQLite searches with LIKE)",
    ),
]


def found(term: str) -> bool:
    return audit_record_search(AuditRecord.objects.all(), term).exists()


def search_column(record_id) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT search_vector::text FROM audit_auditrecord WHERE id = %s", [record_id]
        )
        return cursor.fetchone()[0]


def open_record(username: str, content: str):
    """A running record of a new person's call, asking `content`."""
    messages = [{"role": "user", "content": content}]
    return record(user_create(username=username), None, status="running", messages=messages)


def trigger_calls(cursor) -> int:
    cursor.execute("SELECT pg_stat_get_xact_function_calls('corral_audit_search_vector'::regproc)")
    return cursor.fetchone()[0] or 0


def test_the_search_column_follows_the_text_and_not_the_seal():
    record_id = open_record("ann", "zebra")
    assert found("zebra") and not found("giraffe")  # searchable while the call runs

    audit_record_finalize(record_id=record_id, status="failed", completion="a giraffe",
                          error_message="upstream timeout")  # fmt: skip
    assert found("zebra") and found("giraffe") and found("timeout")

    column = search_column(record_id)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL track_functions = 'pl'")  # count the trigger's runs
        before = trigger_calls(cursor)
        audit_record_finalize(record_id=record_id, status="failed")  # final: touches nothing
        assert audit_chain_seal() == 1
        assert trigger_calls(cursor) == before  # the sealer's stamp computed nothing
        open_record("cy", "okapi")
        assert trigger_calls(cursor) == before + 1  # (and the count does count)
    assert search_column(record_id) == column and found("giraffe") and found("okapi")

    assert audit_content_purge(older_than_days=-1) == 1
    assert not found("zebra") and not found("giraffe") and found("ann")


def full_vector(record_id) -> str:
    """The words a computation over all of the record's text finds, without their positions."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT strip(to_tsvector('simple', coalesce(username, '') || ' ' || model || ' ' ||"
            " error_message || ' ' || thinking || ' ' || completion || ' ' || messages::text))::text"
            " FROM audit_auditrecord WHERE id = %s",
            [record_id],
        )
        return cursor.fetchone()[0]


def stripped_column(record_id) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT strip(search_vector)::text FROM audit_auditrecord WHERE id = %s", [record_id]
        )
        return cursor.fetchone()[0]


@pytest.mark.parametrize(
    "outcome",
    [
        {"status": "succeeded", "completion": "the okapi answer", "thinking": "hmm zebra"},
        {"status": "failed", "error_message": "upstream timeout"},
        {"status": "succeeded"},  # nothing said: the prompt's words only
    ],
)
def test_finalizing_adds_the_outcome_to_the_prompts_words(outcome):
    """The finalizing UPDATE keeps the vector made at the INSERT and adds the outcome's words (the
    prompt, a whole conversation, is not parsed twice): the same words as a full computation."""
    history = [{"role": "user", "content": f"turn {i} about the zebra crossing"} for i in range(20)]
    record_id = record(user_create(username="dee"), None, status="running", messages=history)
    audit_record_finalize(record_id=record_id, **outcome)
    assert stripped_column(record_id) == full_vector(record_id)
    assert found("crossing") and (found("okapi") or "completion" not in outcome)
