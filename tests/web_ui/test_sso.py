"""Single sign-on in chromium, through the real redirects between Corral (gunicorn, configured from
the environment) and the OpenID provider on loopback: a first sign-in lands in the chat with the
teams the groups give; a group taken away takes the team and its tokens at the next sign-in;
sign-out ends the provider's session too; and each answer that must not be trusted ends on a page
that says so."""

import httpx
import pytest
from django.contrib.auth import get_user_model

from accounts.models import Membership, SsoGroupRule, SsoIdentity
from accounts.services import team_get_or_create, token_issue
from gateway.models import ModelRoute
from tests.support import processes
from tests.support.sso import CLIENT_ID, CLIENT_SECRET
from tests.web_ui.browser import SHOTS, signed_in, watch

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def sso_server(django_db_setup, django_db_blocker, otlp_receiver, _oidc_provider, tmp_path_factory):
    with django_db_blocker.unblock():
        env = processes.corral_env(
            otlp_receiver.endpoint,
            DJANGO_SETTINGS_MODULE="tests.settings",
            CORRAL_OIDC_ISSUER=_oidc_provider.issuer,
            CORRAL_OIDC_CLIENT_ID=CLIENT_ID,
            CORRAL_OIDC_CLIENT_SECRET=CLIENT_SECRET,
            CORRAL_OIDC_PROVIDER_NAME="Loopback ID",
            # as in production: a checked token is kept, so its loss must reach the process
            CORRAL_TEST_TOKEN_CACHE_SECONDS="300",
        )
    with processes.web(env, tmp_path_factory.mktemp("sso-web")) as base:
        _oidc_provider.client(CLIENT_ID, CLIENT_SECRET, base)
        yield base


@pytest.fixture
def red(db, route):
    red = team_get_or_create(slug="red", name="Red team")
    SsoGroupRule.objects.create(group="corral-red", team=red, role="member")
    return red


@pytest.fixture
def browser(chromium, sso_server):
    context = chromium.new_context(base_url=sso_server, viewport={"width": 1100, "height": 760})
    page = context.new_page()
    page.problems = watch(page)
    yield page
    context.close()


def through_provider(page, username: str, password: str = "provider pass") -> None:
    """From Corral's sign-in page to the provider's, and its form."""
    page.goto("/login/")
    page.get_by_role("link", name="Sign in with Loopback ID").click()
    page.get_by_label("Provider username").fill(username)
    page.get_by_label("Provider password").fill(password)
    page.get_by_role("button", name="Continue").click()


def held_answer(page, provider) -> str:
    """The provider's answer (Corral's callback with code and state), held back instead of
    followed (the provider was told to hold it)."""
    link = page.get_by_role("link", name="Return to the application")
    answer = link.get_attribute("href")
    provider.misbehave.hold_return = False
    return answer


def test_a_first_sign_in_lands_in_the_chat_with_the_teams_of_the_groups(
    browser, sso_server, oidc_provider, red
):
    oidc_provider.person("pat", ["corral-red"])
    browser.goto("/login/")
    browser.screenshot(path=SHOTS / "sso-login.png")
    through_provider(browser, "pat")
    browser.wait_for_url(f"{sso_server}/")
    assert browser.get_by_role("textbox", name="Message", exact=True).is_visible()
    browser.goto("/models/")
    assert browser.get_by_text("Red team").or_(browser.get_by_text("red")).first.is_visible()
    route = ModelRoute.objects.get()
    assert browser.get_by_text(route.name).first.is_visible()
    user = get_user_model().objects.get(username="pat")
    assert list(Membership.objects.filter(user=user).values_list("team__slug", "role")) == [
        ("red", "member")
    ]
    assert browser.problems == []


def test_a_group_taken_away_takes_the_team_and_its_tokens_at_the_next_sign_in(
    browser, sso_server, oidc_provider, red
):
    pat = oidc_provider.person("pat", ["corral-red"])
    through_provider(browser, "pat")
    browser.wait_for_url(f"{sso_server}/")
    user = get_user_model().objects.get(username="pat")
    _, secret = token_issue(user=user, name="laptop", team=red)
    headers = {"Authorization": f"Bearer {secret}"}
    assert httpx.get(f"{sso_server}/api/v1/models", headers=headers).status_code == 200

    # Signing out of Corral ends the provider's session too: the next sign-in asks again.
    browser.get_by_role("button", name="Sign out").click()
    browser.wait_for_url(f"{sso_server}/login/")
    assert oidc_provider.ended_sessions == [pat.sub]

    # another group, another role in the same team: the token acts for the team still
    SsoGroupRule.objects.create(group="corral-red-leads", team=red, role="admin")
    pat.groups = ["corral-red-leads", "wiki"]
    through_provider(browser, "pat")
    browser.wait_for_url(f"{sso_server}/")
    assert Membership.objects.get(user=user).role == "admin"
    assert browser.get_by_role("link", name="Admin").is_visible()
    assert httpx.get(f"{sso_server}/api/v1/models", headers=headers).status_code == 200

    browser.get_by_role("button", name="Sign out").click()
    browser.wait_for_url(f"{sso_server}/login/")
    pat.groups = ["wiki"]
    through_provider(browser, "pat")
    refused = browser.get_by_role("alert")
    assert "(wiki) give no access to Corral" in refused.text_content()
    browser.screenshot(path=SHOTS / "sso-refused.png")
    assert not Membership.objects.filter(user=user).exists()
    answer = httpx.get(f"{sso_server}/api/v1/models", headers=headers)
    assert answer.status_code == 401, answer.text


def test_a_tampered_state_is_refused(browser, sso_server, oidc_provider, red):
    oidc_provider.person("pat", ["corral-red"])
    oidc_provider.misbehave.hold_return = True
    through_provider(browser, "pat")
    answer = held_answer(browser, oidc_provider)
    browser.goto(answer.replace("state=", "state=forged"))
    assert browser.get_by_role("heading", name="Sign-in refused").is_visible()
    assert "does not belong to a sign-in started in this browser" in (
        browser.get_by_role("alert").text_content()
    )
    browser.goto("/tokens/")
    assert browser.url.startswith(f"{sso_server}/login/")


def test_a_code_replayed_into_another_browser_is_refused(
    chromium, browser, sso_server, oidc_provider, red
):
    oidc_provider.person("pat", ["corral-red"])
    used: list[str] = []
    browser.on("request", lambda r: used.append(r.url) if "/sso/callback" in r.url else None)
    through_provider(browser, "pat")
    browser.wait_for_url(f"{sso_server}/")
    stolen_code = used[0].split("code=")[1].split("&")[0]

    attacker = chromium.new_context(base_url=sso_server).new_page()
    oidc_provider.misbehave.hold_return = True
    through_provider(attacker, "pat")
    answer = held_answer(attacker, oidc_provider)
    own_code = answer.split("code=")[1].split("&")[0]
    attacker.goto(answer.replace(own_code, stolen_code))
    assert "code was used already" in attacker.get_by_role("alert").text_content()
    attacker.goto("/tokens/")
    assert attacker.url.startswith(f"{sso_server}/login/")
    attacker.context.close()


@pytest.mark.parametrize(
    "misbehaviour, words",
    [("rogue_key", "its signature does not verify"), ("expired", "it has expired")],
)
def test_a_token_signed_with_the_wrong_key_or_expired_is_refused(
    browser, sso_server, oidc_provider, red, misbehaviour, words
):
    oidc_provider.person("pat", ["corral-red"])
    if misbehaviour == "rogue_key":
        oidc_provider.misbehave.rogue_key = True
    else:
        oidc_provider.misbehave.id_token_age = 3600
    through_provider(browser, "pat")
    assert browser.get_by_role("heading", name="Sign-in refused").is_visible()
    assert words in browser.get_by_role("alert").text_content()
    browser.get_by_role("link", name="Sign in with Loopback ID again").is_visible()
    assert not get_user_model().objects.filter(username="pat").exists()


def test_a_team_admin_signs_in_to_the_admin_through_the_provider(
    browser, sso_server, oidc_provider, red
):
    SsoGroupRule.objects.create(group="corral-red-leads", team=red, role="admin")
    oidc_provider.person("lee", ["corral-red-leads"])
    browser.goto("/admin/")
    browser.wait_for_url(f"{sso_server}/admin/login/?next=/admin/")
    browser.screenshot(path=SHOTS / "sso-admin-login.png")
    browser.get_by_role("link", name="Sign in with Loopback ID").click()
    browser.get_by_label("Provider username").fill("lee")
    browser.get_by_label("Provider password").fill("provider pass")
    browser.get_by_role("button", name="Continue").click()
    browser.wait_for_url(f"{sso_server}/admin/")
    assert browser.get_by_role("link", name="Teams").is_visible()
    browser.get_by_role("button", name="Log out").click()
    browser.wait_for_url(f"{sso_server}/login/")
    assert oidc_provider.ended_sessions == [oidc_provider.people["lee"].sub]
    assert browser.problems == []


def test_a_password_account_connects_to_the_provider_from_its_tokens_page(
    chromium, sso_server, oidc_provider, person, red
):
    """The form leads to another origin (the provider) through redirects: the CSP's form-action
    must allow it, or the browser stops there."""
    page = signed_in(chromium, sso_server, viewport={"width": 1100, "height": 900})
    oidc_provider.person("pat.w", ["corral-red"])
    page.goto("/tokens/")
    page.screenshot(path=SHOTS / "sso-connect.png", full_page=True)
    page.get_by_role("button", name="Connect to Loopback ID").click()
    page.get_by_label("Provider username").fill("pat.w")
    page.get_by_label("Provider password").fill("provider pass")
    page.get_by_role("button", name="Continue").click()
    page.wait_for_url(f"{sso_server}/tokens/")
    assert page.get_by_text("You sign in with Loopback ID").is_visible()
    page.screenshot(path=SHOTS / "sso-connected.png", full_page=True)
    assert SsoIdentity.objects.get().user == person
    assert set(Membership.objects.filter(user=person).values_list("team__slug", flat=True)) == {
        "research",  # no rule names it: left as the admins made it
        "red",
    }
    assert page.problems == []
    page.context.close()
