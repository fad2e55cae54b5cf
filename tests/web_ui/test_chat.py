"""The chat in chromium: streaming, stopping, leaving, errors, sessions, conversations, the phone."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from accounts.models import UserLimits
from audit.models import AuditRecord
from gateway.conversations.services import conversation_create
from gateway.models import ChatMessage, Conversation
from gateway.services import route_create
from tests.conftest import MODEL
from tests.support.waiting import wait_for
from tests.web_ui.browser import PASSWORD, SHOTS, send, signed_in

pytestmark = pytest.mark.django_db(transaction=True)


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
