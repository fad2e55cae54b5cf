"""The access table of docs/security.md, played cell by cell.

The table is read from the document itself, so it cannot say one thing while the code does another.
Every row has a probe that performs the action through the real admin, web pages, API or doors, as
each role, on objects of the role's own team, of another team and (where objects have owners) its
own, and tells whether the action took effect. Each probe runs in a savepoint that is rolled back,
so every attempt meets the same world. A person who is admin of one team and auditor of another is
played through every row as well: on each object, what one of the two roles allows, never more."""

from collections.abc import Callable

import pytest
from django.db import transaction

from accounts.models import ApiToken, Membership, SsoGroupRule, Team, UserLimits
from accounts.services import token_issue
from audit.models import AuditCheckpoint, AuditRecord, ChainVerification
from gateway.models import BackendHealth, Completion, ModelRoute
from tests.support.access_world import (
    GLOBAL,
    MIXED,
    OWN_TEAM_OTHER,
    ROLES,
    TEAMS,
    Actor,
    Target,
    World,
    actor_for,
    allowed,
    build_world,
    read_table,
    target_of,
)
from tests.support.admin_forms import team_form

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(backend, settings) -> World:
    settings.CORRAL_MODEL_ACCESS_DEFAULT = "none"
    return build_world(backend)


# --- probes: each performs the action and says whether it took effect ----------------------------

Probe = Callable[[World, Actor, Target], bool]
PROBES: dict[str, tuple[list[str], Probe]] = {}
# Rows about using a model with a token: a token acts for one team, so there "team" is the token's
# team, whatever other teams its owner holds a role in.
TOKEN_TEAM_ROWS: set[str] = set()


def probe(action: str, targets: list[str], *, token_team: bool = False):
    def register(function: Probe) -> Probe:
        PROBES[action] = (targets, function)
        if token_team:
            TOKEN_TEAM_ROWS.add(action)
        return function

    return register


def _shows(response, marker: str) -> bool:
    if response.status_code != 200:
        return False
    body = (
        b"".join(response.streaming_content) if response.streaming else response.content
    ).decode()
    return marker in body


@probe("admin: read audit records", OWN_TEAM_OTHER)
def read_records(w, actor, target):
    record = w.records[target.owner]
    response = actor.session.get(f"/admin/audit/auditrecord/{record.pk}/change/")
    return _shows(response, f"prompt-of-{target.owner}")


@probe("admin: export audit records", OWN_TEAM_OTHER)
def export_records(w, actor, target):
    response = actor.session.get("/admin/audit/auditrecord/export/jsonl/")
    return _shows(response, f"prompt-of-{target.owner}")


@probe("admin: usage dashboard", ["rita", "fay"])
def dashboard(w, actor, target):
    response = actor.session.get("/admin/audit/auditrecord/dashboard/?days=7")
    return _shows(response, f"<tr><td>{target.owner}</td>")


@probe("admin: change or delete an audit record", OWN_TEAM_OTHER)
def delete_record(w, actor, target):
    record = w.records[target.owner]
    actor.session.post(f"/admin/audit/auditrecord/{record.pk}/delete/", {"post": "yes"})
    actor.session.post(f"/admin/audit/auditrecord/{record.pk}/change/", {"model": "changed"})
    current = AuditRecord.objects.filter(pk=record.pk).first()
    return current is None or current.model != record.model


@probe("admin: read the admin action log", GLOBAL)
def read_action_log(w, actor, target):
    return _shows(actor.session.get("/admin/audit/adminaction/"), w.tokens["fay"].prefix)


@probe("admin: read tokens", OWN_TEAM_OTHER)
def read_token(w, actor, target):
    token = w.tokens[target.owner]
    response = actor.session.get(f"/admin/accounts/apitoken/{token.pk}/change/")
    return _shows(response, token.prefix)


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
    return _shows(response, f">{member}<")


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
    return _shows(backend, w.backend.base_url) and _shows(route, "qwen3:0.6b")


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
    return _shows(response, checkpoint.head_hash)


@probe("admin: verify the audit chain now", GLOBAL)
def verify_chain_now(w, actor, target):
    # a request joins one already waiting, so the answer, not a new row, says who may ask
    response = actor.session.post("/admin/audit/auditrecord/verify/")
    return response.status_code == 302 and ChainVerification.objects.exists()


@probe("admin: read user limits", GLOBAL)
def read_user_limits(w, actor, target):
    limits = UserLimits.objects.get(user=w.users["fay"])
    response = actor.session.get(f"/admin/accounts/userlimits/{limits.pk}/change/")
    return _shows(response, 'value="100"') or _shows(response, '<div class="readonly">100</div>')


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
    return _shows(response, "probe-group")


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
    return _shows(actor.session.get(f"/admin/gateway/completion/{job.pk}/change/"), str(job.pk))


@probe("admin: read the OTLP outbox", GLOBAL)
def read_outbox(w, actor, target):
    return actor.session.get("/admin/gateway/otlpbatch/").status_code == 200


# --- the web pages, signed in ---------------------------------------------------------------------

MODELS = ["research", "finance"]  # research's model (llama3.2) and finance's (qwen3)


def _model(w: World, target: Target) -> str:
    return w.route_a.name if target.team == "research" else w.route_b.name


def _question(w, target) -> dict:
    return {"model": _model(w, target), "messages": [{"role": "user", "content": "hi"}]}


@probe("web: chat with a model", MODELS)
def web_chat(w, actor, target):
    response = actor.session.post("/api/v1/chat", _question(w, target), "application/json")
    return response.status_code == 200


@probe("web: issue and revoke tokens", ["own", "rita"])
def web_tokens(w, actor, target):
    if target.owner != actor.name:
        token = w.tokens[target.owner]
        actor.session.post(f"/tokens/{token.pk}/revoke")
        token.refresh_from_db()
        return token.revoked_at is not None
    team = w.team(actor.team)
    actor.session.post(
        "/tokens/",
        {"name": "web-probe", "team": team.pk if team else ""},
    )
    made = ApiToken.objects.filter(name="web-probe", user=actor.user).first()
    if made is None:
        return False
    actor.session.post(f"/tokens/{made.pk}/revoke")
    made.refresh_from_db()
    return made.revoked_at is not None


# --- the API and the doors, with the person's own token ---------------------------------------------


@probe("api: chat", MODELS, token_team=True)
def api_chat(w, actor, target):
    return actor.api.post("/api/v1/chat", _question(w, target), format="json").status_code == 200


@probe("ollama door: chat", MODELS, token_team=True)
def ollama_chat(w, actor, target):
    body = {**_question(w, target), "stream": False}
    return actor.api.post("/ollama/api/chat", body, format="json").status_code == 200


@probe("openai door: chat", MODELS, token_team=True)
def openai_chat(w, actor, target):
    response = actor.api.post("/v1/chat/completions", _question(w, target), format="json")
    return response.status_code == 200


@probe("ollama door: pull, create, copy, push and delete models", GLOBAL)
def manage_models(w, actor, target):
    pulled = actor.api.post("/ollama/api/pull", {"model": "probe", "stream": False}, format="json")
    return pulled.status_code == 200 and ModelRoute.objects.filter(name="probe:latest").exists()


@probe("api: list models", MODELS, token_team=True)
def list_models(w, actor, target):
    response = actor.api.get("/api/v1/models")
    return response.status_code == 200 and _model(w, target) in response.content.decode()


@probe("api: read calls", OWN_TEAM_OTHER)
def read_calls(w, actor, target):
    record = w.records[target.owner]
    detail = actor.api.get(f"/api/v1/calls/{record.pk}")
    listed = actor.api.get("/api/v1/calls", {"page_size": 100})
    shown = detail.status_code == 200 and f"prompt-of-{target.owner}" in detail.content.decode()
    assert (str(record.pk) in listed.content.decode()) == shown, "the list and the detail disagree"
    return shown


@probe("api: make a token", ["own"])
def api_make_token(w, actor, target):
    response = actor.api.post("/api/v1/tokens", {"name": "api-probe"}, format="json")
    return (
        response.status_code == 201
        and ApiToken.objects.get(pk=response.json()["id"]).user == actor.user
    )


@probe("api: revoke a token", OWN_TEAM_OTHER)
def api_revoke_token(w, actor, target):
    if target.owner == actor.name:
        token, _ = token_issue(user=actor.user, name="spare", team=w.team(actor.team))
    else:
        token = w.tokens[target.owner]
    actor.api.delete(f"/api/v1/tokens/{token.pk}")
    token.refresh_from_db()
    return token.revoked_at is not None


@probe("api: submit an async completion", MODELS, token_team=True)
def submit_job(w, actor, target):
    response = actor.api.post("/api/v1/completions", _question(w, target), format="json")
    return response.status_code == 202


@probe("api: read and cancel async completions", OWN_TEAM_OTHER)
def read_and_cancel_job(w, actor, target):
    job = w.jobs[target.owner]
    read = actor.api.get(f"/api/v1/completions/{job.pk}").status_code == 200
    actor.api.post(f"/api/v1/completions/{job.pk}/cancel")
    job.refresh_from_db()
    assert read == (job.status == Completion.Status.CANCELLED), "read and cancel disagree"
    return read


# --- the test -----------------------------------------------------------------------------------

TABLE_ROWS = read_table()


class Rollback(Exception):
    pass


def attempt(world: World, actor: Actor, function: Probe, target: Target) -> bool:
    try:
        with transaction.atomic():
            result = function(world, actor, target)
            raise Rollback
    except Rollback:
        return result


def test_every_row_has_a_probe_and_every_probe_a_row():
    assert set(TABLE_ROWS) == set(PROBES), set(TABLE_ROWS) ^ set(PROBES)


@pytest.mark.parametrize("action", sorted(TABLE_ROWS))
def test_the_access_table(world, action):
    """Every role, on every kind of object, allowed exactly where the table says so."""
    kinds, function = PROBES[action]
    cells = TABLE_ROWS[action]
    wrong = []
    for column in [*ROLES, MIXED]:
        actor = actor_for(world, column)
        for kind in kinds:
            target = target_of(world, actor, kind)
            expected = any(
                allowed(
                    cells[role], actor.team if action in TOKEN_TEAM_ROWS else team, actor, target
                )
                for role, team in actor.grants
            )
            if attempt(world, actor, function, target) != expected:
                verb = "was allowed" if not expected else "was refused"
                wrong.append(f"{column} on {target.name}: {verb}")
    assert not wrong, f"{action}: " + "; ".join(wrong)
