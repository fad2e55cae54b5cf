"""The other pages in chromium: sign-in, tokens, usage, records, dark mode, the admin's review
screens, and the content security policy on every page."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from PIL import Image

from accounts.models import ApiToken, UserLimits
from accounts.roles import GLOBAL_AUDITORS
from accounts.services import roles_ensure_groups, token_issue
from audit.models import AuditRecord, ChainVerification
from audit.services import chain_verification_run
from gateway.models import Backend
from gateway.services import route_create
from tests.conftest import MODEL
from tests.web_ui.browser import PASSWORD, SHOTS, send, signed_in, watch

pytestmark = pytest.mark.django_db(transaction=True)


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
    assert toggle.text_content() == "Auto"
    toggle.click()  # auto -> light
    assert toggle.text_content() == "Light" and page.evaluate(panel) == "rgb(255, 255, 255)"
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


SCREENS = {"wide": {"width": 1440, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_page_at_1440_and_390_px(chromium, server, person, ollama, scheme):
    """The screenshot set a person looks at before a UI change lands: every page, wide and on a
    phone, light and dark; none overflows sideways, none reports a problem."""
    person.is_staff = person.is_superuser = True
    person.save()
    ollama.reply = "A short answer with `code` and a **bold** word."
    for screen, viewport in SCREENS.items():
        page = signed_in(
            chromium, server, viewport=viewport, color_scheme=scheme, is_mobile=screen == "phone"
        )
        send(page, "Show me the set")
        page.locator(".msg-assistant .md:not(.streaming)").wait_for()
        record = AuditRecord.objects.filter(username=person.username).first()
        pages = {
            "chat": page.url.removeprefix(server),
            "models": "/models/",
            "tokens": "/tokens/",
            "usage": "/usage/",
            "record": f"/records/{record.id}/",
            "admin": "/admin/",
            "admin-records": "/admin/audit/auditrecord/",
            "admin-record": f"/admin/audit/auditrecord/{record.id}/change/",
            "admin-dashboard": "/admin/audit/auditrecord/dashboard/",
        }
        for name, path in pages.items():
            page.goto(path)
            page.wait_for_load_state("networkidle")
            page.screenshot(path=SHOTS / f"set-{name}-{screen}-{scheme}.png", full_page=True)
            if not name.startswith("admin"):  # Django's admin pages are its own to lay out
                width = page.evaluate("() => document.documentElement.scrollWidth")
                assert width <= viewport["width"], f"{name} overflows sideways at {screen}"
        page.context.close()
        assert page.problems == []
    signed_out = chromium.new_context(base_url=server, color_scheme=scheme)
    login = signed_out.new_page()
    login.goto("/login/")
    login.screenshot(path=SHOTS / f"set-login-wide-{scheme}.png")
    signed_out.close()
