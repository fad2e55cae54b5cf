"""Editing a sent message and regenerating an answer keep the earlier versions, and a
vision model is sent images picked, pasted or dropped into the chat."""

import hashlib

import pytest

from audit.models import AuditRecord
from gateway.models import ChatMessage
from gateway.services import route_create
from tests.support.pictures import PNG, PNG_BYTES
from tests.web_ui.browser import SHOTS, send

pytestmark = pytest.mark.django_db(transaction=True)


def shown(page) -> list[tuple[str, str]]:
    """Each message in the thread: its text and its version count ("" when it has one)."""
    rows = page.locator(".msg").evaluate_all(
        """articles => articles.map(article => [
            article.querySelector('.msg-body').textContent.trim(),
            article.querySelector('.version-count')?.textContent || '',
        ])"""
    )
    return [tuple(row) for row in rows]


def answered(page) -> None:
    page.locator(".msg-assistant .md:not(.streaming)").last.wait_for()
    page.get_by_role("button", name="Send").wait_for()


def test_edit_and_regenerate_keep_earlier_versions(page, ollama):
    send(page, "Name a colour")
    answered(page)
    ollama.reply = "Teal, definitely."
    page.get_by_role("button", name="Regenerate").click()
    page.locator(".msg-assistant .version-count", has_text="2/2").wait_for()
    assert shown(page) == [("Name a colour", ""), ("Teal, definitely.", "2/2")]

    # the earlier answer is one click away, and the arrows say where the ends are
    answer = page.locator(".msg-assistant")
    assert answer.get_by_role("button", name="Next version").is_disabled()
    answer.get_by_role("button", name="Previous version").click()
    page.locator(".msg-assistant .version-count", has_text="1/2").wait_for()
    assert shown(page) == [("Name a colour", ""), ("You said: Name a colour", "1/2")]

    # an edit asks the changed question, keeping the first one as version 1
    ollama.reply = None
    question = page.locator(".msg-user")
    question.get_by_role("button", name="Edit this message").click()
    editor = page.get_by_role("textbox", name="Edit your message")
    assert editor.input_value() == "Name a colour"
    editor.fill("Name a fruit")
    page.get_by_role("button", name="Send edit").click()
    page.locator(".msg-user .version-count", has_text="2/2").wait_for()
    answered(page)
    assert shown(page) == [("Name a fruit", "2/2"), ("You said: Name a fruit", "")]
    assert ollama.requests[-1]["body"]["messages"] == [{"role": "user", "content": "Name a fruit"}]
    page.screenshot(path=SHOTS / "chat-versions.png")

    # Esc leaves an edit without sending anything
    calls = AuditRecord.objects.count()
    page.locator(".msg-user").get_by_role("button", name="Edit this message").click()
    page.get_by_role("textbox", name="Edit your message").press("Escape")
    assert page.get_by_role("textbox", name="Edit your message").count() == 0
    assert page.locator(".msg-user .msg-body").is_visible()

    # back to the first question's branch, as it was left, and it survives a reload
    page.locator(".msg-user").get_by_role("button", name="Previous version").click()
    page.locator(".msg-user .version-count", has_text="1/2").wait_for()
    assert shown(page) == [("Name a colour", "1/2"), ("You said: Name a colour", "1/2")]
    page.reload()
    assert shown(page) == [("Name a colour", "1/2"), ("You said: Name a colour", "1/2")]
    # the next question continues the branch shown
    send(page, "And another?")
    answered(page)
    follow = ChatMessage.objects.get(content="And another?")
    assert follow.parent.content == "You said: Name a colour"
    assert AuditRecord.objects.count() == calls + 1


def test_images_are_picked_pasted_or_dropped_for_a_vision_model(page, ollama, backend, tmp_path):
    ollama.add_model("llava:latest", capabilities=["completion", "vision"])
    route_create(name="llava", backend=backend, upstream_model="llava:latest")
    page.reload()
    # a model without vision offers no attachment, and says why when an image is pasted
    assert page.get_by_role("button", name="Attach images").is_hidden()
    paste = """([data, name]) => {
        const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
        const files = new DataTransfer();
        files.items.add(new File([bytes], name, { type: "image/png" }));
        return files;
    }"""
    page.evaluate_handle(paste, [PNG, "pasted.png"]).evaluate(
        """files => document.querySelector('#prompt').dispatchEvent(
            new ClipboardEvent('paste', { clipboardData: files, bubbles: true }))"""
    )
    page.locator("#chat-error", has_text="does not read images").wait_for()

    page.get_by_label("Model").select_option("llava")
    assert "vision" in page.locator("#model-card").text_content()
    picked = tmp_path / "picked.png"
    picked.write_bytes(PNG_BYTES)
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Attach images").click()
    chooser.value.set_files(picked)
    page.evaluate_handle(paste, [PNG, "pasted.png"]).evaluate(
        """files => document.querySelector('#prompt').dispatchEvent(
            new ClipboardEvent('paste', { clipboardData: files, bubbles: true }))"""
    )
    page.evaluate_handle(paste, [PNG, "dropped.png"]).evaluate(
        """files => document.querySelector('#composer').dispatchEvent(
            new DragEvent('drop', { dataTransfer: files, bubbles: true, cancelable: true }))"""
    )
    thumbnails = page.locator("#attachments img")
    thumbnails.nth(2).wait_for()
    assert thumbnails.count() == 3
    page.get_by_role("button", name="Remove image 3").click()
    assert thumbnails.count() == 2
    page.screenshot(path=SHOTS / "chat-attachments.png")

    send(page, "What is in these?")
    answered(page)
    assert page.locator("#attachments").is_hidden()
    sent = ollama.requests[-1]["body"]["messages"][-1]
    assert sent["content"] == "What is in these?" and sent["images"] == [PNG, PNG]
    # shown in the thread, served by Corral, read by the browser as pictures
    images = page.locator(".msg-user .msg-images img")
    assert images.count() == 2
    page.wait_for_function(
        "() => [...document.querySelectorAll('.msg-user .msg-images img')]"
        ".every(image => image.complete && image.naturalWidth === 32)"
    )
    # audited by digest, never by the bytes
    digest = hashlib.sha256(PNG.encode()).hexdigest()
    record = AuditRecord.objects.get()
    assert record.messages[-1]["images"] == [f"sha256:{digest} ({len(PNG)} b64 chars)"] * 2
    page.screenshot(path=SHOTS / "chat-images.png")

    # the next question sends them again (the model keeps nothing between calls)
    send(page, "And the colours?")
    answered(page)
    assert ollama.requests[-1]["body"]["messages"][0]["images"] == [PNG, PNG]

    # on a phone the pictures, the versions and the composer fit the width
    page.get_by_role("button", name="Regenerate").click()
    page.locator(".msg-assistant .version-count", has_text="2/2").wait_for()
    page.set_viewport_size({"width": 390, "height": 844})
    page.locator(".msg-user .msg-images img").first.scroll_into_view_if_needed()
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 390
    page.screenshot(path=SHOTS / "chat-images-phone.png")
