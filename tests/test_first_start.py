"""A newcomer's first start: the backend made from OLLAMA_HOST follows it, a gateway started before
its Ollama imports the models once one answers and says the real cause until then, and the
commands say what to do next."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from accounts.services import membership_ensure, user_create
from audit.models import AuditRecord
from gateway.admin import BackendAdmin
from gateway.models import Backend, ModelRoute
from gateway.tasks import backends_health_check
from tests.conftest import MODEL

pytestmark = pytest.mark.django_db

NOTHING_THERE = "http://127.0.0.1:9"  # the discard port: connection refused


@pytest.fixture
def first_start(settings):
    """The database as the first migrate leaves it: `default` made from OLLAMA_HOST, no routes."""
    ModelRoute.objects.all().delete()
    Backend.objects.exclude(name="default").delete()
    settings.OLLAMA_HOST = NOTHING_THERE
    default, _ = Backend.objects.update_or_create(
        name="default", defaults={"base_url": NOTHING_THERE, "follows_ollama_host": True}
    )
    return default


def chat(client: Client, token: str):
    return client.post(
        "/api/v1/chat",
        json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "hello"}]}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


def test_the_default_backend_follows_ollama_host(first_start, settings, ollama, token):
    assert Backend.objects.get(name="default").follows_ollama_host
    # started again with OLLAMA_HOST pointing at the Ollama that runs
    settings.OLLAMA_HOST = ollama.url
    assert Backend.objects.get(name="default").base_url == ollama.url
    out = StringIO()
    call_command("sync_models", stdout=out)
    assert f"default at {ollama.url}: 2 added" in out.getvalue()
    response = chat(Client(), token)
    assert response.status_code == 200, response.content
    assert ollama.requests[-1]["path"] == "/api/chat"  # the new URL was the one called
    assert AuditRecord.objects.get(id=response.json()["id"]).backend_name == "default"


def test_a_following_backend_is_not_given_another_url_by_mistake(first_start, admin_user):
    form = BackendAdmin(Backend, None).get_form(None, first_start)(
        instance=first_start,
        data={
            "name": "default",
            "base_url": "http://elsewhere:11434",
            "follows_ollama_host": "on",
            "enabled": "on",
            "connect_timeout": 5,
            "first_token_timeout": 60,
            "idle_timeout": 60,
            "total_timeout": 600,
        },
    )
    assert not form.is_valid()
    assert "follows OLLAMA_HOST" in str(form.errors["base_url"])


def test_the_first_start_migrations_make_default_follow(settings):
    """(The test database is made by the migrations, as a first start is.)"""
    default = Backend.objects.get(name="default")
    assert default.follows_ollama_host and default.base_url == settings.OLLAMA_HOST


def test_with_no_ollama_a_call_says_so_and_names_the_url(first_start, token):
    response = chat(Client(), token)
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "upstream_unavailable"
    assert NOTHING_THERE in error["message"] and "OLLAMA_HOST" in error["message"]
    assert response["Retry-After"]
    record = AuditRecord.objects.get()
    assert record.status == "refused" and record.error_code == "upstream_unavailable"


def test_the_first_call_once_ollama_answers_imports_its_models(
    first_start, settings, ollama, token
):
    assert chat(Client(), token).status_code == 503
    settings.OLLAMA_HOST = ollama.url  # Ollama started (or the stand-in)
    response = chat(Client(), token)
    assert response.status_code == 200, response.content
    assert set(ModelRoute.objects.values_list("name", flat=True)) == set(ollama.models)


def test_the_health_check_imports_the_models_once_ollama_answers(first_start, settings, ollama):
    backends_health_check()
    assert not ModelRoute.objects.exists()
    settings.OLLAMA_HOST = ollama.url
    backends_health_check()
    assert set(ModelRoute.objects.values_list("name", flat=True)) == set(ollama.models)


def test_the_chat_page_says_why_there_are_no_models(first_start, team):
    person = user_create(username="newcomer")
    membership_ensure(team=team, user=person)
    browser = Client()
    browser.force_login(person)
    page = browser.get("/").content.decode()
    assert "No models yet" in page and NOTHING_THERE in page and "OLLAMA_HOST" in page


def test_an_ollama_without_models_says_to_pull_one(first_start, settings, ollama, token):
    ollama.models.clear()
    settings.OLLAMA_HOST = ollama.url
    response = chat(Client(), token)
    assert response.status_code == 404
    assert f"ollama pull {MODEL}" in response.json()["error"]["message"]


def test_issue_token_says_how_its_new_user_signs_in():
    out, err = StringIO(), StringIO()
    call_command("issue_token", "newcomer", "--create-user", stdout=out, stderr=err)
    assert out.getvalue().strip().startswith("crl_")
    assert "manage.py changepassword newcomer" in err.getvalue()
