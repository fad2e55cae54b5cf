"""The access table's rows about the web pages, the API and the doors, signed in or with a token."""

from accounts.models import ApiToken
from accounts.services import token_issue
from gateway.models import Completion, ModelRoute
from tests.support.access_probes.registry import probe
from tests.support.access_world import (
    GLOBAL,
    OWN_TEAM_OTHER,
    Target,
    World,
)

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
