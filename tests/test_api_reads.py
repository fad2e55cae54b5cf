"""GET /api/v1/models, /api/v1/calls, /api/v1/calls/{id}, the schema and the docs."""

import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from accounts import roles
from accounts.models import Membership
from accounts.services import membership_ensure, team_get_or_create, token_issue, user_create
from gateway.services import route_create
from tests.conftest import MODEL

pytestmark = pytest.mark.django_db

GOOD = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}


def client_for(user, team=None) -> APIClient:
    _, secret = token_issue(user=user, name="t", team=team)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def test_models_lists_enabled_routes(api, route, backend):
    route_create(name="off", backend=backend, upstream_model="off", enabled=False)
    body = api.get("/api/v1/models").json()
    assert [m["name"] for m in body["models"]] == [MODEL]
    assert set(body["models"][0]) == {"name", "default_options", "created_at"}


def test_calls_lists_only_the_callers_own_records(api, route):
    own = api.post("/api/v1/chat", GOOD, format="json").json()["id"]
    bob = client_for(user_create(username="bob"))
    other = bob.post("/api/v1/chat", GOOD, format="json").json()["id"]

    listed = api.get("/api/v1/calls").json()
    assert [c["id"] for c in listed["results"]] == [own]
    assert api.get(f"/api/v1/calls/{own}").json()["completion"] == "You said: hi"
    response = api.get(f"/api/v1/calls/{other}")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert api.get("/api/v1/calls/not-a-uuid").status_code == 404


def test_auditors_read_what_their_role_covers(api, route, team):
    """A team's auditor reads that team's calls, a global auditor everyone's, an operator only
    their own (the access table in docs/security.md has every role)."""
    own = api.post("/api/v1/chat", GOOD, format="json").json()["id"]
    team_auditor = user_create(username="carol")
    membership_ensure(team=team, user=team_auditor, role=Membership.Role.AUDITOR)
    elsewhere = user_create(username="erin")
    membership_ensure(team=team_get_or_create(slug="finance"), user=elsewhere, role="auditor")
    global_auditor = user_create(username="gus")
    global_auditor.groups.add(Group.objects.get(name=roles.GLOBAL_AUDITORS))
    operator = user_create(username="dave", is_staff=True)
    for reader, sees in (
        (client_for(team_auditor), True),
        (client_for(global_auditor), True),
        (client_for(elsewhere), False),
        (client_for(operator), False),
    ):
        listed = [c["id"] for c in reader.get("/api/v1/calls").json()["results"]]
        assert (listed == [own]) is sees and (listed == []) is not sees
        assert reader.get(f"/api/v1/calls/{own}").status_code == (200 if sees else 404)


def test_calls_filter_and_paginate(api, route, ollama):
    for _ in range(3):
        api.post("/api/v1/chat", GOOD, format="json")
    ollama.fail_next(500, "boom")
    api.post("/api/v1/chat", GOOD, format="json")
    failed = api.get("/api/v1/calls", {"status": "failed"}).json()["results"]
    assert len(failed) == 1 and failed[0]["error_code"] == "upstream_error"
    page = api.get("/api/v1/calls", {"page_size": 2}).json()
    assert len(page["results"]) == 2 and page["next"]
    rest = api.get(page["next"]).json()
    assert len(rest["results"]) == 2 and rest["next"] is None


def test_reads_need_a_token(route):
    for path in ("/api/v1/models", "/api/v1/calls"):
        response = APIClient().get(path)
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "unauthenticated"


def test_openapi_schema_and_docs_are_served_locally(client):
    schema = client.get("/api/v1/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {"/api/v1/chat", "/api/v1/models", "/api/v1/calls", "/api/v1/calls/{call_id}"} <= set(
        paths
    )
    # the doors follow Ollama's and OpenAI's own documented formats, not this schema
    assert not any(path.startswith(("/ollama/", "/v1/")) for path in paths)
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger-ui" in html and "cdn" not in html.lower()
