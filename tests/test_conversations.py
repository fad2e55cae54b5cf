"""The web chat's server side: conversations kept per person, turns recorded through the native
API with the session (CSRF enforced), the `web` door, and answers rendered as inert Markdown."""

import json

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client

from accounts.services import membership_ensure
from audit.models import AuditRecord
from gateway.conversations.markdown import render_markdown
from gateway.models import ChatMessage, Conversation
from gateway.services import route_create
from tests.conftest import MODEL

pytestmark = pytest.mark.django_db

PASSWORD = "a long passphrase 42"


@pytest.fixture
def person(team):
    user = get_user_model().objects.create_user("pat", password=PASSWORD)
    membership_ensure(team=team, user=user)
    return user


@pytest.fixture
def web(person, redis_client):
    client = Client(enforce_csrf_checks=True)
    client.force_login(person)
    client.get("/")  # sets the CSRF cookie
    return client


def csrf(client: Client) -> str:
    return client.cookies["csrftoken"].value


def new_conversation(client: Client, **fields) -> str:
    response = client.post("/c/new", {"model": MODEL, **fields}, HTTP_X_CSRFTOKEN=csrf(client))
    assert response.status_code == 201, response.content
    return response.json()["id"]


def chat(client: Client, conversation_id: str, messages: list[dict], **extra):
    body = {"model": MODEL, "messages": messages, "conversation_id": conversation_id, **extra}
    return client.post(
        "/api/v1/chat",
        json.dumps(body),
        content_type="application/json",
        HTTP_X_CSRFTOKEN=csrf(client),
    )


def thread(client: Client, conversation_id: str) -> dict:
    return client.get(f"/c/{conversation_id}/thread").json()


def test_session_calls_need_the_csrf_token(web, route):
    conversation = new_conversation(web)
    response = web.post(
        "/api/v1/chat",
        json.dumps({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}),
        content_type="application/json",
    )
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "forbidden"
    assert "CSRF" in response.json()["error"]["message"]
    assert not AuditRecord.objects.exists()
    assert chat(web, conversation, [{"role": "user", "content": "hi"}]).status_code == 200


def test_a_turn_is_kept_in_the_conversation_and_audited_as_web(web, route, team):
    conversation = new_conversation(web, system_prompt="Be brief.", temperature="0.3")
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Why is the sky blue?"},
    ]
    body = chat(web, conversation, messages, options={"temperature": 0.3}).json()
    record = AuditRecord.objects.get(id=body["id"])
    assert record.surface == "web" and record.username == "pat" and record.team_slug == team.slug
    assert record.token_prefix == "" and record.conversation_id == conversation
    assert record.options["temperature"] == 0.3
    stored = Conversation.objects.get(id=conversation)
    assert stored.title == "Why is the sky blue?" and stored.model == MODEL
    turns = list(stored.messages.values_list("role", "content", "status", "audit_record_id"))
    assert turns == [
        ("user", "Why is the sky blue?", "complete", None),
        ("assistant", "You said: Why is the sky blue?", "complete", record.id),
    ]
    data = thread(web, conversation)
    assert data["history"] == [
        {"role": "user", "content": "Why is the sky blue?"},
        {"role": "assistant", "content": "You said: Why is the sky blue?"},
    ]
    assert data["streaming"] is False and data["system_prompt"] == "Be brief."
    assert f"/records/{record.id}/" in data["html"]


def test_regenerate_replaces_the_last_answer(web, route, ollama):
    conversation = new_conversation(web)
    question = [{"role": "user", "content": "name a colour"}]
    chat(web, conversation, question)
    ollama.reply = "green"
    second = chat(web, conversation, question).json()
    answers = ChatMessage.objects.filter(conversation_id=conversation, role="assistant")
    assert [(a.content, str(a.audit_record_id)) for a in answers] == [("green", second["id"])]
    assert ChatMessage.objects.filter(conversation_id=conversation, role="user").count() == 1
    assert AuditRecord.objects.filter(conversation_id=conversation).count() == 2


def test_messages_must_continue_the_stored_conversation(web, route):
    conversation = new_conversation(web)
    chat(web, conversation, [{"role": "user", "content": "one"}])
    forged = [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "something I never said"},
        {"role": "user", "content": "two"},
    ]
    response = chat(web, conversation, forged)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert "reload" in response.json()["error"]["message"]
    assert ChatMessage.objects.filter(conversation_id=conversation).count() == 2


def test_another_persons_conversation_is_not_found(web, route, user):
    theirs = Conversation.objects.create(user=user, title="private")
    response = chat(web, str(theirs.id), [{"role": "user", "content": "peek"}])
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    assert web.get(f"/c/{theirs.id}/").status_code == 404
    assert web.get(f"/c/{theirs.id}/thread").status_code == 404
    assert web.post(f"/c/{theirs.id}/delete", HTTP_X_CSRFTOKEN=csrf(web)).status_code == 404
    assert Conversation.objects.filter(id=theirs.id).exists()


def test_a_failed_answer_is_kept_with_its_reason_and_left_out_of_the_history(web, route, ollama):
    conversation = new_conversation(web)
    ollama.fail_next(500, "model crashed")
    response = chat(web, conversation, [{"role": "user", "content": "try"}])
    assert response.status_code == 502
    answer = ChatMessage.objects.get(conversation_id=conversation, role="assistant")
    assert answer.status == "failed" and answer.error_code == "upstream_error"
    data = thread(web, conversation)
    assert data["history"] == [{"role": "user", "content": "try"}]
    assert "The model server failed while answering." in data["html"]
    # Answering the same question again is a regenerate: the failed answer is replaced.
    assert chat(web, conversation, [{"role": "user", "content": "try"}]).status_code == 200
    answers = ChatMessage.objects.filter(conversation_id=conversation, role="assistant")
    assert [a.status for a in answers] == ["complete"]


def test_a_refused_call_leaves_the_conversation_untouched(web, route, person):
    from accounts.models import UserLimits

    UserLimits.objects.create(user=person, requests_per_minute=1)
    conversation = new_conversation(web)
    assert chat(web, conversation, [{"role": "user", "content": "first"}]).status_code == 200
    history = [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "You said: first"},
        {"role": "user", "content": "second"},
    ]
    response = chat(web, conversation, history)
    assert response.status_code == 429 and response.json()["error"]["code"] == "rate_limited"
    assert ChatMessage.objects.filter(conversation_id=conversation).count() == 2


def test_rename_settings_search_and_delete(web, route):
    conversation = new_conversation(web)
    chat(web, conversation, [{"role": "user", "content": "about invoices"}])
    other = new_conversation(web)
    token = csrf(web)
    assert web.post(f"/c/{other}/rename", {"title": "Holiday plans"}, HTTP_X_CSRFTOKEN=token)
    response = web.post(
        f"/c/{other}/settings",
        {"system_prompt": "Answer in French.", "temperature": "1.5"},
        HTTP_X_CSRFTOKEN=token,
        HTTP_ACCEPT="application/json",
    )
    assert response.json() == {"saved": True}
    bad = web.post(
        f"/c/{other}/settings",
        {"temperature": "9"},
        HTTP_X_CSRFTOKEN=token,
        HTTP_ACCEPT="application/json",
    )
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_request"
    stored = Conversation.objects.get(id=other)
    assert (stored.title, stored.system_prompt, stored.temperature) == (
        "Holiday plans",
        "Answer in French.",
        1.5,
    )
    groups = web.get("/", {"q": "holiday"}).context["conversation_groups"]
    listed = [c.title for _, items in groups for c in items]
    assert listed == ["Holiday plans"]
    web.post(f"/c/{conversation}/delete", HTTP_X_CSRFTOKEN=token)
    assert not Conversation.objects.filter(id=conversation).exists()
    assert not ChatMessage.objects.filter(conversation_id=conversation).exists()
    assert AuditRecord.objects.filter(conversation_id=conversation).count() == 1


def test_the_model_picker_offers_only_what_the_teams_may_use(web, route, team, backend):

    route_create(name="qwen3", backend=backend, upstream_model="qwen3:0.6b")
    team.all_models = False
    team.save()
    route.teams.add(team)
    assert web.get("/").context["models"] == [MODEL]
    response = chat(web, new_conversation(web), [{"role": "user", "content": "x"}], model="qwen3")
    assert response.status_code == 403 and response.json()["error"]["code"] == "model_forbidden"


def test_token_callers_keep_a_free_form_conversation_id(api, route):
    response = api.post(
        "/api/v1/chat",
        {"model": MODEL, "messages": [{"role": "user", "content": "x"}], "conversation_id": "t-1"},
        format="json",
    )
    assert response.status_code == 200
    assert AuditRecord.objects.get(id=response.json()["id"]).surface == "api"
    assert not Conversation.objects.exists()


@pytest.mark.parametrize(
    ("markdown", "present", "absent"),
    [
        ("<script>alert(1)</script>", "&lt;script&gt;", "<script"),
        ("[x](javascript:alert(1))", "[x](javascript:alert(1))", 'href="javascript'),
        ('<img src=x onerror="alert(1)">', "&lt;img", "<img"),
        ('<a href="javascript:alert(1)">a</a>', "&lt;a href", "<a "),
        ("[ok](https://example.com)", 'rel="noopener noreferrer nofollow"', "javascript"),
        ("```python\nprint('<b>')\n```", '<span class="nb">print</span>', "<b>"),
        ("| a |\n|---|\n| 1 |", "<table>", "<script"),
    ],
)
def test_markdown_is_rendered_inert(markdown, present, absent):
    html = render_markdown(markdown)
    assert present in html and absent not in html


def test_the_chat_page_opens_when_the_model_server_does_not_answer(web, route, backend):
    backend.base_url = "http://127.0.0.1:9"  # nothing listens there
    backend.save()
    cache.clear()
    page = web.get("/")
    assert page.status_code == 200
    assert page.context["model_cards"][MODEL] == {"name": MODEL, "known": False}
