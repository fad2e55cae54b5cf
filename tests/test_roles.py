"""Role boundaries: members, team admins, auditors and staff, in the admin and the API; and the
admin action log that records every change."""

import pytest
from django.test import Client

from accounts.models import Membership
from accounts.services import membership_ensure, team_get_or_create, token_issue, user_create
from audit.models import AdminAction

pytestmark = pytest.mark.django_db


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def teams(db):
    research = team_get_or_create(slug="research")
    finance = team_get_or_create(slug="finance")
    return research, finance


@pytest.fixture
def team_admin(teams):
    admin = user_create(username="tia")
    membership_ensure(team=teams[0], user=admin, role=Membership.Role.ADMIN)
    return admin


@pytest.fixture
def auditor(teams):
    user = user_create(username="audrey")
    membership_ensure(team=teams[1], user=user, role=Membership.Role.AUDITOR)
    return user


def test_a_plain_member_has_no_admin(teams):
    member = user_create(username="max")
    membership_ensure(team=teams[0], user=member)
    response = login(member).get("/admin/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_a_team_admin_sees_and_changes_only_their_team(team_admin, teams):
    research, finance = teams
    client = login(team_admin)
    listing = client.get("/admin/accounts/team/").content.decode()
    assert "research" in listing and "finance" not in listing
    response = client.post(
        f"/admin/accounts/team/{research.pk}/change/",
        {
            "requests_per_minute": "30",
            "tokens_per_day": "",
            "tokens_per_month": "",
            "memberships-TOTAL_FORMS": "1",
            "memberships-INITIAL_FORMS": "1",
            "memberships-MIN_NUM_FORMS": "0",
            "memberships-MAX_NUM_FORMS": "1000",
            "memberships-0-id": str(research.memberships.get().pk),
            "memberships-0-team": str(research.pk),
            "memberships-0-user": str(team_admin.pk),
            "memberships-0-role": "admin",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    research.refresh_from_db()
    assert research.requests_per_minute == 30
    logged = AdminAction.objects.get(object_type="accounts.team", action="change")
    assert logged.actor == team_admin
    assert (
        logged.before["requests_per_minute"] is None and logged.after["requests_per_minute"] == 30
    )

    other = client.get(f"/admin/accounts/team/{finance.pk}/change/")
    assert other.status_code == 302  # "doesn't exist": outside what a team admin can see
    assert (
        client.post(f"/admin/accounts/team/{finance.pk}/change/", {"slug": "x"}).status_code == 302
    )
    finance.refresh_from_db()
    assert finance.slug == "finance"
    assert client.get("/admin/gateway/backend/").status_code == 403
    assert client.get("/admin/accounts/team/add/").status_code == 403


def test_a_team_admin_cannot_appoint_auditors(team_admin, teams):
    page = login(team_admin).get(f"/admin/accounts/team/{teams[0].pk}/change/").content.decode()
    assert 'value="member"' in page and 'value="admin"' in page
    assert 'value="auditor"' not in page


def test_a_team_admin_manages_their_teams_tokens_only(team_admin, teams):
    research, finance = teams
    alice = user_create(username="alice")
    membership_ensure(team=research, user=alice)
    bob = user_create(username="bob")
    membership_ensure(team=finance, user=bob)
    ours, _ = token_issue(user=alice, name="ours", team=research)
    theirs, _ = token_issue(user=bob, name="theirs", team=finance)
    client = login(team_admin)
    listing = client.get("/admin/accounts/apitoken/").content.decode()
    assert ours.prefix in listing and theirs.prefix not in listing
    client.post(
        "/admin/accounts/apitoken/",
        {"action": "revoke", "_selected_action": [ours.pk, theirs.pk]},
    )
    ours.refresh_from_db()
    theirs.refresh_from_db()
    assert ours.revoked_at is not None and theirs.revoked_at is None
    revoke = AdminAction.objects.get(action="revoke")
    assert revoke.actor == team_admin and revoke.object_id == str(ours.pk)


def test_token_changes_are_logged_without_secrets(api, user):
    created = api.post("/api/v1/tokens", {"name": "logged"}, format="json").json()
    api.delete(f"/api/v1/tokens/{created['id']}")
    create, revoke = (
        AdminAction.objects.get(
            action="create", object_type="accounts.apitoken", object_id=str(created["id"])
        ),
        AdminAction.objects.get(action="revoke"),
    )
    assert create.actor == user and create.after["prefix"] == created["prefix"]
    assert revoke.before["revoked_at"] is None and revoke.after["revoked_at"]
    for entry in (create, revoke):
        dumped = str(entry.before) + str(entry.after)
        assert "secret_hash" not in dumped and created["token"].split("_", 2)[2] not in dumped


def test_the_admin_action_log_is_read_only(admin_client, api):
    api.post("/api/v1/tokens", {"name": "x"}, format="json")
    entry = AdminAction.objects.first()
    assert admin_client.get("/admin/audit/adminaction/add/").status_code == 403
    assert admin_client.post(f"/admin/audit/adminaction/{entry.pk}/change/", {}).status_code == 403
    assert (
        admin_client.post(
            f"/admin/audit/adminaction/{entry.pk}/delete/", {"post": "yes"}
        ).status_code
        == 403
    )


def test_staff_changes_to_routes_and_backends_are_logged(admin_client, backend):
    admin_client.post(
        "/admin/gateway/modelroute/add/",
        {
            "name": "m1",
            "default_options": "{}",
            "enabled": "on",
            "targets-TOTAL_FORMS": "1",
            "targets-INITIAL_FORMS": "0",
            "targets-0-backend": backend.pk,
            "targets-0-upstream_model": "m1:latest",
            "targets-0-priority": "0",
            "targets-0-weight": "2",
            "targets-0-enabled": "on",
        },
    )
    created = AdminAction.objects.get(object_type="gateway.modelroute")
    assert created.action == "create" and created.after["name"] == "m1"
    target = AdminAction.objects.get(object_type="gateway.routetarget")
    assert target.action == "create" and target.after["upstream_model"] == "m1:latest"
    assert target.after["weight"] == 2
    admin_client.post(f"/admin/gateway/modelroute/{created.object_id}/delete/", {"post": "yes"})
    assert AdminAction.objects.filter(object_type="gateway.modelroute", action="delete").exists()
