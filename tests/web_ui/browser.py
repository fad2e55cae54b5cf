"""What the browser tests share: Debian's chromium, a signed-in page that records every console
error, script error and CSP violation, and the chat's composer."""

import os
from pathlib import Path
from urllib.parse import urlsplit

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
    os.environ.get(
        "CORRAL_SCREENSHOTS", Path(__file__).parent.parent.parent / ".artifacts/screenshots"
    )
)


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


def send(page, text: str) -> None:
    page.get_by_role("textbox", name="Message", exact=True).fill(text)
    page.get_by_role("textbox", name="Message", exact=True).press("Enter")
