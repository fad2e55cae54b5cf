"""The web chat's server side: conversations kept per person, turns recorded through the native
API with the session (CSRF enforced), the `web` door, and answers rendered as inert Markdown."""

import base64
import hashlib
import json
import re

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
from tests.support.pictures import PNG

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


def versions_shown(client: Client, conversation_id: str) -> list[tuple[str, str]]:
    """The thread as the page shows it: each message's text and its version count ("n/m") when it has any."""
    html = thread(client, conversation_id)["html"]
    shown = []
    for article in re.findall(r"<article.*?</article>", html, re.S):
        text = re.search(r'<div class="msg-body[^"]*">(.*?)</div>', article, re.S).group(1)
        count = re.search(r'class="version-count">([^<]*)<', article)
        shown.append((re.sub(r"<[^>]+>", "", text).strip(), count.group(1) if count else ""))
    return shown


def show_version(client: Client, conversation_id: str, message_id) -> dict:
    response = client.post(
        f"/c/{conversation_id}/version", {"message": message_id}, HTTP_X_CSRFTOKEN=csrf(client)
    )
    assert response.status_code == 200, response.content
    return response.json()


def test_regenerate_keeps_the_earlier_answer_as_a_version(web, route, ollama):
    conversation = new_conversation(web)
    question = [{"role": "user", "content": "name a colour"}]
    first = chat(web, conversation, question).json()
    ollama.reply = "green"
    second = chat(web, conversation, question).json()
    assert versions_shown(web, conversation) == [("name a colour", ""), ("green", "2/2")]
    assert thread(web, conversation)["history"][-1] == {"role": "assistant", "content": "green"}
    assert ChatMessage.objects.filter(conversation_id=conversation, role="user").count() == 1
    assert AuditRecord.objects.filter(conversation_id=conversation).count() == 2

    earlier = ChatMessage.objects.get(audit_record_id=first["id"])
    data = show_version(web, conversation, earlier.id)
    assert data["history"][-1]["content"] == "You said: name a colour"
    assert versions_shown(web, conversation)[-1] == ("You said: name a colour", "1/2")
    # the next question follows the version shown
    chat(web, conversation, [*data["history"], {"role": "user", "content": "why?"}])
    later = ChatMessage.objects.get(conversation_id=conversation, content="why?")
    assert later.parent_id == earlier.id
    assert str(ChatMessage.objects.get(parent=later).audit_record_id) != second["id"]


def test_editing_a_question_starts_a_branch_and_keeps_the_old_one(web, route, ollama):
    conversation = new_conversation(web)
    chat(web, conversation, [{"role": "user", "content": "one"}])
    history = thread(web, conversation)["history"]
    chat(web, conversation, [*history, {"role": "user", "content": "two"}])
    history = thread(web, conversation)["history"]
    assert [turn["content"] for turn in history] == ["one", "You said: one", "two", "You said: two"]

    # the first question, changed: the model is sent only what comes before it
    edited = chat(web, conversation, [{"role": "user", "content": "uno"}]).json()
    assert ollama.requests[-1]["body"]["messages"] == [{"role": "user", "content": "uno"}]
    assert versions_shown(web, conversation) == [("uno", "2/2"), ("You said: uno", "")]
    record = AuditRecord.objects.get(id=edited["id"])
    assert record.messages == [{"role": "user", "content": "uno"}]

    # back to the first version: its whole branch, down to its last answer
    original = ChatMessage.objects.get(conversation_id=conversation, content="one")
    data = show_version(web, conversation, original.id)
    assert data["history"] == history
    assert versions_shown(web, conversation)[0] == ("one", "1/2")

    # editing the second question of that branch keeps the first turn
    chat(web, conversation, [*history[:2], {"role": "user", "content": "dos"}])
    assert versions_shown(web, conversation) == [
        ("one", "1/2"),
        ("You said: one", ""),
        ("dos", "2/2"),
        ("You said: dos", ""),
    ]
    assert Conversation.objects.get(id=conversation).title == "one"


def test_a_version_of_another_conversation_is_not_found(web, route, person):
    mine, other = new_conversation(web), new_conversation(web)
    chat(web, other, [{"role": "user", "content": "elsewhere"}])
    message = ChatMessage.objects.get(conversation_id=other, role="user")
    for value in (message.id, "x", ""):
        response = web.post(f"/c/{mine}/version", {"message": value}, HTTP_X_CSRFTOKEN=csrf(web))
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert Conversation.objects.get(id=mine).head_id is None


def test_images_go_with_their_question_every_turn_and_are_audited_by_digest(web, route, ollama):
    conversation = new_conversation(web)
    asked = {"role": "user", "content": "what is this?", "images": [PNG]}
    first = chat(web, conversation, [asked]).json()
    assert ollama.requests[-1]["body"]["messages"][0]["images"] == [PNG]
    data = thread(web, conversation)
    assert data["history"][0] == asked
    # the model keeps nothing: the image goes again with the next question
    chat(web, conversation, [*data["history"], {"role": "user", "content": "and its colour?"}])
    assert ollama.requests[-1]["body"]["messages"][0]["images"] == [PNG]
    # the audit record keeps the digest, never the bytes
    record = AuditRecord.objects.get(id=first["id"])
    digest = hashlib.sha256(PNG.encode()).hexdigest()
    assert record.messages[0]["images"] == [f"sha256:{digest} ({len(PNG)} b64 chars)"]
    assert PNG not in json.dumps(record.messages)

    message = ChatMessage.objects.get(conversation_id=conversation, content="what is this?")
    url = f"/c/{conversation}/images/{message.id}/0"
    assert url in data["html"]
    image = web.get(url)
    assert image.status_code == 200 and image["Content-Type"] == "image/png"
    assert image.content == base64.b64decode(PNG)
    assert web.get(f"/c/{conversation}/images/{message.id}/1").status_code == 404
    # a question sent with other images than the ones stored does not continue the conversation
    forged = [{**asked, "images": [base64.b64encode(b"other").decode()]}, data["history"][1]]
    response = chat(web, conversation, [*forged, {"role": "user", "content": "again"}])
    assert response.status_code == 400


def test_an_attachment_that_is_not_a_picture_is_never_served_back(web, route):
    conversation = new_conversation(web)
    page = base64.b64encode(b"<html><script>alert(1)</script></html>").decode()
    chat(web, conversation, [{"role": "user", "content": "look", "images": [page]}])
    message = ChatMessage.objects.get(conversation_id=conversation, role="user")
    response = web.get(f"/c/{conversation}/images/{message.id}/0")
    assert response.status_code == 404
    assert b"<script>" not in response.content


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
    # Answering the same question again is a regenerate: the failed answer stays a version.
    assert chat(web, conversation, [{"role": "user", "content": "try"}]).status_code == 200
    answers = ChatMessage.objects.filter(conversation_id=conversation, role="assistant")
    assert [a.status for a in answers] == ["failed", "complete"]
    assert versions_shown(web, conversation)[-1] == ("You said: try", "2/2")


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
