"""The world the access table is played in (tests/test_access_table.py): two teams with a model
each, one person per role, and objects of every kind owned by each of them."""

from dataclasses import dataclass, field
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import roles
from accounts.models import ApiToken, Membership, Team, UserLimits
from accounts.services import membership_ensure, team_get_or_create, token_issue, user_create
from audit.chain import audit_chain_seal
from audit.models import AuditRecord
from audit.services import audit_record_finalize, audit_record_open
from common.ids import uuid7
from gateway.models import Backend, Completion, ModelRoute
from gateway.services import route_create

TABLE = Path(__file__).resolve().parent.parent.parent / "docs" / "security.md"
ROLES = [
    "superuser",
    "operator",
    "global auditor",
    "team admin",
    "team auditor",
    "member",
    "token holder",
]
MIXED = "admin of research, auditor of finance"


def read_table() -> dict[str, dict[str, str]]:
    text = TABLE.read_text()
    section = text.split("## Who may do what", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ")]
    header = [cell.strip() for cell in rows[0].strip("|").split("|")]
    assert header == ["action", *ROLES], header
    table = {}
    for line in rows[1:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        assert all(cell in ("all", "team", "own", "—") for cell in cells[1:]), line
        table[cells[0]] = dict(zip(ROLES, cells[1:], strict=True))
    return table


@dataclass(frozen=True)
class Target:
    """What a probe acts on: owned by a person (owner) and/or belonging to a team (team slug)."""

    name: str
    owner: str | None = None
    team: str | None = None


@dataclass
class Actor:
    name: str
    user: object | None
    team: str | None  # the team their own objects belong to
    session: Client
    api: APIClient
    grants: list[tuple[str, str | None]] = field(default_factory=list)  # (role column, its team)


def allowed(cell: str, role_team: str | None, actor: Actor, target: Target) -> bool:
    if cell == "all":
        return True
    if cell == "own":
        return target.owner is not None and target.owner == actor.name
    if cell == "team":
        return role_team is not None and target.team == role_team
    return False


@dataclass
class World:
    research: Team
    finance: Team
    route_a: ModelRoute  # research's model
    route_b: ModelRoute  # finance's model
    backend: Backend
    users: dict[str, object]
    tokens: dict[str, ApiToken]
    secrets: dict[str, str]
    records: dict[str, AuditRecord]
    jobs: dict[str, Completion]

    def team(self, slug: str | None) -> Team | None:
        return {"research": self.research, "finance": self.finance}.get(slug)


PEOPLE = {
    # name: (role column, team, membership role)
    "root": ("superuser", None, None),
    "oscar": ("operator", None, None),
    "gail": ("global auditor", None, None),
    "tia": ("team admin", "research", Membership.Role.ADMIN),
    "tom": ("team auditor", "research", Membership.Role.AUDITOR),
    "max": ("member", "research", Membership.Role.MEMBER),
    "svc": ("token holder", "research", Membership.Role.MEMBER),
    "rita": (None, "research", Membership.Role.MEMBER),  # a colleague: owns research's objects
    "fay": (None, "finance", Membership.Role.MEMBER),  # owns finance's objects
}


def _record(user, team: Team | None, marker: str) -> AuditRecord:
    record_id = uuid7()
    audit_record_open(
        record_id=record_id,
        started_at=timezone.now(),
        user=user,
        team=team,
        token_prefix="",
        client_ip=None,
        user_agent="",
        surface=AuditRecord.Surface.API,
        operation=AuditRecord.Operation.CHAT,
        model="llama3.2",
        upstream_model="llama3.2:latest",
        backend_id=None,
        backend_name="",
        stream=False,
        options={},
        request_format=None,
        tools=None,
        messages=[{"role": "user", "content": marker}],
        metadata={},
        conversation_id="",
        trace_id="",
        span_id="",
    )
    audit_record_finalize(record_id=record_id, status="succeeded", completion=marker)
    return AuditRecord.objects.get(pk=record_id)


def build_world(backend: Backend) -> World:
    """Expects CORRAL_MODEL_ACCESS_DEFAULT = "none": people in no team use no model."""
    research = team_get_or_create(slug="research", name="Research")
    finance = team_get_or_create(slug="finance", name="Finance")
    route_a = route_create(name="llama3.2", backend=backend, upstream_model="llama3.2:latest")
    route_b = route_create(name="qwen3", backend=backend, upstream_model="qwen3:0.6b")
    research.allowed_routes.set([route_a])
    finance.allowed_routes.set([route_b])
    User = get_user_model()
    users = {"root": User.objects.create_superuser("root", "root@example.com", "pw")}
    users["oscar"] = user_create(username="oscar", is_staff=True)
    users["gail"] = user_create(username="gail")
    users["gail"].groups.add(Group.objects.get(name=roles.GLOBAL_AUDITORS))
    for name in ("tia", "tom", "max", "svc", "rita", "fay", "mia", "nora"):
        users[name] = user_create(username=name)
    teams = {"research": research, "finance": finance}
    for name, (_, slug, role) in PEOPLE.items():
        if slug:
            membership_ensure(team=teams[slug], user=users[name], role=role)
    membership_ensure(team=research, user=users["mia"], role=Membership.Role.ADMIN)
    membership_ensure(team=finance, user=users["mia"], role=Membership.Role.AUDITOR)
    tokens, secrets, records, jobs = {}, {}, {}, {}
    for name in [*PEOPLE, "mia"]:
        user = users[name]
        team = research if name == "mia" else teams.get(PEOPLE[name][1])
        tokens[name], secrets[name] = token_issue(user=user, name=f"{name}-token", team=team)
        records[name] = _record(user, team, f"prompt-of-{name}")
        jobs[name] = Completion.objects.create(
            user=user,
            token=tokens[name],
            team=team,
            request={"model": "llama3.2", "messages": [{"role": "user", "content": name}]},
        )
    UserLimits.objects.create(user=users["fay"], requests_per_minute=100)
    audit_chain_seal()  # one signed checkpoint
    return World(
        research, finance, route_a, route_b, backend, users, tokens, secrets, records, jobs
    )


def _actor(world: World, name: str, grants, team: str | None) -> Actor:
    user = world.users[name]
    session = Client()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {world.secrets[name]}")
    if name != "svc":  # a program: it has a token and no way to sign in
        session.force_login(user)
    return Actor(name, user, team, session, api, grants)


def actor_for(world: World, column: str) -> Actor:
    if column == MIXED:
        return _actor(
            world, "mia", [("team admin", "research"), ("team auditor", "finance")], "research"
        )
    name = next(n for n, (role, _, _) in PEOPLE.items() if role == column)
    team = PEOPLE[name][1]
    return _actor(world, name, [(column, team)], team)


# --- targets -----------------------------------------------------------------------------------

OWN_TEAM_OTHER = ["own", "rita", "fay"]  # person objects: the actor's, a research colleague's...
TEAMS = ["research", "finance"]
GLOBAL = ["global"]


def target_of(world: World, actor: Actor, kind: str) -> Target:
    if kind == "own":
        return Target(actor.name, owner=actor.name, team=actor.team)
    if kind == "rita":
        return Target("rita", owner="rita", team="research")
    if kind == "fay":
        return Target("fay", owner="fay", team="finance")
    if kind in TEAMS:
        return Target(kind, team=kind)
    return Target("global")
