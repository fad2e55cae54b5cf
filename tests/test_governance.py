"""The insider's attacks on access, replayed: each was reproduced against an earlier Corral and must
now be refused or harmless. (The cross-process ones, with gunicorn and Celery, are in
tests/test_governance_e2e.py.)"""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import roles
from accounts.models import ApiToken, Membership
from accounts.services import membership_ensure, team_get_or_create, token_issue, user_create
from audit.models import AuditRecord
from common.errors import InvalidRequest
from gateway.services import route_create
from tests.conftest import MODEL
from tests.support.admin_forms import team_form

pytestmark = pytest.mark.django_db

QUESTION = {"messages": [{"role": "user", "content": "hi"}]}


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def bearer(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.fixture
def two_models(backend, settings):
    """research may use llama3.2 only; qwen3 is another team's."""
    settings.CORRAL_MODEL_ACCESS_DEFAULT = "none"
    ours = route_create(name=MODEL, backend=backend, upstream_model="llama3.2:latest")
    theirs = route_create(name="qwen3", backend=backend, upstream_model="qwen3:0.6b")
    research = team_get_or_create(slug="research")
    research.allowed_routes.set([ours])
    finance = team_get_or_create(slug="finance")
    finance.allowed_routes.set([theirs])
    return research, finance


def test_a_team_admin_cannot_borrow_anyone_elses_powers(two_models):
    """Attack 1: add a superuser, an auditor or another team's person to my team, issue a token
    for them and read its secret, then read every team's calls with it."""
    research, finance = two_models
    tia = user_create(username="tia")
    membership_ensure(team=research, user=tia, role=Membership.Role.ADMIN)
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    gail = user_create(username="gail")
    gail.groups.add(Group.objects.get(name=roles.GLOBAL_AUDITORS))
    audrey = user_create(username="audrey")
    membership_ensure(team=finance, user=audrey, role=Membership.Role.AUDITOR)
    fay = user_create(username="fay")
    membership_ensure(team=finance, user=fay)
    client = signed_in(tia)

    for privileged in (root, gail):
        page = client.post(
            f"/admin/accounts/team/{research.pk}/change/",
            team_form(research, extra_rows=[(privileged, "member")]),
        )
        assert page.status_code == 200, "the form must be refused, not saved"
        assert not Membership.objects.filter(team=research, user=privileged).exists()
    # A colleague from another team may join (people work in several teams)...
    client.post(
        f"/admin/accounts/team/{research.pk}/change/",
        team_form(research, extra_rows=[(audrey, "member")]),
    )
    assert Membership.objects.filter(team=research, user=audrey).exists()
    # ...but the admin makes no token for them: the add form makes the admin's own token.
    before = set(ApiToken.objects.values_list("pk", flat=True))
    response = client.post(
        "/admin/accounts/apitoken/add/",
        {"user": audrey.pk, "team": research.pk, "name": "stolen", "expires_at_0": ""},
        follow=True,
    )
    made = ApiToken.objects.exclude(pk__in=before)
    assert [token.user for token in made] == [tia]
    assert not ApiToken.objects.filter(user=audrey).exists()
    assert "Copy your new token now" in response.content.decode()
    # And audrey's auditing covers finance only, whatever team she joins.
    _, secret = token_issue(user=audrey, name="hers", team=finance)
    theirs = bearer(secret).get("/api/v1/calls").json()["results"]
    assert all(call["team_slug"] in ("finance", "") for call in theirs)


def test_a_member_of_a_team_gets_tokens_for_that_team_only(two_models, redis_client):
    """Attack 2: a member asks for a token without a team, uses the other team's model and is
    charged to no team's quota."""
    research, _ = two_models
    research.tokens_per_day = 1_000_000
    research.save()
    max_ = user_create(username="max")
    membership_ensure(team=research, user=max_)
    _, first = token_issue(user=max_, name="first")
    response = bearer(first).post("/api/v1/tokens", {"name": "x"}, format="json")
    assert response.status_code == 201 and response.json()["team"] == "research"
    minted = bearer(response.json()["token"])
    assert (
        minted.post("/api/v1/chat", {"model": "qwen3", **QUESTION}, format="json").status_code
        == 403
    )
    assert [m["name"] for m in minted.get("/api/v1/models").json()["models"]] == [MODEL]
    assert (
        minted.post("/api/v1/chat", {"model": MODEL, **QUESTION}, format="json").status_code == 200
    )
    team_usage = [
        scope for scope in minted.get("/api/v1/usage").json()["limits"] if scope["scope"] == "team"
    ]
    assert team_usage and team_usage[0]["tokens_today"] > 0

    # Someone in two teams must say which; a team-less token of someone who joined a team stops.
    finance = team_get_or_create(slug="finance")
    membership_ensure(team=finance, user=max_)
    with pytest.raises(InvalidRequest, match="several teams"):
        token_issue(user=max_, name="which team?")
    nora = user_create(username="nora")
    _, teamless = token_issue(user=nora, name="before joining")
    assert bearer(teamless).get("/api/v1/models").status_code == 200
    membership_ensure(team=research, user=nora)
    answer = bearer(teamless).get("/api/v1/models")
    assert answer.status_code == 401 and "acts for no team" in answer.json()["error"]["message"]


def test_leaving_a_team_ends_its_tokens(two_models):
    """Attack 5 (in one process): after the membership is deleted the token still answered."""
    research, _ = two_models
    max_ = user_create(username="max")
    membership = membership_ensure(team=research, user=max_)
    _, secret = token_issue(user=max_, name="t", team=research)
    assert bearer(secret).get("/api/v1/models").status_code == 200
    membership.delete()
    answer = bearer(secret).get("/api/v1/models")
    assert answer.status_code == 401
    assert "no longer a member" in answer.json()["error"]["message"]


def test_mixed_roles_do_not_widen_each_other(two_models):
    """Attack 6: admin of research and auditor of finance revokes finance's tokens through the
    admin action."""
    research, finance = two_models
    mia = user_create(username="mia")
    membership_ensure(team=research, user=mia, role=Membership.Role.ADMIN)
    membership_ensure(team=finance, user=mia, role=Membership.Role.AUDITOR)
    rita, fay = user_create(username="rita"), user_create(username="fay")
    membership_ensure(team=research, user=rita)
    membership_ensure(team=finance, user=fay)
    ours, _ = token_issue(user=rita, name="ours", team=research)
    theirs, _ = token_issue(user=fay, name="theirs", team=finance)
    client = signed_in(mia)
    listing = client.get("/admin/accounts/apitoken/").content.decode()
    assert ours.prefix in listing and theirs.prefix in listing  # she reads both...
    client.post(
        "/admin/accounts/apitoken/", {"action": "revoke", "_selected_action": [ours.pk, theirs.pk]}
    )
    ours.refresh_from_db()
    theirs.refresh_from_db()
    assert ours.revoked_at is not None and theirs.revoked_at is None  # ...and changes only hers
    page = client.get(f"/admin/accounts/apitoken/{theirs.pk}/change/").content.decode()
    assert 'name="name"' not in page  # finance's token shows read-only
    client.post(f"/admin/accounts/apitoken/{theirs.pk}/change/", {"name": "renamed"})
    theirs.refresh_from_db()
    assert theirs.name == "theirs"
    # She audits finance's calls, not research's other people's (an admin reads no prompts).
    assert client.get("/admin/audit/auditrecord/").status_code == 200


def test_a_token_mints_nothing_stronger_than_itself(two_models, redis_client):
    """Attack 8: a token that expires in an hour, limited to 2 requests a minute and over its
    quota, creates a token with no expiry and no limits."""
    research, _ = two_models
    max_ = user_create(username="max")
    membership_ensure(team=research, user=max_)
    parent, secret = token_issue(user=max_, name="short", team=research)
    expiry = timezone.now() + timedelta(hours=1)
    ApiToken.objects.filter(pk=parent.pk).update(
        expires_at=expiry, requests_per_minute=2, tokens_per_day=1
    )
    parent_client = bearer(secret)
    assert (
        parent_client.post("/api/v1/chat", {"model": MODEL, **QUESTION}, format="json").status_code
        == 200
    )
    over = parent_client.post("/api/v1/chat", {"model": MODEL, **QUESTION}, format="json")
    assert over.status_code == 429 and over.json()["error"]["code"] == "quota_exceeded"

    asked = {"name": "forever", "expires_at": "2099-01-01T00:00:00Z"}
    created = parent_client.post("/api/v1/tokens", asked, format="json").json()
    child = ApiToken.objects.get(pk=created["id"])
    assert child.parent == parent and child.team == research
    assert child.expires_at == expiry
    assert (child.requests_per_minute, child.tokens_per_day) == (2, 1)
    refused = bearer(created["token"]).post(
        "/api/v1/chat", {"model": MODEL, **QUESTION}, format="json"
    )
    assert refused.status_code == 429 and "token quota" in refused.json()["error"]["message"]
    other_team = parent_client.post(
        "/api/v1/tokens", {"name": "elsewhere", "team": "finance"}, format="json"
    )
    assert other_team.status_code == 400
    # The parent revoked, the child stops too.
    ApiToken.objects.filter(pk=parent.pk).update(revoked_at=timezone.now())
    assert bearer(created["token"]).get("/api/v1/models").status_code == 401


def test_a_token_opens_no_admin_or_web_page(two_models):
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    _, secret = token_issue(user=root, name="root's")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    for path in ("/admin/", "/admin/audit/auditrecord/", "/tokens/", "/usage/"):
        response = client.get(path)
        assert response.status_code == 302 and "login" in response["Location"], path


def test_refused_calls_are_on_the_record(two_models, redis_client, ollama):
    """Attack 10: 403, 404 and 429 left no trace; an auditor could not see who tried what."""
    research, _ = two_models
    max_ = user_create(username="max")
    membership_ensure(team=research, user=max_)
    token, secret = token_issue(user=max_, name="t", team=research)
    ApiToken.objects.filter(pk=token.pk).update(requests_per_minute=1)
    client = bearer(secret)
    asked = [
        ("/api/v1/chat", {"model": "qwen3", **QUESTION}),  # another team's model
        ("/ollama/api/chat", {"model": "nope", "stream": False, **QUESTION}),  # unknown
        ("/v1/chat/completions", {"model": MODEL, **QUESTION}),  # served
        ("/api/v1/completions", {"model": "qwen3", **QUESTION}),  # async, forbidden
        (
            "/v1/chat/completions",
            {"model": MODEL, **QUESTION},
        ),  # over 1 a minute (refusals count none)
    ]
    statuses = [client.post(path, body, format="json").status_code for path, body in asked]
    assert statuses == [403, 404, 200, 403, 429]
    records = list(AuditRecord.objects.order_by("started_at"))
    assert [(r.surface, r.model, r.status, r.error_code) for r in records] == [
        ("api", "qwen3", "refused", "model_forbidden"),
        ("ollama", "nope", "refused", "model_not_found"),
        ("openai", MODEL, "succeeded", ""),
        ("async", "qwen3", "refused", "model_forbidden"),
        ("openai", MODEL, "refused", "rate_limited"),
    ]
    assert all(r.username == "max" and r.token_prefix == token.prefix for r in records)
    assert len([r for r in ollama.requests if r["path"] == "/api/chat"]) == 1
    # Visible to the person and to the auditors, in the API and the admin.
    listed = client.get("/api/v1/calls", {"status": "refused"}).json()["results"]
    assert len(listed) == 4
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    page = signed_in(root).get("/admin/audit/auditrecord/?status__exact=refused").content.decode()
    assert page.count("Refused") >= 4


BAD_INPUT = {
    "keep_alive as an object (Ollama door)": (
        "/ollama/api/chat",
        {"model": MODEL, "stream": False, "keep_alive": {"a": 1}, **QUESTION},
    ),
    "an image that is not base64 (native)": (
        "/api/v1/chat",
        {"model": MODEL, "messages": [{"role": "user", "content": "x", "images": ["%%%"]}]},
    ),
    "an image data URL that is not base64 (OpenAI door)": (
        "/v1/chat/completions",
        {
            "model": MODEL,
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "data:image/png;base64,%%"}}
                    ],
                }
            ],
        },
    ),
    "a generate image that names a file": (
        "/ollama/api/generate",
        {"model": MODEL, "prompt": "x", "stream": False, "images": ["/etc/hostname"]},
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_does_not_take_the_backend_out(api, route, ollama, case):
    """Attack 3: a bad keep_alive (500) or a non-base64 image (502) counted as backend failures;
    three of them opened the circuit and every caller got 503."""
    path, body = BAD_INPUT[case]
    for _ in range(5):
        response = api.post(path, body, format="json")
        assert response.status_code == 400, response.content
    assert api.post("/api/v1/chat", {"model": MODEL, **QUESTION}, format="json").status_code == 200


def test_what_ollama_refuses_is_not_the_backends_fault(api, route, ollama):
    ollama.fail_next(400, "invalid options", times=5)
    for _ in range(5):
        assert (
            api.post("/api/v1/chat", {"model": MODEL, **QUESTION}, format="json").status_code == 400
        )
    assert api.post("/api/v1/chat", {"model": MODEL, **QUESTION}, format="json").status_code == 200
    ollama.fail_next(500, "runner crashed", times=3)  # the backend's own failures still count
    for _ in range(3):
        assert (
            api.post("/api/v1/chat", {"model": MODEL, **QUESTION}, format="json").status_code == 502
        )
    out = api.post("/api/v1/chat", {"model": MODEL, **QUESTION}, format="json")
    assert out.status_code == 503 and "out of service" in out.json()["error"]["message"]


def test_an_image_is_never_read_from_corrals_disk(api, route, ollama):
    """Ollama's Python client reads an image string that names an existing file as that file: a
    caller could have had Corral send its own files (its environment, its .env) to the model."""
    path = "/proc///self/environ"  # an existing file whose name is also valid base64
    body = {"model": MODEL, "messages": [{"role": "user", "content": "x", "images": [path]}]}
    assert api.post("/api/v1/chat", body, format="json").status_code == 200
    assert ollama.requests[-1]["body"]["messages"][0]["images"] == [path]
