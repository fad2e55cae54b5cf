"""The Ollama-compatible door, driven by the official ollama client over real HTTP."""

import ollama as ollama_sdk
import pytest

from audit.models import AuditRecord
from gateway.models import ModelRoute
from gateway.services import route_create
from tests.conftest import MODEL

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client(live_server, token, route):
    return ollama_sdk.Client(
        host=f"{live_server.url}/ollama", headers={"Authorization": f"Bearer {token}"}
    )


def only_record() -> AuditRecord:
    return AuditRecord.objects.get()


def test_chat(client, spans):
    response = client.chat(
        model=MODEL, messages=[{"role": "user", "content": "hi door"}], stream=False
    )
    assert response.message.content == "You said: hi door"
    assert response.done and response.done_reason == "stop"
    assert response.eval_count == 4 and response.prompt_eval_count > 0
    assert response.total_duration > 0
    record = only_record()
    assert (record.surface, record.operation, record.status) == ("ollama", "chat", "succeeded")
    span = spans.span_for_audit(str(record.id))
    assert span.attributes["llm.request.type"] == "chat"


def test_streaming_chat(client, ollama):
    ollama.reply = "one two three"
    parts = list(client.chat(model=MODEL, messages=[{"role": "user", "content": "x"}], stream=True))
    assert [p.message.content for p in parts] == ["one ", "two ", "three", ""]
    assert parts[-1].done and parts[-1].eval_count == 3
    assert only_record().stream is True


def test_generate_stream_and_not(client, spans):
    whole = client.generate(model=MODEL, prompt="ping", system="be short")
    assert whole.response == "You said: ping"
    chunks = list(client.generate(model=MODEL, prompt="pong", stream=True))
    assert "".join(c.response for c in chunks) == "You said: pong" and chunks[-1].done
    records = AuditRecord.objects.order_by("started_at")
    assert [r.operation for r in records] == ["generate", "generate"]
    assert records[0].messages == [
        {"role": "system", "content": "be short"},
        {"role": "user", "content": "ping"},
    ]
    span = spans.span_for_audit(str(records[0].id))
    assert span.name == f"generate {MODEL}"
    assert span.attributes["llm.request.type"] == "completion"
    assert span.attributes["gen_ai.completion.0.content"] == "You said: ping"


def test_list_shows_only_the_models_the_token_may_use(client, team, backend):
    route_create(name="qwen3:0.6b", backend=backend, upstream_model="qwen3:0.6b")
    names = {m.model for m in client.list().models}
    assert names == {MODEL, "qwen3:0.6b"}
    entry = next(m for m in client.list().models if m.model == MODEL)
    assert entry.details.family == "llama" and entry.size > 0 and entry.digest
    team.all_models = False
    team.save()
    team.allowed_routes.add(ModelRoute.objects.get(name=MODEL))
    assert {m.model for m in client.list().models} == {MODEL}


def test_show_ps_and_embed(client, spans):
    shown = client.show(MODEL)
    assert shown.details.family == "llama" and "completion" in shown.capabilities
    assert [m.model for m in client.ps().models] == [MODEL]
    embedded = client.embed(model=MODEL, input=["a", "b"])
    assert len(embedded.embeddings) == 2 and embedded.prompt_eval_count >= 2
    record = AuditRecord.objects.get(operation="embeddings")
    assert record.prompt_tokens == embedded.prompt_eval_count
    span = spans.span_for_audit(str(record.id))
    assert span.name == f"embeddings {MODEL}" and span.attributes["llm.request.type"] == "embedding"


def test_errors_are_response_errors_with_ollamas_status(client, ollama, live_server):
    with pytest.raises(ollama_sdk.ResponseError) as missing:
        client.chat(model="nope", messages=[{"role": "user", "content": "x"}])
    assert missing.value.status_code == 404 and missing.value.error == "model 'nope' not found"

    ollama.fail_next(503, "server busy, please try again.  maximum pending requests exceeded")
    with pytest.raises(ollama_sdk.ResponseError) as busy:
        client.chat(model=MODEL, messages=[{"role": "user", "content": "x"}])
    assert busy.value.status_code == 503 and "busy" in busy.value.error

    ollama.reply, ollama.error_after = "a b c d", 2
    with pytest.raises(ollama_sdk.ResponseError) as cut:
        list(client.chat(model=MODEL, messages=[{"role": "user", "content": "x"}], stream=True))
    assert cut.value.status_code == -1

    anonymous = ollama_sdk.Client(
        host=f"{live_server.url}/ollama", headers={"Authorization": "Bearer crl_bad"}
    )
    with pytest.raises(ollama_sdk.ResponseError) as denied:
        anonymous.list()
    assert denied.value.status_code == 401 and "invalid API token" in denied.value.error


def test_the_clients_ollama_api_key_variable_works(live_server, token, route, monkeypatch):
    monkeypatch.setenv("OLLAMA_API_KEY", token)
    client = ollama_sdk.Client(host=f"{live_server.url}/ollama")
    assert (
        client.chat(model=MODEL, messages=[{"role": "user", "content": "k"}]).message.content
        == "You said: k"
    )


def test_root_probe_and_unknown_paths(live_server, client):
    import httpx

    assert httpx.get(f"{live_server.url}/ollama/").text == "Ollama is running"
    missing = httpx.post(f"{live_server.url}/ollama/api/nothing", json={"model": "x"})
    assert missing.status_code == 404 and missing.json() == {"error": "404 page not found"}
    assert client._client.get("/api/version").json()["version"] == "0.12.6"


def _raw(live_server, token, path: str, body: str, content_type: str | None):
    import httpx

    headers = {"Authorization": f"Bearer {token}"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    return httpx.post(f"{live_server.url}/ollama{path}", content=body, headers=headers, timeout=30)


@pytest.mark.parametrize("content_type", [None, "application/x-www-form-urlencoded", "text/plain"])
def test_the_body_is_json_whatever_the_content_type_says(live_server, token, route, content_type):
    """LiteLLM's ollama/ and ollama_chat/ providers send no Content-Type; `curl -d` sends a
    form's. Ollama reads the body as JSON all the same."""
    body = '{"model": "llama3.2", "messages": [{"role": "user", "content": "hi"}], "stream": false}'
    response = _raw(live_server, token, "/api/chat", body, content_type)
    assert response.status_code == 200, response.text
    assert response.json()["message"]["content"] == "You said: hi"


def test_null_means_absent_and_unknown_fields_are_ignored(client, ollama):
    """llama-index's Ollama LLM sends "temperature": null; LangChain's OllamaEmbeddings sends its
    13 option keys as null; LiteLLM's tool loop sends tool_call_id and name on messages."""
    body = {
        "model": MODEL,
        "stream": False,
        "messages": [
            {"role": "user", "content": "weather?", "images": None, "extra": {"deep": 1}},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "w", "arguments": {}}}
                ],
            },
            {"role": "tool", "content": "sunny", "tool_call_id": "c1", "name": "w"},
        ],
        "options": {key: None for key in ("temperature", "top_k", "top_p", "num_ctx", "stop")},
        "keep_alive": None,
        "format": None,
        "tools": None,
        "think": None,
        "unknown_top_level": {"ignored": True},
    }
    answer = client._client.post("/api/chat", json=body)
    assert answer.status_code == 200, answer.text
    sent = ollama.requests[-1]["body"]
    assert "temperature" not in sent["options"] and sent["messages"][2]["role"] == "tool"
    embedded = client._client.post(
        "/api/embed", json={"model": MODEL, "input": "x", "truncate": None, "options": None}
    )
    assert embedded.status_code == 200, embedded.text
    # Strictness stays where it protects: a wrong type is still a 400, in Ollama's shape.
    wrong = client._client.post(
        "/api/chat", json={"model": MODEL, "messages": [{"role": "user", "content": 5}]}
    )
    assert wrong.status_code == 400 and set(wrong.json()) == {"error"}


def test_no_messages_loads_the_model_and_keep_alive_zero_unloads_it(client, ollama):
    loaded = client.chat(model=MODEL, messages=[])
    assert (loaded.done, loaded.done_reason, loaded.message.content) == (True, "load", "")
    unloaded = client.chat(model=MODEL, messages=[], keep_alive=0)
    assert unloaded.done_reason == "unload"
    assert ollama.loaded_calls == ["load", "unload"]
    records = AuditRecord.objects.order_by("started_at")
    assert [(r.finish_reason, r.messages, r.status, r.keep_alive) for r in records] == [
        ("load", [], "succeeded", ""),
        ("unload", [], "succeeded", "0"),
    ]


def test_thinking_is_on_the_record(client, ollama, settings):
    settings.CORRAL_REDACT_PATTERNS = [r"think\b"]
    streamed = list(
        client.chat(
            model=MODEL, messages=[{"role": "user", "content": "q"}], think=True, stream=True
        )
    )
    assert "".join(p.message.thinking or "" for p in streamed) == ollama.thinking
    record = AuditRecord.objects.get()
    assert record.think is True
    assert record.thinking == ollama.thinking.replace("think ", "[REDACTED] ")


def test_the_legacy_embeddings_endpoint(client):
    vector = client.embeddings(model=MODEL, prompt="llamas").embedding
    assert len(vector) == 8
    record = AuditRecord.objects.get()
    assert (record.operation, record.surface) == ("embeddings", "ollama")


def test_ollamas_own_openai_paths_are_served(live_server, token, route):
    import openai

    client = openai.OpenAI(base_url=f"{live_server.url}/ollama/v1", api_key=token, max_retries=0)
    answer = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "via ollama's v1"}]
    )
    assert answer.choices[0].message.content == "You said: via ollama's v1"
    assert [m.id for m in client.models.list().data] == [MODEL]


@pytest.fixture
def operator_client(live_server, route):
    from accounts.services import token_issue, user_create

    _, secret = token_issue(user=user_create(username="ops", is_staff=True), name="ops")
    return ollama_sdk.Client(
        host=f"{live_server.url}/ollama", headers={"Authorization": f"Bearer {secret}"}
    )


def test_model_management_is_for_operators_and_says_why(client):
    for attempt in (
        lambda: client.pull("mistral"),
        lambda: client.delete(MODEL),
        lambda: client.copy(MODEL, "mine"),
        lambda: client.create(model="mario", from_=MODEL),
        lambda: client.push(MODEL),
    ):
        with pytest.raises(ollama_sdk.ResponseError) as refused:
            attempt()
        assert refused.value.status_code == 403
        assert "Corral's operators" in refused.value.error


def test_an_operator_pulls_copies_and_deletes_and_the_routes_follow(operator_client, ollama):
    from audit.models import AdminAction

    progress = list(operator_client.pull("mistral", stream=True))
    assert progress[0].status == "pulling manifest" and progress[-1].status == "success"
    assert "mistral:latest" in ollama.models
    route = ModelRoute.objects.get(name="mistral:latest")
    assert [t.backend.name for t in route.targets.all()] == ["default"] and route.enabled
    assert operator_client.copy("mistral", "mistral-copy").status == "success"
    assert ModelRoute.objects.filter(name="mistral-copy:latest").exists()
    assert operator_client.delete("mistral").status == "success"
    route.refresh_from_db()
    assert not route.targets.exists() and route.enabled is False  # nothing serves it any more
    with pytest.raises(ollama_sdk.ResponseError) as gone:
        operator_client.delete("mistral")
    assert gone.value.status_code == 404
    assert operator_client.create(model="mario", from_=MODEL).status == "success"
    assert operator_client.push("mario").status == "success"
    logged = list(
        AdminAction.objects.filter(object_type="ollama.model")
        .order_by("at")
        .values_list("actor_username", "action", "object_repr")
    )
    assert logged == [
        ("ops", "create", "pull mistral on default"),
        ("ops", "create", "copy mistral-copy on default"),
        ("ops", "delete", "delete mistral on default"),
        ("ops", "delete", "delete mistral on default"),
        ("ops", "create", "create mario on default"),
        ("ops", "change", "push mario on default"),
    ]
    assert operator_client._client.head("/api/blobs/sha256:00").status_code == 404
