"""Who signs in and what their groups give them, against the OpenID provider on loopback: people
are found by subject (never by address or username), teams, roles, operators and global auditors
follow the group rules at every sign-in and are logged with the groups seen, and a password account
is connected to a provider account only when its owner asks."""

import threading

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import SsoGroupRule, SsoIdentity
from accounts.services import token_issue, user_make_staff
from accounts.sso import services
from audit.models import AdminAction
from tests.support.sso import Flow, refused, roles_of, sign_in, signed_in_as

pytestmark = pytest.mark.django_db


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


def test_a_deactivated_person_is_refused_whatever_their_groups(client, provider, teams):
    provider.person("pat", ["corral-red"])
    sign_in(client, "pat")
    client.logout()
    get_user_model().objects.filter(username="pat").update(is_active=False)
    refused(sign_in(client, "pat"), "inactive", status=403)
    assert signed_in_as(client) is None


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
    assert AdminAction.objects.filter(action="refuse").count() == 1
    assert not SsoIdentity.objects.filter(user=user).exists()
    assert signed_in_as(client) == "alice"  # still signed in as before, nothing changed
