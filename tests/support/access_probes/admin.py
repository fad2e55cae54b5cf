"""The access table's rows about the admin: each probe works through the admin's real pages."""

from accounts.models import ApiToken, Membership, SsoGroupRule, Team, UserLimits
from audit.models import AuditCheckpoint, AuditRecord, ChainVerification
from gateway.models import BackendHealth, ModelRoute
from tests.support.access_probes.registry import probe, shows
from tests.support.access_world import (
    GLOBAL,
    OWN_TEAM_OTHER,
    TEAMS,
    Actor,
)
from tests.support.admin_forms import team_form


@probe("admin: read audit records", OWN_TEAM_OTHER)
def read_records(w, actor, target):
    record = w.records[target.owner]
    response = actor.session.get(f"/admin/audit/auditrecord/{record.pk}/change/")
    return shows(response, f"prompt-of-{target.owner}")


@probe("admin: export audit records", OWN_TEAM_OTHER)
def export_records(w, actor, target):
    response = actor.session.get("/admin/audit/auditrecord/export/jsonl/")
    return shows(response, f"prompt-of-{target.owner}")


@probe("admin: usage dashboard", ["rita", "fay"])
def dashboard(w, actor, target):
    response = actor.session.get("/admin/audit/auditrecord/dashboard/?days=7")
    return shows(response, f"<tr><td>{target.owner}</td>")


@probe("admin: change or delete an audit record", OWN_TEAM_OTHER)
def delete_record(w, actor, target):
    record = w.records[target.owner]
    actor.session.post(f"/admin/audit/auditrecord/{record.pk}/delete/", {"post": "yes"})
    actor.session.post(f"/admin/audit/auditrecord/{record.pk}/change/", {"model": "changed"})
    current = AuditRecord.objects.filter(pk=record.pk).first()
    return current is None or current.model != record.model


@probe("admin: read the admin action log", GLOBAL)
def read_action_log(w, actor, target):
    return shows(actor.session.get("/admin/audit/adminaction/"), w.tokens["fay"].prefix)


@probe("admin: read tokens", OWN_TEAM_OTHER)
def read_token(w, actor, target):
    token = w.tokens[target.owner]
    response = actor.session.get(f"/admin/accounts/apitoken/{token.pk}/change/")
    return shows(response, token.prefix)


@probe("admin: revoke tokens", OWN_TEAM_OTHER)
def revoke_token_in_admin(w, actor, target):
    token = w.tokens[target.owner]
    actor.session.post(
        "/admin/accounts/apitoken/", {"action": "revoke", "_selected_action": [token.pk]}
    )
    token.refresh_from_db()
    return token.revoked_at is not None


@probe("admin: issue a token", ["own", "rita"])
def issue_token_in_admin(w, actor, target):
    owner = w.users[target.owner]
    team = w.team(actor.team)
    actor.session.post(
        "/admin/accounts/apitoken/add/",
        {
            "user": owner.pk,  # asking for someone else's must make no token for them
            "team": team.pk if team else "",
            "name": "admin-probe",
            "expires_at_0": "",
            "expires_at_1": "",
            "requests_per_minute": "",
            "tokens_per_day": "",
            "tokens_per_month": "",
        },
    )
    return ApiToken.objects.filter(name="admin-probe", user=owner).exists()


def _post_team(actor: Actor, team: Team, **form) -> None:
    actor.session.post(f"/admin/accounts/team/{team.pk}/change/", team_form(team, **form))


@probe("admin: read teams and their people", TEAMS)
def read_team(w, actor, target):
    team = w.team(target.team)
    response = actor.session.get(f"/admin/accounts/team/{team.pk}/change/")
    member = "rita" if team == w.research else "fay"
    return shows(response, f">{member}<")


@probe("admin: change a team's limits", TEAMS)
def change_team_limits(w, actor, target):
    team = w.team(target.team)
    _post_team(actor, team, requests_per_minute=77)
    team.refresh_from_db()
    return team.requests_per_minute == 77


@probe("admin: change a team's models", TEAMS)
def change_team_models(w, actor, target):
    team = w.team(target.team)
    _post_team(actor, team, all_models="on")
    team.refresh_from_db()
    return team.all_models


def _membership_added(w, actor, target, person: str, role: str) -> bool:
    team = w.team(target.team)
    _post_team(actor, team, extra_rows=[(w.users[person], role)])
    return Membership.objects.filter(team=team, user=w.users[person], role=role).exists()


@probe("admin: add a person to a team", TEAMS)
def add_person(w, actor, target):
    return _membership_added(w, actor, target, "nora", Membership.Role.MEMBER)


@probe("admin: add a staff member or auditor to a team", TEAMS)
def add_privileged_person(w, actor, target):
    return any(
        _membership_added(w, actor, target, person, Membership.Role.MEMBER)
        for person in ("root", "oscar", "gail")
    )


@probe("admin: appoint a team auditor", TEAMS)
def appoint_auditor(w, actor, target):
    return _membership_added(w, actor, target, "nora", Membership.Role.AUDITOR)


@probe("admin: remove a person from a team", TEAMS)
def remove_person(w, actor, target):
    team = w.team(target.team)
    person = "rita" if team == w.research else "fay"
    _post_team(actor, team, delete_user=person)
    return not Membership.objects.filter(team=team, user=w.users[person]).exists()


@probe("admin: create a team", GLOBAL)
def create_team(w, actor, target):
    actor.session.post(
        "/admin/accounts/team/add/",
        {
            "slug": "newteam",
            "name": "New team",
            "capture_content": "unknown",
            "memberships-TOTAL_FORMS": 0,
            "memberships-INITIAL_FORMS": 0,
            "memberships-MIN_NUM_FORMS": 0,
            "memberships-MAX_NUM_FORMS": 1000,
        },
    )
    return Team.objects.filter(slug="newteam").exists()


@probe("admin: read backends and routes", GLOBAL)
def read_backends(w, actor, target):
    backend = actor.session.get(f"/admin/gateway/backend/{w.backend.pk}/change/")
    route = actor.session.get(f"/admin/gateway/modelroute/{w.route_b.pk}/change/")
    return shows(backend, w.backend.base_url) and shows(route, "qwen3:0.6b")


@probe("admin: change backends and routes", GLOBAL)
def change_backends(w, actor, target):
    actor.session.post(f"/admin/gateway/modelroute/{w.route_b.pk}/delete/", {"post": "yes"})
    return not ModelRoute.objects.filter(pk=w.route_b.pk).exists()


@probe("admin: run the backends' actions (test, import models)", GLOBAL)
def backend_actions(w, actor, target):
    actor.session.post(
        "/admin/gateway/backend/", {"action": "test_connection", "_selected_action": [w.backend.pk]}
    )
    return BackendHealth.objects.filter(backend=w.backend).exists()


@probe("admin: read the audit checkpoints", GLOBAL)
def read_checkpoints(w, actor, target):
    checkpoint = AuditCheckpoint.objects.get()
    response = actor.session.get(f"/admin/audit/auditcheckpoint/{checkpoint.pk}/change/")
    return shows(response, checkpoint.head_hash)


@probe("admin: verify the audit chain now", GLOBAL)
def verify_chain_now(w, actor, target):
    # a request joins one already waiting, so the answer, not a new row, says who may ask
    response = actor.session.post("/admin/audit/auditrecord/verify/")
    return response.status_code == 302 and ChainVerification.objects.exists()


@probe("admin: read user limits", GLOBAL)
def read_user_limits(w, actor, target):
    limits = UserLimits.objects.get(user=w.users["fay"])
    response = actor.session.get(f"/admin/accounts/userlimits/{limits.pk}/change/")
    return shows(response, 'value="100"') or shows(response, '<div class="readonly">100</div>')


@probe("admin: change user limits", GLOBAL)
def change_user_limits(w, actor, target):
    limits = UserLimits.objects.get(user=w.users["fay"])
    actor.session.post(
        f"/admin/accounts/userlimits/{limits.pk}/change/",
        {"user": w.users["fay"].pk, "requests_per_minute": 5},
    )
    limits.refresh_from_db()
    return limits.requests_per_minute == 5


def _sso_rule() -> SsoGroupRule:
    return SsoGroupRule.objects.get_or_create(group="probe-group", defaults={"operator": True})[0]


@probe("admin: read single sign-on rules", GLOBAL)
def read_sso_rules(w, actor, target):
    response = actor.session.get(f"/admin/accounts/ssogrouprule/{_sso_rule().pk}/change/")
    return shows(response, "probe-group")


@probe("admin: change single sign-on rules", GLOBAL)
def change_sso_rules(w, actor, target):
    rule = _sso_rule()
    actor.session.post(
        f"/admin/accounts/ssogrouprule/{rule.pk}/change/",
        {"group": "probe-group", "role": "", "operator": "on", "global_auditor": "on"},
    )
    rule.refresh_from_db()
    return rule.global_auditor


@probe("admin: read async jobs", ["rita", "fay"])
def read_jobs(w, actor, target):
    job = w.jobs[target.owner]
    return shows(actor.session.get(f"/admin/gateway/completion/{job.pk}/change/"), str(job.pk))


@probe("admin: read the OTLP outbox", GLOBAL)
def read_outbox(w, actor, target):
    return actor.session.get("/admin/gateway/otlpbatch/").status_code == 200
