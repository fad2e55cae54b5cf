"""Health endpoints and the operators' management commands."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from accounts.models import ApiToken, Membership
from accounts.tokens import digest
from gateway.models import Backend, ModelRoute

pytestmark = pytest.mark.django_db


def test_first_start_creates_the_default_backend_from_ollama_host(settings):
    backend = Backend.objects.get()
    assert backend.name == "default"
    assert backend.base_url == settings.OLLAMA_HOST


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_checks_database_redis_and_backends(admin_client, backend, redis_client):
    body = admin_client.get("/readyz").json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] and body["redis"]["ok"]
    assert body["backends"]["default"]["ok"] and body["backends"]["default"]["version"]
    assert "otlp" in body


def test_readyz_reports_a_dead_backend_as_degraded(admin_client, backend):
    Backend.objects.create(name="gpu-2", base_url="http://127.0.0.1:9")
    response = admin_client.get("/readyz")
    body = response.json()
    assert response.status_code == 200 and body["status"] == "degraded"
    assert body["backends"]["gpu-2"]["ok"] is False


def test_readyz_tells_strangers_only_whether_it_is_ready(client, api, backend, redis_client):
    """Point 12: without staff rights /readyz listed every backend and model."""
    for anonymous_or_member in (client, api):
        response = anonymous_or_member.get("/readyz")
        assert response.status_code == 200 and response.json() == {"status": "ok"}
    Backend.objects.create(name="gpu-2", base_url="http://127.0.0.1:9")
    assert client.get("/readyz").json() == {"status": "degraded"}


def test_readyz_is_503_when_redis_is_down(admin_client, backend, settings):
    from common import redis as corral_redis

    corral_redis.get_redis.cache_clear()
    settings.REDIS_URL = "redis://127.0.0.1:9/0"
    try:
        response = admin_client.get("/readyz")
    finally:
        corral_redis.get_redis.cache_clear()
    assert response.status_code == 503
    assert response.json()["redis"]["ok"] is False


def test_issue_token_prints_only_the_token():
    out = StringIO()
    call_command(
        "issue_token",
        "erin",
        "--create-user",
        "--team",
        "ml",
        "--staff",
        "--name",
        "ci",
        stdout=out,
    )
    secret = out.getvalue().strip()
    assert "\n" not in secret and secret.startswith("crl_")
    token = ApiToken.objects.get()
    assert token.secret_hash == digest(secret) and secret not in token.secret_hash
    assert (token.name, token.team.slug, token.user.username) == ("ci", "ml", "erin")
    assert token.user.is_staff
    assert Membership.objects.filter(user=token.user, team__slug="ml").exists()


def test_issue_token_needs_create_user_for_a_new_user():
    with pytest.raises(CommandError, match="--create-user"):
        call_command("issue_token", "nobody", stdout=StringIO())
    assert not get_user_model().objects.exists()


def test_sync_models_imports_tags_as_routes(backend, ollama):
    out = StringIO()
    call_command("sync_models", "--backend", "default", stdout=out)
    assert set(ModelRoute.objects.values_list("name", flat=True)) == set(ollama.models)
    for route in ModelRoute.objects.all():
        assert route.enabled
        assert [(t.backend, t.upstream_model) for t in route.targets.all()] == [
            (backend, route.name)
        ]
    call_command("sync_models", stdout=out)  # a second run adds nothing
    assert ModelRoute.objects.count() == len(ollama.models)
    assert "0 added, 0 joined, 2 already present" in out.getvalue()


def test_sync_models_reports_an_unreachable_backend(backend):
    backend.base_url = "http://127.0.0.1:9"
    backend.save()
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("sync_models", stderr=err, stdout=StringIO())
    assert "cannot connect" in err.getvalue()
