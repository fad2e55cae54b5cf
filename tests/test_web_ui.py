"""The web chat in a real browser: Playwright driving Debian's chromium against Corral under
gunicorn (gevent), with the Ollama double behind it. Screenshots of the main pages are written to
$CORRAL_SCREENSHOTS (default .artifacts/screenshots) for a person to look at."""

import io
import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone
from PIL import Image

from accounts.models import ApiToken, UserLimits
from accounts.roles import GLOBAL_AUDITORS
from accounts.services import membership_ensure, roles_ensure_groups, token_issue
from audit.models import AuditRecord, ChainVerification
from audit.services import chain_verification_run
from gateway.conversations.services import conversation_create
from gateway.models import Backend, ChatMessage, Conversation
from gateway.services import route_create
from tests.conftest import MODEL
from tests.support import processes
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "a long passphrase 42"
SHOTS = Path(
    os.environ.get("CORRAL_SCREENSHOTS", Path(__file__).parent.parent / ".artifacts/screenshots")
)


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "install Debian's chromium (.ci/run does)"
    # Playwright's sync API keeps an event loop in this thread; the test's own ORM calls are
    # synchronous all the same.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker, otlp_receiver, tmp_path_factory):
    # tests.settings: production settings with plain-HTTP cookies and static files found in place.
    with django_db_blocker.unblock():
        env = processes.corral_env(otlp_receiver.endpoint, DJANGO_SETTINGS_MODULE="tests.settings")
    with processes.web(env, tmp_path_factory.mktemp("web")) as base:
        yield base


@pytest.fixture
def person(team, route, redis_client):
    user = get_user_model().objects.create_user("pat", password=PASSWORD)
    membership_ensure(team=team, user=user)
    return user


def watch(page) -> list[str]:
    """What the page must never show: an uncaught script error, a CSP violation, a console error
    or a resource that failed to load — except the API's answers, whose errors the chat explains."""
    problems: list[str] = []

    def on_console(message):
        if message.type != "error":
            return
        url = message.location.get("url", "")
        if "Failed to load resource" in message.text and urlsplit(url).path.startswith(EXPLAINED):
            return
        problems.append(f"{page.url}: {message.text} ({url})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(f"{page.url}: {error}"))
    return problems


# the chat's own calls, whose failures it explains in words
EXPLAINED = ("/api/v1/chat", "/c/", "/render")


def signed_in(chromium, server, context=None, **context_options):
    context = context or chromium.new_context(base_url=server, **context_options)
    page = context.new_page()
    page.problems = watch(page)
    page.goto("/login/")
    page.get_by_label("Username").fill("pat")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server}/")
    return page


@pytest.fixture
def page(chromium, server, person):
    page = signed_in(chromium, server)
    yield page
    page.context.close()
    assert page.problems == []


def send(page, text: str) -> None:
    page.get_by_role("textbox", name="Message", exact=True).fill(text)
    page.get_by_role("textbox", name="Message", exact=True).press("Enter")


def test_chat_streams_renders_markdown_and_survives_a_reload(page, ollama):
    ollama.reply = (
        "Here is a **bold** plan:\n\n```python\nprint('hello')\n```\n\n"
        "| step | done |\n|---|---|\n| one | yes |\n\nThat is all for now, good luck."
    )
    ollama.chunk_delay = 0.08
    page.screenshot(path=SHOTS / "chat-empty.png")
    assert page.get_by_label("Model").input_value() == MODEL
    send(page, "Plan my day")
    streaming = page.locator(".msg-assistant .msg-body.streaming")
    streaming.wait_for()
    page.wait_for_function(
        "() => document.querySelector('.msg-assistant .streaming')?.textContent.length > 10"
    )
    partial = streaming.text_content()
    assert 0 < len(partial) < len(ollama.reply), "the answer must arrive in pieces"
    assert page.get_by_role("button", name="Stop").is_visible()
    # formatted while it streams, not only once it ends
    page.locator(".msg-assistant .streaming strong").wait_for()
    assert page.locator(".msg-assistant .streaming").count() == 1

    page.locator(".msg-assistant .md:not(.streaming) pre code").wait_for()
    answer = page.locator(".msg-assistant .md")
    answer.locator(".code-head").get_by_text("python").wait_for()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    answer.get_by_role("button", name="Copy code").click()
    assert page.evaluate("() => navigator.clipboard.readText()") == "print('hello')\n"
    assert answer.locator("strong").text_content() == "bold"
    assert answer.locator("table td").first.text_content() == "one"
    assert page.get_by_role("button", name="Send").is_visible()
    assert page.locator("#chat-title").text_content() == "Plan my day"
    page.screenshot(path=SHOTS / "chat.png", full_page=True)

    conversation = Conversation.objects.get(user__username="pat")
    record = AuditRecord.objects.get(conversation_id=str(conversation.id))
    assert record.surface == "web" and record.status == "succeeded"
    link = page.get_by_role("link", name="Audit record")
    assert link.get_attribute("href") == f"/records/{record.id}/"
    assert page.url.endswith(f"/c/{conversation.id}/")

    page.reload()
    assert (
        page.locator(f'#conversation-list a[data-conversation="{conversation.id}"]').text_content()
        == "Plan my day"
    )
    assert page.locator(".msg-user .msg-body").text_content() == "Plan my day"
    assert page.locator(".msg-assistant .md strong").text_content() == "bold"
    # Enter sends; Shift+Enter is a new line in the same message.
    page.get_by_role("textbox", name="Message", exact=True).type("line one")
    page.get_by_role("textbox", name="Message", exact=True).press("Shift+Enter")
    page.get_by_role("textbox", name="Message", exact=True).type("line two")
    assert (
        page.get_by_role("textbox", name="Message", exact=True).input_value()
        == "line one\nline two"
    )


def test_stop_ends_the_upstream_call_and_keeps_what_came(page, ollama):
    ollama.reply = " ".join(f"word{i}" for i in range(400))
    ollama.chunk_delay = 0.05
    send(page, "Tell me a long story")
    page.wait_for_function(
        "() => document.querySelector('.msg-assistant .streaming')?.textContent.length > 20"
    )
    page.get_by_role("button", name="Stop").click()
    page.locator(".msg-assistant .msg-note", has_text="Stopped.").wait_for()
    assert wait_for(lambda: ollama.disconnects >= 1, timeout=10), "the upstream call must be closed"
    assert ollama.completed_streams == 0
    answer = ChatMessage.objects.get(role="assistant")
    assert answer.status == "stopped" and answer.content.startswith("word0 word1")
    assert len(answer.content) < len(ollama.reply)
    record = AuditRecord.objects.get(id=answer.audit_record_id)
    assert record.status == "stopped" and record.finish_reason == "stopped", "the person's Stop"
    assert page.get_by_role("button", name="Send").is_visible()
    assert page.locator(".msg-assistant .md").text_content().strip() == answer.content.strip()


def test_an_answer_goes_on_while_the_person_is_in_another_chat(page, server, ollama):
    ollama.reply = " ".join(f"word{i}" for i in range(60))
    ollama.chunk_delay = 0.05
    send(page, "Write while I am away")
    page.wait_for_function(
        "() => document.querySelector('.msg-assistant .streaming')?.textContent.length > 10"
    )
    # the new chat is listed while its first answer is still being written
    assert page.locator("#conversation-list a").all_text_contents() == ["Write while I am away"]
    conversation_url = page.url
    page.get_by_role("link", name="New chat").click()
    page.wait_for_url(f"{server}/")
    page.goto(conversation_url)
    page.locator(".msg-assistant .md", has_text="word59").wait_for(timeout=20_000)
    answer = ChatMessage.objects.get(role="assistant")
    assert answer.status == "complete" and answer.content == ollama.reply
    assert AuditRecord.objects.get(id=answer.audit_record_id).status == "succeeded"
    assert ollama.completed_streams == 1 and ollama.disconnects == 0
    assert page.get_by_role("button", name="Send").is_visible()


def test_model_output_is_rendered_inert(page, ollama):
    ollama.reply = (
        "<script>window.pwned = 1</script> "
        '<img src="x" onerror="window.pwned = 2"> '
        "[click me](javascript:window.pwned=3) "
        '<a href="javascript:window.pwned=4">raw link</a> '
        "[safe](https://example.com/docs)"
    )
    send(page, "say something nasty")
    page.locator(".msg-assistant .md a").wait_for()
    thread = page.locator("#thread")
    assert thread.locator("script, img, iframe").count() == 0
    hrefs = thread.locator(".md a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert hrefs == ["https://example.com/docs"]
    assert "<script>window.pwned = 1</script>" in thread.locator(".md").text_content()
    assert page.evaluate("() => window.pwned") is None
    page.reload()
    assert page.evaluate("() => window.pwned") is None
    assert page.locator("#thread script, #thread img").count() == 0


def test_quota_exceeded_is_explained_with_when_it_resets(page, person):
    UserLimits.objects.create(user=person, tokens_per_day=5)
    send(page, "first question")
    page.locator(".msg-assistant .md:not(.streaming)").wait_for()
    send(page, "second question")
    error = page.get_by_role("alert").filter(has_text="token quota")
    error.wait_for()
    text = error.text_content()
    assert "You have used up your token quota." in text and "It resets in" in text
    # The refused question is given back to the person, and nothing was kept for it.
    assert (
        page.get_by_role("textbox", name="Message", exact=True).input_value() == "second question"
    )
    assert page.locator(".msg-user").count() == 1
    page.screenshot(path=SHOTS / "chat-quota.png")


def test_model_unavailable_is_said_once_with_what_happened(page, ollama):
    ollama.fail_next(503, "server busy, please try again. maximum pending requests exceeded")
    send(page, "are you there?")
    note = page.locator(".msg-assistant .msg-note.error")
    note.wait_for()
    assert "cannot be reached or is busy" in note.text_content()
    assert "server busy" in note.locator(".error-detail").text_content()
    # said on the answer, not a second time in a banner over its links
    assert page.locator("#chat-error").is_hidden()
    actions = page.locator(".msg-assistant .msg-actions")
    assert actions.get_by_role("button", name="Regenerate").is_visible()
    box, thread = actions.bounding_box(), page.locator("#thread").bounding_box()
    assert box["y"] + box["height"] <= thread["y"] + thread["height"], "the links stay in view"


def test_a_session_ended_elsewhere_is_said_and_the_message_kept(page, server):
    other = page.context.new_page()
    other.goto("/usage/")
    other.get_by_role("button", name="Sign out").click()
    other.wait_for_url(f"{server}/login/")
    other.close()
    send(page, "are you still there?")
    error = page.locator("#chat-error")
    error.get_by_text("Your session has ended").wait_for()
    assert page.locator(".streaming").count() == 0, "no cursor blinking over nothing"
    box = page.get_by_role("textbox", name="Message", exact=True)
    assert box.input_value() == "are you still there?"
    page.screenshot(path=SHOTS / "chat-session-ended.png")
    error.get_by_role("link", name="Sign in again").click()
    page.get_by_label("Username").fill("pat")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server}/")
    assert box.input_value() == "are you still there?", "what was typed survives the sign-in"
    send(page, box.input_value())
    page.locator(".msg-assistant .md").get_by_text("You said: are you still there?").wait_for()


def test_a_session_ended_in_a_conversation_is_said_too(page, server):
    send(page, "first")
    page.locator(".msg-assistant .md:not(.streaming)").wait_for()
    page.context.clear_cookies()
    send(page, "second")
    page.locator("#chat-error").get_by_text("Your session has ended").wait_for()
    assert page.locator(".streaming").count() == 0
    assert page.get_by_role("textbox", name="Message", exact=True).input_value() == "second"


def test_conversations_regenerate_copy_rename_search_delete(chromium, server, person, ollama):
    context = chromium.new_context(base_url=server)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server)
    page = signed_in(chromium, server, context)

    send(page, "Name a colour")
    page.get_by_role("button", name="Regenerate").wait_for()
    ollama.reply = "Teal, definitely."
    page.get_by_role("button", name="Regenerate").click()
    page.locator(".msg-assistant .md", has_text="Teal, definitely.").wait_for()
    assert page.locator(".msg-assistant").count() == 1
    page.locator(".msg-assistant").get_by_role("button", name="Copy this message").click()
    assert page.evaluate("() => navigator.clipboard.readText()") == "Teal, definitely."

    page.get_by_role("link", name="New chat").click()
    ollama.reply = None
    send(page, "Holiday plans for June")
    page.locator(".msg-assistant .md:not(.streaming)").wait_for()
    page.get_by_label("Conversation actions").click()
    page.get_by_label("Rename").fill("Summer trip")
    page.get_by_role("button", name="Save title").click()
    assert page.locator("#chat-title").text_content() == "Summer trip"

    page.get_by_label("Search conversations").fill("summer")
    page.get_by_label("Search conversations").press("Enter")
    assert page.locator("#conversation-list a").all_text_contents() == ["Summer trip"]
    # a word said only in an answer finds its chat, with where it was said
    page.get_by_label("Search conversations").fill("teal")
    page.get_by_label("Search conversations").press("Enter")
    found = page.locator("#conversation-list a")
    assert found.count() == 1 and found.locator(".snippet").text_content() == "Teal, definitely."
    page.screenshot(path=SHOTS / "chat-search.png")

    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_label("Conversation actions").click()
    page.get_by_role("button", name="Delete conversation").click()
    page.wait_for_url(f"{server}/")
    assert page.locator("#conversation-list a").all_text_contents() == ["Name a colour"]
    assert list(Conversation.objects.values_list("title", flat=True)) == ["Name a colour"]
    assert AuditRecord.objects.filter(surface="web").count() == 3
    context.close()


def test_model_picker_system_prompt_and_temperature_go_with_the_call(page, ollama, backend):
    route_create(name="qwen3", backend=backend, upstream_model="qwen3:0.6b")
    ollama.add_model("nomic-embed-text:latest")
    ollama.models["nomic-embed-text:latest"].capabilities = ["embedding"]
    route_create(name="nomic-embed-text", backend=backend, upstream_model="nomic-embed-text:latest")
    page.reload()
    picker = page.get_by_label("Model", exact=True)
    # a model that only embeds cannot chat: it is not offered
    assert picker.locator("option").all_text_contents() == [MODEL, "qwen3"]
    card = page.locator("#model-card").text_content()
    assert card == "llama · 3.2B · Q4_K_M · context 131,072 · tools"
    picker.select_option("qwen3")
    page.get_by_text("System prompt and temperature").click()
    page.get_by_label("System prompt").fill("Answer like a pirate.")
    page.get_by_label("Temperature (0 to 2)").fill("1.2")
    send(page, "hello")
    page.locator(".msg-assistant .md:not(.streaming)").wait_for()
    sent = [r["body"] for r in ollama.requests if r["path"] == "/api/chat"][-1]
    assert sent["model"] == "qwen3:0.6b"
    assert page.locator(".msg-assistant .msg-role").text_content() == "qwen3"
    assert sent["messages"][0] == {"role": "system", "content": "Answer like a pirate."}
    assert sent["options"]["temperature"] == 1.2
    conversation = Conversation.objects.get()
    assert (conversation.system_prompt, conversation.temperature) == ("Answer like a pirate.", 1.2)


def test_phone_sized_screen(chromium, server, person):
    page = signed_in(
        chromium, server, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    sidebar = page.locator("#chat-sidebar")
    assert not sidebar.is_visible()
    # the bars above the thread leave the screen to the conversation
    assert page.locator("#thread").bounding_box()["y"] <= 160
    send(page, "Hi from my phone")
    page.locator(".msg-assistant .md:not(.streaming)").wait_for()
    page.screenshot(path=SHOTS / "chat-phone.png")
    toggle = page.get_by_role("button", name="Chats")
    toggle.click()
    assert sidebar.is_visible() and page.locator("#drawer-backdrop").is_visible()
    page.screenshot(path=SHOTS / "chat-phone-sidebar.png")
    page.mouse.click(370, 600)  # on the backdrop, beside the drawer
    assert not sidebar.is_visible() and not page.locator("#drawer-backdrop").is_visible()
    toggle.click()
    page.keyboard.press("Escape")
    assert not sidebar.is_visible()
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390, "nothing may overflow the screen sideways"
    page.context.close()
    assert page.problems == []


def test_menus_close_on_escape_and_outside_clicks_and_settings_save_any_time(page, ollama):
    menu = page.locator("#conversation-menu")
    page.get_by_text("System prompt and temperature").click()
    page.get_by_label("System prompt").fill("Answer in French.")
    page.get_by_role("button", name="Save settings").click()
    assert "first message" in page.locator("#settings-status").text_content()
    send(page, "bonjour")
    page.locator(".msg-assistant .md:not(.streaming)").wait_for()
    assert Conversation.objects.get().system_prompt == "Answer in French."
    page.get_by_label("System prompt").fill("Answer in German.")
    page.get_by_role("button", name="Save settings").click()
    page.get_by_text("Saved for this conversation.").wait_for()
    assert Conversation.objects.get().system_prompt == "Answer in German."

    page.get_by_label("Conversation actions").click()
    assert menu.evaluate("menu => menu.open")
    page.keyboard.press("Escape")
    assert not menu.evaluate("menu => menu.open")
    page.get_by_label("Conversation actions").click()
    page.locator("#thread").click()
    assert not menu.evaluate("menu => menu.open")


def test_main_pages_render_finished(chromium, server, person):
    context = chromium.new_context(base_url=server, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto("/login/")
    page.screenshot(path=SHOTS / "login.png")
    page.get_by_label("Username").fill("pat")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").text_content().strip().startswith("That username and password")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server}/")
    nav = page.get_by_role("navigation", name="Main")
    for name, link, path in (
        ("models", "Models", "/models/"),
        ("tokens", "API tokens", "/tokens/"),
        ("usage", "Usage", "/usage/"),
    ):
        nav.get_by_role("link", name=link).click()
        page.wait_for_url(f"{server}{path}")
        page.screenshot(path=SHOTS / f"{name}.png", full_page=True)
    nav.get_by_role("link", name="Chat").click()
    page.wait_for_url(f"{server}/")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{server}/login/")
    context.close()


def test_no_page_breaks_the_content_security_policy(chromium, server, person, ollama):
    """Every page works under the CSP (no inline script or style, nothing from elsewhere): the
    browser reports no violation on the chat, the account pages, the API docs and the admin."""
    person.is_staff = person.is_superuser = True
    person.save()
    UserLimits.objects.create(user=person, requests_per_minute=100, tokens_per_day=1000)
    page = signed_in(chromium, server, viewport={"width": 1280, "height": 800})
    violations = []
    page.on(
        "console",
        lambda message: (
            violations.append(f"{page.url}: {message.text}")
            if "Content Security Policy" in message.text
            else None
        ),
    )
    ollama.reply = "**bold** and `code`"
    send(page, "hello")
    page.get_by_text("bold", exact=True).wait_for()
    record = AuditRecord.objects.get()
    for path in (
        "/models/",
        "/tokens/",
        "/usage/",
        "/api/v1/docs",
        "/admin/",
        "/admin/audit/auditrecord/",
        f"/admin/audit/auditrecord/{record.id}/change/",
        "/admin/gateway/modelroute/",
    ):
        response = page.goto(path)
        assert response.status == 200, path
        assert "default-src 'self'" in response.headers["content-security-policy"]
        page.wait_for_load_state("networkidle")
        if path == "/api/v1/docs":
            page.get_by_text("/api/v1/chat", exact=True).first.wait_for()
            page.screenshot(path=SHOTS / "api-docs.png")
        if path == "/usage/":
            page.screenshot(path=SHOTS / "usage-limits.png", full_page=True)
    assert violations == []
    page.context.close()


def test_an_auditor_signs_in_at_the_admins_own_sign_in_page(chromium, server, person):
    """Auditors are not staff; Django's admin form let in staff only."""
    auditor = get_user_model().objects.create_user("audrey", password=PASSWORD)
    roles_ensure_groups()
    auditor.groups.add(Group.objects.get(name=GLOBAL_AUDITORS))
    context = chromium.new_context(base_url=server, viewport={"width": 1440, "height": 900})
    page = context.new_page()
    problems = watch(page)
    page.goto("/admin/login/")
    page.get_by_label("Username").fill("pat")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    assert "no role in the admin" in page.locator(".errornote").text_content()
    page.get_by_label("Username").fill("audrey")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{server}/admin/")

    # the list: seconds and zone, an excerpt of what was asked, every column on a 1440 px screen
    _, secret = token_issue(user=person, name="t", team=person.memberships.get().team)
    long_question = "Summarise the quarterly report for the board, " * 6
    Client(HTTP_AUTHORIZATION=f"Bearer {secret}").post(
        "/api/v1/chat",
        {"model": MODEL, "messages": [{"role": "user", "content": long_question}]},
        content_type="application/json",
    )
    page.goto("/admin/audit/auditrecord/")
    row = page.locator("#result_list tbody tr").first
    started = AuditRecord.objects.get().started_at
    assert row.locator(".field-started").text_content() == started.strftime("%Y-%m-%d %H:%M:%S UTC")
    assert (
        row.locator(".corral-excerpt").text_content().startswith("Summarise the quarterly report")
    )
    table = page.locator("#result_list").evaluate("table => table.offsetWidth")
    room = page.locator(".results").evaluate("box => box.clientWidth")
    assert table <= room, "no column is cut off"
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 1440
    page.screenshot(path=SHOTS / "admin-records.png")
    # the chain's state is a badge; Verify now hands the work to Celery and shows its outcome
    page.get_by_role("button", name="Verify now").click()
    page.locator(".corral-chain").get_by_text("Verifying…").wait_for()
    chain_verification_run(verification_id=ChainVerification.objects.get().pk)
    page.reload()
    assert "Chain verified" in page.locator(".corral-chain").text_content()
    # a custom range of days, which the export takes too
    today = started.date().isoformat()
    page.get_by_label("From").fill("2020-01-01")
    page.get_by_label("To").fill("2020-01-31")
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url("**started_to=2020-01-31**")
    assert page.locator("#result_list tbody tr").count() == 0
    page.get_by_label("To").fill(today)
    page.get_by_role("button", name="Apply").click()
    page.wait_for_url(f"**started_to={today}**")
    assert page.locator("#result_list tbody tr").count() == 1
    export = page.get_by_role("link", name="Export CSV").get_attribute("href")
    assert f"started_to={today}" in export and "started_from=2020-01-01" in export

    # the usage dashboard is styled (its rules come from a file the CSP allows)
    page.goto("/admin/audit/auditrecord/dashboard/")
    cards = page.locator(".corral-cards")
    assert cards.evaluate("element => getComputedStyle(element).display") == "grid"
    figure = page.locator(".corral-card strong").first
    assert figure.evaluate("element => getComputedStyle(element).display") == "block"
    page.screenshot(path=SHOTS / "admin-dashboard.png", full_page=True)
    # and every page names its icon, so no request for it fails
    icon = page.locator("link[rel=icon]").get_attribute("href")
    assert page.request.get(f"{server}{icon}").ok and page.request.get(f"{server}/favicon.ico").ok
    context.close()
    assert problems == []


def test_tokens_created_once_revoked_on_purpose_and_readable_on_a_phone(
    chromium, server, person, team
):
    page = signed_in(chromium, server, viewport={"width": 390, "height": 844}, is_mobile=True)
    page.goto("/tokens/")
    assert page.get_by_label("Team").input_value() == str(team.pk), "one's own team is chosen"
    page.get_by_label("Name").fill("laptop")
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("#new-secret").text_content()
    assert page.url == f"{server}/tokens/", "the creation redirected to a page a reload may repeat"
    page.reload()
    assert page.locator("#new-secret").count() == 0 and secret not in page.content()
    assert ApiToken.objects.filter(user=person).count() == 1

    row = page.get_by_role("row").filter(has_text="laptop")
    for label in ("Last used", "Status"):
        cell = row.locator(f'td[data-label="{label}"]')
        box = cell.bounding_box()
        assert cell.is_visible() and box["x"] + box["width"] <= 390, f"{label} is on screen"
    revoke = row.get_by_role("link", name="Revoke token laptop")
    box = revoke.bounding_box()
    assert box["x"] + box["width"] <= 390, "the action is on screen, not cut off"
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    page.screenshot(path=SHOTS / "tokens-phone.png", full_page=True)

    revoke.click()
    page.get_by_role("link", name="Keep it").click()
    assert ApiToken.objects.get(user=person).revoked_at is None
    page.get_by_role("link", name="Revoke token laptop").click()
    page.screenshot(path=SHOTS / "token-revoke.png")
    page.get_by_role("button", name="Revoke token").click()
    page.get_by_text("Token “laptop” is revoked.").wait_for()
    assert ApiToken.objects.get(user=person).revoked_at is not None
    page.context.close()
    assert page.problems == []


def test_a_members_audit_record_link_opens_a_readable_page(page, server, ollama):
    ollama.reply = "A **readable** answer"
    send(page, "what did I ask?")
    page.locator(".msg-assistant .md strong").wait_for()
    page.get_by_role("link", name="Audit record").click()
    page.get_by_role("heading", name="Audit record", exact=True).wait_for()
    record = AuditRecord.objects.get()
    assert page.url == f"{server}/records/{record.id}/"
    facts = page.locator(".facts")
    assert record.started_at.strftime("%H:%M:%S UTC") in facts.text_content(), "seconds and zone"
    assert page.get_by_text("what did I ask?").is_visible()
    assert page.locator(".answer .md strong").text_content() == "readable"
    page.screenshot(path=SHOTS / "record.png", full_page=True)


def test_usage_folds_the_latest_tag_and_shows_a_spent_quota_in_red(
    chromium, server, person, team, ollama
):
    route_create(
        name=f"{MODEL}:latest",
        backend=Backend.objects.get(name="default"),
        upstream_model=f"{MODEL}:latest",
    )
    UserLimits.objects.create(user=person, tokens_per_day=20)
    _, secret = token_issue(user=person, name="t", team=team)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    ollama.reply = "a rather long answer that spends the small quota at once"
    for model in (MODEL, f"{MODEL}:latest"):
        question = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
        api.post("/api/v1/chat", question, content_type="application/json")
    page = signed_in(chromium, server, viewport={"width": 1280, "height": 900})
    page.goto("/usage/")
    rows = page.locator("#days-heading ~ table tbody tr, #days-heading ~ .table-scroll tbody tr")
    assert rows.count() == 1 and rows.first.locator("code").text_content() == MODEL
    assert rows.first.locator("td").nth(2).text_content() == "2"
    today = page.locator(".limit-row.over").filter(has_text="Tokens today")
    assert "limit reached" in today.text_content() and "Starts again" in today.text_content()
    # the full bar is drawn red, not the accent green of a bar with room left
    bar = Image.open(io.BytesIO(today.locator("progress.meter.over").screenshot())).convert("RGB")
    red, green, _ = bar.getpixel((bar.width // 2, bar.height // 2))
    assert red > 150 and green < 100, (red, green)
    page.screenshot(path=SHOTS / "usage-over.png", full_page=True)
    page.context.close()
    assert page.problems == []


def test_answer_figures_chats_by_date_export_and_shortcuts(page, server, person, ollama):
    send(page, "first chat question")
    page.locator(".msg-assistant .md:not(.streaming)").wait_for()
    record = AuditRecord.objects.get()
    figures = page.locator(".msg-figures").text_content()
    assert f"{record.prompt_tokens} in / {record.completion_tokens} out" in figures
    assert f"first token {record.ttft_ms} ms" in figures and record.upstream_model in figures

    older = conversation_create(user=person, model=MODEL)
    Conversation.objects.filter(pk=older.pk).update(
        title="Old plans", updated_at=timezone.now() - timedelta(days=3)
    )
    page.reload()
    groups = page.locator(".conversation-group .group-label").all_text_contents()
    assert groups == ["Today", "Previous 7 days"]

    page.get_by_label("Conversation actions").click()
    with page.expect_download() as download:
        page.get_by_role("link", name="Markdown").click()
    text = Path(download.value.path()).read_text()
    assert text.startswith("# first chat question") and "## You" in text
    assert "You said: first chat question" in text

    page.locator("#thread").click()
    page.keyboard.press("/")
    assert page.evaluate("() => document.activeElement.id") == "chat-search"
    page.keyboard.press("Control+Shift+O")
    page.wait_for_url(f"{server}/")


def test_dark_mode_follows_the_system_and_one_switch_for_chat_and_admin(
    chromium, server, person, ollama
):
    person.is_staff = person.is_superuser = True
    person.save()
    page = signed_in(chromium, server, viewport={"width": 1440, "height": 900}, color_scheme="dark")
    background = "() => getComputedStyle(document.documentElement).backgroundColor"
    panel = "() => getComputedStyle(document.querySelector('.chat-panel')).backgroundColor"
    assert page.evaluate(background) == "rgb(15, 20, 25)", "auto follows the system's dark"
    send(page, "Show me some `code` in the dark")
    page.locator(".msg-assistant .md:not(.streaming)").wait_for()
    page.screenshot(path=SHOTS / "chat-dark.png")
    toggle = page.locator("#theme-toggle")
    assert toggle.text_content() == "Theme: Auto"
    toggle.click()  # auto -> light
    assert toggle.text_content() == "Theme: Light" and page.evaluate(panel) == "rgb(255, 255, 255)"
    toggle.click()  # light -> dark, kept for the next page and for the admin
    page.reload()
    assert page.evaluate(panel) == "rgb(22, 29, 36)"
    page.goto("/admin/")
    assert page.evaluate("() => document.documentElement.dataset.theme") == "dark"
    page.screenshot(path=SHOTS / "admin-dark.png")
    page.goto("/admin/audit/auditrecord/dashboard/")
    axis = page.locator(".corral-chart text").first.evaluate("t => getComputedStyle(t).fill")
    assert axis != "rgb(85, 85, 85)", "chart labels follow the dark theme"
    page.screenshot(path=SHOTS / "admin-dashboard-dark.png", full_page=True)
    for path, name in (("/tokens/", "tokens-dark"), ("/usage/", "usage-dark")):
        page.goto(path)
        page.screenshot(path=SHOTS / f"{name}.png", full_page=True)
    page.context.close()
    assert page.problems == []


def test_a_thinking_models_thoughts_are_shown_folded_above_its_answer(
    chromium, server, person, ollama
):
    from tests.conftest import UPSTREAM_MODEL

    ollama.models[UPSTREAM_MODEL].capabilities = ["completion", "thinking"]
    ollama.thinking = "First I weigh the options, then I answer. " * 3
    ollama.chunk_delay = 0.05
    page = signed_in(chromium, server, viewport={"width": 1280, "height": 800})
    assert "thinking" in page.locator("#model-card").text_content()
    page.get_by_label("Think").check()
    send(page, "Which is better?")
    box = page.locator(".msg-assistant details.thinking")
    box.wait_for()
    assert box.evaluate("box => box.open"), "open while the model thinks"
    page.locator(".msg-assistant .md:not(.streaming)").wait_for()
    answer = ChatMessage.objects.get(role="assistant")
    assert answer.thinking == ollama.thinking and answer.content == "You said: Which is better?"
    assert AuditRecord.objects.get().think is True
    box = page.locator(".msg-assistant details.thinking")
    assert not box.evaluate("box => box.open"), "folded once the answer is there"
    box.locator("summary").click()
    assert box.locator(".pre-wrap").text_content() == ollama.thinking
    page.screenshot(path=SHOTS / "chat-thinking.png")
    page.context.close()
    assert page.problems == []
