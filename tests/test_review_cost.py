"""What the review screens cost does not grow with what they show: the audit list reads a page of
records in a fixed number of queries (no query per row), and the usage dashboard reads rollups."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.services import team_get_or_create, user_create
from audit.admin_filters import CappedCountPaginator
from audit.chain import audit_chain_seal
from tests.support.audit_records import record

pytestmark = pytest.mark.django_db


def queries(client, url: str, query: dict) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url, query).status_code == 200
    return [q["sql"] for q in captured.captured_queries]


@pytest.mark.parametrize("query", [{}, {"status__exact": "failed"}, {"q": "hello"}])
def test_the_audit_list_costs_the_same_for_three_records_or_fifty(admin_client, query):
    person, team = user_create(username="ann"), team_get_or_create(slug="red")
    url = "/admin/audit/auditrecord/"
    counts = []
    for count in (3, 47):
        for _ in range(count):
            record(person, team, status="failed")
        counts.append(len(queries(admin_client, url, query)))
    assert counts[0] == counts[1], counts
    listed = queries(admin_client, url, query)
    # the list shows the team's slug it keeps: it never joins or loads users and teams per row
    assert not any('FROM "accounts_team"' in sql and "LIMIT 21" in sql for sql in listed)
    assert not any('INNER JOIN "auth_user"' in sql for sql in listed)


def test_the_dashboard_costs_the_same_for_any_number_of_sealed_records(admin_client):
    person, team = user_create(username="ann"), team_get_or_create(slug="red")
    counts = []
    for count in (3, 60):
        for _ in range(count):
            record(person, team)
        audit_chain_seal()
        url = "/admin/audit/auditrecord/dashboard/"
        listed = queries(admin_client, url, {"days": "7"})
        assert not any(
            'FROM "audit_auditrecord"' in sql and "chain_seq" not in sql for sql in listed
        )
        counts.append(len(listed))
    assert counts[0] == counts[1], counts


@pytest.mark.parametrize("query", [{}, {"q": "hello"}])
def test_a_count_past_the_cap_is_shown_as_a_floor_not_as_the_cap_plus_one(
    admin_client, monkeypatch, query
):
    monkeypatch.setattr(CappedCountPaginator, "CAP", 4)
    person, team = user_create(username="ann"), team_get_or_create(slug="red")
    said = [{"role": "user", "content": "hello there"}]
    for _ in range(4):
        record(person, team, messages=said)
    page = admin_client.get("/admin/audit/auditrecord/", query).content.decode()
    assert "more than" not in page
    assert "4 audit records" in page
    record(person, team, messages=said)
    page = admin_client.get("/admin/audit/auditrecord/", query).content.decode()
    assert "more than 4 audit records" in page
    assert "5 audit records" not in page
    if query:
        assert "more than 4 results" in page
        assert "5 results" not in page
