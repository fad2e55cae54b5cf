"""The caller's own tokens over the API: create (secret once), list (prefix only), use, expire, revoke."""

import logging
from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiToken
from accounts.services import team_get_or_create, token_issue, user_create
from tests.conftest import MODEL

pytestmark = pytest.mark.django_db

GOOD = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}


def bearer(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def test_token_lifecycle(api, route, team):
    created = api.post("/api/v1/tokens", {"name": "ci", "team": "research"}, format="json")
    assert created.status_code == 201
    body = created.json()
    secret = body["token"]
    assert secret.startswith(body["prefix"] + "_") and body["team"] == "research"
    assert body["active"] is True

    listed = api.get("/api/v1/tokens").json()["tokens"]
    assert {t["name"] for t in listed} == {"test", "ci"}
    assert all("token" not in t for t in listed)
    assert secret not in str(listed)
    assert ApiToken.objects.get(name="ci").secret_hash != secret

    new_client = bearer(secret)
    assert new_client.post("/api/v1/chat", GOOD, format="json").status_code == 200
    assert ApiToken.objects.get(name="ci").last_used_at is not None

    assert api.delete(f"/api/v1/tokens/{body['id']}").status_code == 204
    refused = new_client.post("/api/v1/chat", GOOD, format="json")
    assert refused.status_code == 401 and "revoked" in refused.json()["error"]["message"]
    assert api.get("/api/v1/tokens").json()["tokens"][0]["active"] is False


def test_expiring_token(api, route):
    soon = timezone.now() + timedelta(seconds=2)
    secret = api.post(
        "/api/v1/tokens", {"name": "short", "expires_at": soon.isoformat()}, format="json"
    ).json()["token"]
    assert bearer(secret).get("/api/v1/models").status_code == 200
    ApiToken.objects.filter(name="short").update(expires_at=timezone.now() - timedelta(seconds=1))
    response = bearer(secret).get("/api/v1/models")
    assert response.status_code == 401 and "expired" in response.json()["error"]["message"]


def test_a_token_only_for_ones_own_teams(api):
    team_get_or_create(slug="finance")
    response = api.post("/api/v1/tokens", {"name": "x", "team": "finance"}, format="json")
    assert response.status_code == 400
    assert "not a member" in response.json()["error"]["message"]
    bad = api.post("/api/v1/tokens", {"name": 5}, format="json")
    assert bad.status_code == 400 and "name" in bad.json()["error"]["message"]


def test_nobody_revokes_or_lists_someone_elses_tokens(api):
    bob = user_create(username="bob")
    bobs, _ = token_issue(user=bob, name="bob's")
    assert api.delete(f"/api/v1/tokens/{bobs.pk}").status_code == 404
    assert "bob's" not in str(api.get("/api/v1/tokens").json())
    bobs.refresh_from_db()
    assert bobs.revoked_at is None


def test_no_token_secret_in_any_log_line(api, route, ollama, caplog, token):
    caplog.set_level(logging.DEBUG)
    created = api.post("/api/v1/tokens", {"name": "logged"}, format="json").json()["token"]
    wrong = created[:-4] + "abcd"
    for client in (api, bearer(created), bearer(wrong)):
        client.post("/api/v1/chat", GOOD, format="json")
        client.post("/api/v1/chat", {**GOOD, "model": "missing"}, format="json")
        client.get("/api/v1/models")
    ollama.fail_next(500, "boom")
    api.post("/api/v1/chat", GOOD, format="json")
    logged = "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in caplog.records)
    assert caplog.records  # something was logged, so the check means something
    for secret in (token, created, wrong):
        assert secret.split("_", 2)[2] not in logged


def test_checked_tokens_are_kept_for_a_while_and_forgotten_when_revoked(user, team, settings):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.authentication import checked_tokens
    from accounts.services import token_revoke

    settings.CORRAL_TOKEN_CACHE_SECONDS = 60
    checked_tokens.clear()
    token, secret = token_issue(user=user, name="cached", team=team)
    client = bearer(secret)
    assert client.get("/api/v1/models").status_code == 200
    with CaptureQueriesContext(connection) as again:
        assert client.get("/api/v1/models").status_code == 200
    assert not any("accounts_apitoken" in q["sql"] for q in again.captured_queries)

    assert bearer(secret[:-1] + "x").get("/api/v1/models").status_code == 401  # never kept
    token_revoke(token=token)
    assert client.get("/api/v1/models").status_code == 401  # revoked here: forgotten at once
    checked_tokens.clear()
