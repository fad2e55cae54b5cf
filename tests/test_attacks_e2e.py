"""The insider's attacks of issue 17, replayed over the wire against Corral as production runs it
(gunicorn with gevent workers, the production settings, PostgreSQL in CI, real Redis), from the
admin's sign-in form to the doors. Each must be refused or harmless. (Attacks 4, 5 and 7 need two
web workers or a Celery worker: tests/test_governance_e2e.py.)"""

import csv
import io

import httpx
import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from accounts import roles
from accounts.models import ApiToken, Membership
from accounts.services import membership_ensure, team_get_or_create, token_issue
from audit.models import AuditRecord
from gateway.services import route_create
from tests.conftest import MODEL, UPSTREAM_MODEL
from tests.support import processes
from tests.support.admin_forms import team_form

pytestmark = pytest.mark.django_db(transaction=True)

PASSWORD = "a long passphrase 42"
QUESTION = [{"role": "user", "content": "hi"}]
LIMIT = 200_000


@pytest.fixture(scope="module")
def base(django_db_setup, django_db_blocker, otlp_receiver, tmp_path_factory):
    env = processes.corral_env(
        otlp_receiver.endpoint,
        # production settings but for cookies over plain http (tests/settings.py), as the browser
        # tests run it
        DJANGO_SETTINGS_MODULE="tests.settings",
        CORRAL_TOKEN_CACHE_SECONDS="0",
        CORRAL_ROUTE_CACHE_SECONDS="0",
        CORRAL_MODEL_ACCESS_DEFAULT="none",
        CORRAL_TRUSTED_PROXIES="1",
        CORRAL_MAX_REQUEST_BYTES=str(LIMIT),
    )
    with django_db_blocker.unblock(), processes.web(env, tmp_path_factory.mktemp("web")) as url:
        yield url


@pytest.fixture
def world(backend, redis_client):
    """research may use llama3.2, finance qwen3; people with passwords, in their roles."""
    ours = route_create(name=MODEL, backend=backend, upstream_model=UPSTREAM_MODEL)
    theirs = route_create(name="qwen3", backend=backend, upstream_model="qwen3:0.6b")
    research, finance = team_get_or_create(slug="research"), team_get_or_create(slug="finance")
    for team, route in ((research, ours), (finance, theirs)):
        team.all_models = False
        team.save()
        team.allowed_routes.set([route])
    User = get_user_model()
    people = {"root": User.objects.create_superuser("root", "root@example.com", PASSWORD)}
    for name, team, role in (
        ("tia", research, Membership.Role.ADMIN),
        ("max", research, Membership.Role.MEMBER),
        ("fay", finance, Membership.Role.MEMBER),
        ("audrey", finance, Membership.Role.AUDITOR),
        ("mia", research, Membership.Role.ADMIN),
    ):
        people[name] = User.objects.create_user(name, password=PASSWORD)
        membership_ensure(team=team, user=people[name], role=role)
    membership_ensure(team=finance, user=people["mia"], role=Membership.Role.AUDITOR)
    people["gail"] = User.objects.create_user("gail", password=PASSWORD)
    people["gail"].groups.add(Group.objects.get(name=roles.GLOBAL_AUDITORS))
    return research, finance, people


def signed_in(base: str, username: str, **headers) -> httpx.Client:
    """A browser that signed in at Corral's sign-in form (CSRF and all). (The admin's own form
    takes staff only; team admins and auditors sign in here: issue 19.)"""
    client = httpx.Client(base_url=base, timeout=30, headers=headers)
    client.get("/login/")
    response = client.post(
        "/login/",
        data={
            "username": username,
            "password": PASSWORD,
            "csrfmiddlewaretoken": client.cookies["csrftoken"],
        },
    )
    assert response.status_code == 302, response.text[:500]
    return client


def form_post(client: httpx.Client, path: str, data: dict) -> httpx.Response:
    return client.post(path, data={**data, "csrfmiddlewaretoken": client.cookies["csrftoken"]})


def bearer(base: str, secret: str) -> httpx.Client:
    return httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Bearer {secret}"})


def test_1_a_team_admin_cannot_get_anyone_elses_token(base, world):
    research, _, people = world
    tia = signed_in(base, "tia")
    for privileged in ("root", "gail"):
        form_post(
            tia,
            f"/admin/accounts/team/{research.pk}/change/",
            team_form(research, extra_rows=[(people[privileged], "member")]),
        )
        assert not Membership.objects.filter(team=research, user=people[privileged]).exists()
    page = form_post(
        tia,
        "/admin/accounts/apitoken/add/",
        {"user": people["max"].pk, "team": research.pk, "name": "borrowed", "expires_at_0": ""},
    )
    assert page.status_code == 302
    made = ApiToken.objects.get(name="borrowed")
    assert made.user == people["tia"]  # her own, whatever the form said
    assert not ApiToken.objects.filter(user=people["max"]).exists()


def test_2_a_member_cannot_escape_the_team(base, world):
    _, _, people = world
    _, secret = token_issue(user=people["max"], name="first")
    minted = bearer(base, secret).post("/api/v1/tokens", json={"name": "x"}).json()
    assert minted["team"] == "research"
    client = bearer(base, minted["token"])
    assert (
        client.post("/api/v1/chat", json={"model": "qwen3", "messages": QUESTION}).status_code
        == 403
    )
    assert [m["name"] for m in client.get("/api/v1/models").json()["models"]] == [MODEL]
    assert client.get("/v1/models").json()["data"][0]["id"] == MODEL
    assert [m["name"] for m in client.get("/ollama/api/tags").json()["models"]] == [MODEL]


def test_3_bad_input_does_not_take_the_backend_out(base, world):
    _, _, people = world
    _, secret = token_issue(user=people["max"], name="t")
    client = bearer(base, secret)
    for _ in range(5):
        bad = client.post(
            "/ollama/api/chat",
            json={"model": MODEL, "messages": QUESTION, "stream": False, "keep_alive": {"a": 1}},
        )
        assert bad.status_code == 400 and set(bad.json()) == {"error"}
        image = [{"role": "user", "content": "x", "images": ["%%%"]}]
        assert (
            client.post("/api/v1/chat", json={"model": MODEL, "messages": image}).status_code == 400
        )
    assert (
        client.post("/api/v1/chat", json={"model": MODEL, "messages": QUESTION}).status_code == 200
    )


def test_6_mixed_roles_do_not_widen_each_other(base, world):
    research, finance, people = world
    ours, _ = token_issue(user=people["max"], name="ours", team=research)
    theirs, _ = token_issue(user=people["fay"], name="theirs", team=finance)
    mia = signed_in(base, "mia")
    form_post(
        mia,
        "/admin/accounts/apitoken/",
        {"action": "revoke", "_selected_action": [ours.pk, theirs.pk]},
    )
    ours.refresh_from_db()
    theirs.refresh_from_db()
    assert ours.revoked_at is not None and theirs.revoked_at is None


def test_8_a_token_mints_nothing_stronger(base, world):
    research, _, people = world
    _, secret = token_issue(
        user=people["max"], name="short", team=research, limits={"tokens_per_day": 1}
    )
    client = bearer(base, secret)
    assert (
        client.post("/api/v1/chat", json={"model": MODEL, "messages": QUESTION}).status_code == 200
    )
    child = client.post("/api/v1/tokens", json={"name": "forever"}).json()
    assert ApiToken.objects.get(pk=child["id"]).tokens_per_day == 1
    refused = bearer(base, child["token"]).post(
        "/api/v1/chat", json={"model": MODEL, "messages": QUESTION}
    )
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "quota_exceeded"


def test_10_refused_calls_are_on_the_record(base, world):
    _, _, people = world
    _, secret = token_issue(user=people["max"], name="t")
    client = bearer(base, secret)
    assert (
        client.post("/api/v1/chat", json={"model": "qwen3", "messages": QUESTION}).status_code
        == 403
    )
    gone = client.post("/v1/chat/completions", json={"model": "gone", "messages": QUESTION})
    assert gone.status_code == 404
    refused = AuditRecord.objects.filter(status="refused").order_by("started_at")
    assert [(r.model, r.error_code, r.username) for r in refused] == [
        ("qwen3", "model_forbidden", "max"),
        ("gone", "model_not_found", "max"),
    ]


def test_11_unbounded_or_malformed_bodies_are_4xx(base, world):
    _, _, people = world
    _, secret = token_issue(user=people["max"], name="t")
    client = bearer(base, secret)
    huge = {"model": MODEL, "messages": [{"role": "user", "content": "x" * (LIMIT + 1)}]}
    for path in ("/api/v1/chat", "/ollama/api/chat", "/v1/chat/completions"):
        assert client.post(path, json=huge).status_code == 413, path
    many = {"model": MODEL, "messages": QUESTION * 1001}
    for path in ("/api/v1/chat", "/ollama/api/chat", "/v1/chat/completions"):
        assert client.post(path, json=many).status_code == 400, path
    for malformed in (
        {"stream": True, "stream_options": [1]},
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": "x"}]}]},
        {"messages": [{"role": "assistant", "tool_calls": ["x"]}]},
        {"messages": [{"role": "tool", "content": "r", "tool_call_id": {}}]},
    ):
        body = {"model": MODEL, "messages": QUESTION, **malformed}
        assert client.post("/v1/chat/completions", json=body).status_code == 400, malformed
    pinned = client.post(
        "/ollama/api/chat",
        json={
            "model": MODEL,
            "messages": QUESTION,
            "stream": False,
            "keep_alive": "876000h",
            "options": {"num_ctx": 2147483647},
        },
    )
    assert pinned.status_code == 200
    record = AuditRecord.objects.order_by("-started_at").first()
    assert record.options["num_ctx"] == 32768


def test_12_smaller_holes(base, world):
    _, _, people = world
    # /readyz tells a stranger only whether it is ready
    assert set(httpx.get(f"{base}/readyz", timeout=10).json()) == {"status"}
    # a formula in a user agent reaches an auditor's spreadsheet as text
    _, secret = token_issue(user=people["max"], name="t")
    httpx.post(
        f"{base}/api/v1/chat",
        headers={"Authorization": f"Bearer {secret}", "User-Agent": "=cmd|' /C calc'!A0"},
        json={"model": MODEL, "messages": QUESTION},
        timeout=30,
    )
    exported = signed_in(base, "gail").get("/admin/audit/auditrecord/export/csv/")
    row = next(csv.DictReader(io.StringIO(exported.text)))
    assert row["user_agent"] == "'=cmd|' /C calc'!A0"
    # the sign-in lockout holds whatever a client writes at the left of X-Forwarded-For (the
    # proxy in front, trusted here, appends the address it saw: 203.0.113.7)
    browser = httpx.Client(base_url=base, timeout=10)
    browser.get("/login/")

    def sign_in(password: str, claimed: str) -> httpx.Response:
        return browser.post(
            "/login/",
            data={
                "username": "fay",
                "password": password,
                "csrfmiddlewaretoken": browser.cookies["csrftoken"],
            },
            headers={"X-Forwarded-For": f"{claimed}, 203.0.113.7"},
        )

    for attempt in range(4):
        assert sign_in("guess", f"198.51.100.{attempt}").status_code == 200
    assert sign_in("guess", "198.51.100.4").status_code == 429  # the fifth failure locks
    assert sign_in(PASSWORD, "192.0.2.1").status_code == 429
