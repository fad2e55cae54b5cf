"""The admin for backends, routes, teams and tokens; audit records are read-only there."""

import pytest

from accounts.models import ApiToken
from accounts.tokens import digest
from audit.models import AuditRecord
from tests.conftest import MODEL

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path",
    [
        "/admin/",
        "/admin/gateway/backend/",
        "/admin/gateway/backend/add/",
        "/admin/gateway/modelroute/",
        "/admin/gateway/modelroute/add/",
        "/admin/accounts/team/",
        "/admin/accounts/team/add/",
        "/admin/accounts/apitoken/",
        "/admin/accounts/apitoken/add/",
        "/admin/audit/auditrecord/",
    ],
)
def test_admin_pages_render(admin_client, route, path):
    assert admin_client.get(path).status_code == 200


def test_admin_issues_a_token_and_shows_the_secret_once(admin_client, user):
    response = admin_client.post(
        "/admin/accounts/apitoken/add/", {"user": user.pk, "name": "laptop"}, follow=True
    )
    assert response.status_code == 200
    token = ApiToken.objects.get(name="laptop")
    shown = [str(m) for m in response.context["messages"]]
    secret = next(m for m in shown if "crl_" in m).rsplit(" ", 1)[-1]
    assert secret.startswith(token.prefix) and token.secret_hash == digest(secret)
    listing = admin_client.get("/admin/accounts/apitoken/").content.decode()
    assert token.prefix in listing and secret not in listing


def test_admin_revokes_tokens(admin_client, token):
    stored = ApiToken.objects.get()
    admin_client.post(
        "/admin/accounts/apitoken/",
        {"action": "revoke", "_selected_action": [stored.pk]},
    )
    stored.refresh_from_db()
    assert stored.revoked_at is not None


def test_audit_records_cannot_be_added_changed_or_deleted(admin_client, api, route):
    record_id = api.post(
        "/api/v1/chat",
        {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]},
        format="json",
    ).json()["id"]
    assert admin_client.get("/admin/audit/auditrecord/add/").status_code == 403
    page = admin_client.get(f"/admin/audit/auditrecord/{record_id}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
    response = admin_client.post(
        f"/admin/audit/auditrecord/{record_id}/change/", {"completion": "tampered"}
    )
    assert response.status_code == 403
    assert admin_client.post(f"/admin/audit/auditrecord/{record_id}/delete/").status_code == 403
    assert AuditRecord.objects.get(id=record_id).completion == "You said: hi"


def test_the_audit_list_filters_by_the_configured_models(admin_client, route):
    """The model filter's choices are the gateway's routes (named to the audit app at start)."""
    page = admin_client.get("/admin/audit/auditrecord/").content.decode()
    assert f"?model={MODEL}" in page.replace("&amp;", "&")
