"""Single sign-on against a real OpenID provider on loopback (tests/support/oidc_provider.py):
people are found by subject, teams and roles follow their groups at every sign-in, and every
answer from the provider that cannot be trusted is refused with a clear page and logged."""

import threading

import pytest
import requests
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from accounts.models import Membership, SsoGroupRule, SsoIdentity
from accounts.services import team_get_or_create, token_issue, user_make_staff
from audit.models import AdminAction
from tests.support.oidc_provider import Misbehaviour
from tests.support.sso import BACKEND, Flow, sign_in, use_provider

pytestmark = pytest.mark.django_db


@pytest.fixture
def provider(oidc_provider, settings):
    use_provider(settings, oidc_provider)
    return oidc_provider


@pytest.fixture
def teams(db):
    red, blue = team_get_or_create(slug="red"), team_get_or_create(slug="blue")
    for group, team, role in [
        ("corral-red", red, "member"),
        ("corral-red-leads", red, "admin"),
        ("corral-blue", blue, "member"),
    ]:
        SsoGroupRule.objects.create(group=group, team=team, role=role)
    SsoGroupRule.objects.create(group="corral-ops", operator=True)
    SsoGroupRule.objects.create(group="corral-audit", global_auditor=True)
    return red, blue


def roles_of(user) -> dict[str, str]:
    return dict(Membership.objects.filter(user=user).values_list("team__slug", "role"))


def signed_in_as(client) -> str | None:
    response = client.get("/tokens/")
    return response.context["user"].username if response.status_code == 200 else None


def test_the_first_sign_in_makes_the_person_with_the_teams_their_groups_give(
    client, provider, teams
):
    pat = provider.person("pat", ["corral-red", "wiki-editors"])
    response = sign_in(client, "pat")
    assert response.status_code == 302 and response["Location"] == "/"
    assert signed_in_as(client) == "pat"
    # the groups are read again at least this often: the session ends after CORRAL_OIDC_SESSION_HOURS
    assert client.session.get_expiry_age() == 12 * 3600
    user = get_user_model().objects.get(username="pat")
    assert (user.email, user.first_name, user.has_usable_password()) == (pat.email, "Pat", False)
    identity = SsoIdentity.objects.get(user=user)
    assert (identity.issuer, identity.subject) == (provider.issuer, pat.sub)
    assert roles_of(user) == {"red": "member"}
    logged = list(AdminAction.objects.exclude(object_type="accounts.team").order_by("at", "pk"))
    assert [(a.actor_username, a.action, a.object_type) for a in logged] == [
        ("single sign-on", "create", "auth.user"),
        ("single sign-on", "create", "accounts.membership"),
        ("pat", "sign-in", "auth.user"),
    ]
    assert all(a.after["groups"] == ["corral-red", "wiki-editors"] for a in logged)


def test_at_every_sign_in_teams_and_roles_follow_the_groups_and_a_lost_team_stops_its_tokens(
    client, provider, teams
):
    red, _ = teams
    pat = provider.person("pat", ["corral-red"])
    sign_in(client, "pat")
    user = get_user_model().objects.get(username="pat")
    _, secret = token_issue(user=user, name="ci", team=red)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.get("/api/v1/models").status_code == 200

    pat.groups = ["corral-red-leads", "corral-blue"]
    client.logout()
    sign_in(client, "pat")
    assert roles_of(user) == {"red": "admin", "blue": "member"}
    changed = AdminAction.objects.get(action="change", object_type="accounts.membership")
    assert (changed.before["role"], changed.after["role"]) == ("member", "admin")
    assert changed.after["groups"] == ["corral-blue", "corral-red-leads"]

    pat.groups = ["corral-blue"]
    client.logout()
    sign_in(client, "pat")
    assert roles_of(user) == {"blue": "member"}
    removed = AdminAction.objects.get(action="delete", object_type="accounts.membership")
    assert removed.before["team"] == red.pk and removed.after == {"groups": ["corral-blue"]}
    refused = api.get("/api/v1/models")
    assert refused.status_code == 401, refused.content


def test_a_person_whose_groups_map_to_nothing_is_refused_and_loses_what_the_rules_gave(
    client, provider, teams
):
    pat = provider.person("pat", ["corral-red"])
    sign_in(client, "pat")
    client.logout()
    pat.groups = ["wiki-editors"]
    response = sign_in(client, "pat")
    assert response.status_code == 403
    page = response.content.decode()
    assert "Sign-in refused" in page and "(wiki-editors) give no access to Corral" in page
    assert signed_in_as(client) is None
    assert roles_of(get_user_model().objects.get(username="pat")) == {}
    refusal = AdminAction.objects.get(action="refuse")
    assert refusal.after["reason"] == "unmapped" and refusal.after["groups"] == ["wiki-editors"]

    # a newcomer in no mapped group gets no account at all
    provider.person("newcomer", [])
    assert sign_in(client, "newcomer").status_code == 403
    assert not get_user_model().objects.filter(username="newcomer").exists()


def test_unmapped_people_get_the_default_access_when_so_configured(
    client, provider, teams, settings
):
    settings.CORRAL_OIDC_UNMAPPED = "allow"
    provider.person("pat", ["wiki-editors"])
    assert sign_in(client, "pat").status_code == 302
    assert signed_in_as(client) == "pat"
    assert roles_of(get_user_model().objects.get(username="pat")) == {}


def test_a_changed_email_or_a_taken_username_cannot_take_over_another_account(
    client, provider, teams
):
    pat = provider.person("pat", ["corral-red"])
    sign_in(client, "pat")
    client.logout()
    # another subject at the provider, with pat's address and pat's username
    mallory = provider.person("mallory", ["corral-blue"])
    mallory.email, provider.people["pat"] = pat.email, mallory
    mallory.username = "pat"
    sign_in(client, "pat")
    assert signed_in_as(client) == "pat-2"
    original = get_user_model().objects.get(username="pat")
    assert roles_of(original) == {"red": "member"}
    assert SsoIdentity.objects.get(user=original).subject == pat.sub


def test_operators_and_global_auditors_follow_their_groups_and_superusers_are_left_alone(
    client, provider, teams
):
    olga = provider.person("olga", ["corral-ops", "corral-audit"])
    sign_in(client, "olga")
    user = get_user_model().objects.get(username="olga")
    assert user.is_staff and set(user.groups.values_list("name", flat=True)) == {
        "Operators",
        "Global auditors",
    }
    olga.groups = ["corral-red"]
    client.logout()
    sign_in(client, "olga")
    user.refresh_from_db()
    assert not user.is_staff and not user.groups.exists()

    user.is_superuser = True
    user.save()
    olga.groups = []
    client.logout()
    assert sign_in(client, "olga").status_code == 302  # not refused, not changed
    assert roles_of(user) == {"red": "member"}


def refused(response, code: str, status: int = 400) -> None:
    assert response.status_code == status, response.content[:500]
    page = response.content.decode()
    assert "Sign-in refused" in page and f"<code>{code}</code>" in page


def test_a_tampered_or_reused_state_is_refused(client, provider, teams):
    provider.person("pat", ["corral-red"])
    flow = Flow(client, "pat")
    refused(flow.finish(flow.callback.replace(flow.state, flow.state[:-2] + "xx")), "bad_state")
    assert signed_in_as(client) is None
    assert flow.finish().status_code == 302  # the real answer still works once...
    client.logout()
    refused(flow.finish(), "bad_state")  # ...and never again
    assert AdminAction.objects.filter(action="refuse", after__reason="bad_state").count() == 2


def test_a_code_replayed_into_another_sign_in_is_refused(client, provider, teams):
    provider.person("pat", ["corral-red"])
    stolen = Flow(client, "pat")
    assert stolen.finish().status_code == 302
    attacker = client.__class__()
    own = Flow(attacker, "pat")
    response = own.finish(own.callback.replace(own.code, stolen.code))
    refused(response, "code_refused")
    assert signed_in_as(attacker) is None


@pytest.mark.parametrize(
    "misbehaviour, code",
    [
        ({"rogue_key": True}, "bad_signature"),
        ({"id_token_age": 3600}, "expired"),
        ({"audience": "another-client"}, "wrong_audience"),
        ({"userinfo_sub": "someone-else"}, "userinfo_mismatch"),
        ({"nonce": "the-nonce-of-another-sign-in"}, "untrusted_answer"),
    ],
)
def test_an_answer_the_provider_signed_wrongly_is_refused(
    client, provider, teams, misbehaviour, code
):
    provider.person("pat", ["corral-red"])
    provider.misbehave = Misbehaviour(**misbehaviour)
    refused(sign_in(client, "pat"), code)
    assert signed_in_as(client) is None
    assert not get_user_model().objects.filter(username="pat").exists()
    assert AdminAction.objects.get(action="refuse").after["reason"] == code


def test_a_deactivated_person_is_refused_whatever_their_groups(client, provider, teams):
    provider.person("pat", ["corral-red"])
    sign_in(client, "pat")
    client.logout()
    get_user_model().objects.filter(username="pat").update(is_active=False)
    refused(sign_in(client, "pat"), "inactive", status=403)
    assert signed_in_as(client) is None


def test_the_clock_skew_allowed_is_bounded(client, provider, teams, settings):
    settings.CORRAL_OIDC_CLOCK_SKEW_SECONDS = 60
    provider.person("pat", ["corral-red"])
    provider.misbehave.id_token_age = 300 + 30  # expired 30 s ago by the provider's clock
    assert sign_in(client, "pat").status_code == 302
    client.logout()
    provider.misbehave.id_token_age = 300 + 90
    refused(sign_in(client, "pat"), "expired")


def test_the_provider_saying_no_or_being_down_ends_on_a_clear_page(client, provider, settings):
    response = client.get("/sso/callback", {"error": "access_denied", "state": "x"})
    assert response.status_code == 403
    assert "did not sign you in: access_denied" in response.content.decode()
    settings.CORRAL_OIDC_ISSUER = "http://127.0.0.1:9"
    refused(client.get("/sso/start"), "provider_unreachable", status=502)


def test_passwords_can_be_switched_off(client, provider, settings):
    get_user_model().objects.create_user("local", password="a long passphrase 42")
    settings.CORRAL_PASSWORD_SIGN_IN = False
    settings.AUTHENTICATION_BACKENDS = [BACKEND]
    page = client.get("/login/").content.decode()
    assert "Sign in with Loopback" in page and 'name="password"' not in page
    response = client.post("/login/", {"username": "local", "password": "a long passphrase 42"})
    assert response.status_code == 403 and signed_in_as(client) is None
    admin = client.get("/admin/login/?next=/admin/audit/")
    assert admin.status_code == 302 and admin["Location"] == "/login/?next=%2Fadmin%2Faudit%2F"


@pytest.mark.parametrize(
    "asked, landed",
    [("/usage/", "/usage/"), ("https://evil.example/", "/"), ("//evil.example/x", "/")],
)
def test_after_sign_in_the_person_goes_where_they_were_headed_but_never_elsewhere(
    client, provider, teams, asked, landed
):
    provider.person("pat", ["corral-red"])
    response = Flow(client, "pat", next_url=asked).finish()
    assert response.status_code == 302 and response["Location"] == landed


def test_the_sign_in_page_offers_the_provider_beside_the_password(client, provider):
    page = client.get("/login/?next=/usage/").content.decode()
    assert 'href="/sso/start?next=/usage/"' in page and 'name="password"' in page
    assert "Sign in with Loopback" in client.get("/admin/login/").content.decode()


def test_signing_out_ends_the_providers_session_too(client, provider, teams):
    pat = provider.person("pat", ["corral-red"])
    sign_in(client, "pat")
    response = client.post("/logout/")
    assert response.status_code == 302
    assert response["Location"].startswith(f"{provider.issuer}/logout?id_token_hint=")
    assert signed_in_as(client) is None
    back = requests.get(response["Location"], allow_redirects=False, timeout=10)
    assert back.status_code == 302 and back.headers["Location"] == "http://testserver/login/"
    assert provider.ended_sessions == [pat.sub]


def test_only_superusers_edit_the_group_rules(client, provider, teams):
    """A rule can make operators and global auditors: an operator who could edit the rules could
    make themselves a global auditor through a group they are in."""
    operator = get_user_model().objects.create_user("oscar")
    user_make_staff(user=operator)
    client.force_login(operator)
    assert client.get("/admin/accounts/ssogrouprule/").status_code == 403
    created = client.post(
        "/admin/accounts/ssogrouprule/add/", {"group": "corral-ops", "global_auditor": "on"}
    )
    assert created.status_code == 403
    assert not SsoGroupRule.objects.filter(global_auditor=True, group="corral-ops").exists()


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(
    "postgresql" not in django_settings.DATABASES["default"]["ENGINE"],
    reason="SQLite runs one writing transaction at a time: the two sign-ins cannot overlap there",
)
def test_two_first_sign_ins_of_one_person_at_once_make_one_account(provider, teams, monkeypatch):
    from django.db import connection
    from django.test import Client

    from accounts.sso import services

    provider.person("pat", ["corral-red"])
    flows = [Flow(Client(), "pat"), Flow(Client(), "pat")]
    together = threading.Barrier(2, timeout=10)
    create = services._identity_create

    def racing(**kwargs):
        together.wait()  # both have looked for the subject and found none
        return create(**kwargs)

    monkeypatch.setattr(services, "_identity_create", racing)
    answers = []

    def finish(flow):
        try:
            answers.append(flow.finish().status_code)
        except Exception:
            import traceback

            traceback.print_exc()
        finally:
            connection.close()

    threads = [threading.Thread(target=finish, args=(flow,)) for flow in flows]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert answers == [302, 302]
    assert list(get_user_model().objects.values_list("username", flat=True)) == ["pat"]
    assert SsoIdentity.objects.count() == 1


@pytest.fixture
def alice(db, teams):
    """A person who signed in with a password before single sign-on, with a token for red."""
    red, _ = teams
    user = get_user_model().objects.create_user("alice", password="a long passphrase 42")
    Membership.objects.create(team=red, user=user, role="member")
    _, secret = token_issue(user=user, name="laptop", team=red)
    return user, secret


def test_a_password_account_is_connected_when_its_owner_asks_and_keeps_its_tokens(
    client, provider, alice
):
    user, secret = alice
    pat = provider.person("alice.smith", ["corral-red"])
    client.force_login(user)
    assert "Connect to Loopback" in client.get("/tokens/").content.decode()
    asked = client.post("/sso/connect")
    assert asked.status_code == 302 and asked["Location"].startswith("/sso/start?next=")
    response = Flow(client, "alice.smith", next_url="/tokens/").finish()
    assert response.status_code == 302 and response["Location"] == "/tokens/"
    assert signed_in_as(client) == "alice"
    assert SsoIdentity.objects.get(subject=pat.sub).user == user
    assert get_user_model().objects.count() == 1  # no second account
    assert "You sign in with Loopback" in client.get("/tokens/").content.decode()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert api.get("/api/v1/models").status_code == 200
    linked = AdminAction.objects.get(object_type="accounts.ssoidentity")
    assert (linked.actor_username, linked.after["groups"]) == ("alice", ["corral-red"])


def test_being_signed_in_is_not_asking_to_connect(client, provider, alice):
    """A page that sends a signed-in person through a sign-in (GET /sso/start) must not tie the
    provider account that comes back to their Corral account."""
    user, _ = alice
    provider.person("mallory", ["corral-red"])
    client.force_login(user)
    assert Flow(client, "mallory").finish().status_code == 302
    assert signed_in_as(client) == "mallory"
    assert not SsoIdentity.objects.filter(user=user).exists()


def test_connecting_needs_the_form_with_its_csrf_token(provider, alice):
    from django.test import Client

    user, _ = alice
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    assert browser.get("/sso/connect").status_code == 405
    assert browser.post("/sso/connect").status_code == 403


def test_a_provider_account_that_signs_in_elsewhere_is_not_connected(client, provider, alice):
    user, _ = alice
    provider.person("pat", ["corral-red"])
    sign_in(client, "pat")  # pat's provider account has its own Corral account now
    client.logout()
    client.force_login(user)
    client.post("/sso/connect")
    refused(Flow(client, "pat").finish(), "connected_elsewhere", status=403)
    assert not SsoIdentity.objects.filter(user=user).exists()
    assert signed_in_as(client) == "alice"  # still signed in as before, nothing changed
