"""The Ollama double is only useful if the official client cannot tell it from Ollama."""

import hashlib
import json

import httpx
import ollama
import pytest

from tests.conftest import UPSTREAM_MODEL

HELLO = [{"role": "user", "content": "hello there"}]


@pytest.fixture
def client(ollama):
    return ollama_module().Client(host=ollama.url)


def test_chat_non_stream_carries_the_final_counters(client):
    response = client.chat(model=UPSTREAM_MODEL, messages=[{"role": "user", "content": "hi there"}])
    assert response.message.role == "assistant"
    assert response.message.content == "You said: hi there"
    assert response.done is True
    assert response.done_reason == "stop"
    assert response.prompt_eval_count > 0
    assert response.eval_count == 4


def test_chat_streams_ndjson_chunks_and_a_final_chunk(client, ollama):
    ollama.reply = "one two three"
    parts = list(
        client.chat(model="llama3.2", messages=[{"role": "user", "content": "x"}], stream=True)
    )
    assert [p.message.content for p in parts] == ["one ", "two ", "three", ""]
    assert [p.done for p in parts] == [False, False, False, True]
    assert parts[-1].eval_count == 3
    assert parts[-1].total_duration > 0


def test_raw_stream_is_chunked_ndjson(ollama):
    with httpx.stream(
        "POST",
        f"{ollama.url}/api/chat",
        json={"model": UPSTREAM_MODEL, "messages": [{"role": "user", "content": "a b"}]},
    ) as response:
        assert response.headers["content-type"] == "application/x-ndjson"
        assert response.headers["transfer-encoding"] == "chunked"
        lines = list(response.iter_lines())
    assert all(line.startswith("{") for line in lines)


def test_generate_list_show_ps_embed_version(client, ollama):
    generated = client.generate(model=UPSTREAM_MODEL, prompt="ping")
    assert generated.response == "You said: ping"
    listing = client.list()
    assert {m.model for m in listing.models} == set(ollama.models)
    shown = client.show(UPSTREAM_MODEL)
    assert shown.details.family == "llama"
    assert "completion" in shown.capabilities
    running = client.ps()
    assert running.models[0].size_vram > 0
    embedded = client.embed(model=UPSTREAM_MODEL, input=["a", "b"])
    assert len(embedded.embeddings) == 2 and len(embedded.embeddings[0]) == 8
    assert httpx.get(f"{ollama.url}/api/version").json() == {"version": "0.12.6"}


def test_errors_are_response_errors_with_ollamas_status(client, ollama):
    with pytest.raises(ollama_module().ResponseError) as missing:
        client.chat(model="nope", messages=[])
    assert missing.value.status_code == 404
    assert missing.value.error == "model 'nope' not found"

    ollama.fail_next(503, "server busy, please try again.  maximum pending requests exceeded")
    with pytest.raises(ollama_module().ResponseError) as busy:
        client.chat(model=UPSTREAM_MODEL, messages=[])
    assert busy.value.status_code == 503

    bad = httpx.post(f"{ollama.url}/api/chat", json={"messages": []})
    assert (bad.status_code, bad.json()) == (400, {"error": "model is required"})


def test_mid_stream_error_line_raises_with_status_minus_one(client, ollama):
    ollama.reply = "a b c d"
    ollama.error_after = 2
    stream = client.chat(model=UPSTREAM_MODEL, messages=HELLO, stream=True)
    with pytest.raises(ollama_module().ResponseError) as failed:
        list(stream)
    assert failed.value.status_code == -1


def test_mid_stream_cut_breaks_the_read(client, ollama):
    ollama.reply = "a b c d"
    ollama.cut_after = 2
    with pytest.raises(httpx.RemoteProtocolError):
        list(client.chat(model=UPSTREAM_MODEL, messages=HELLO, stream=True))


def test_connection_refused_is_a_connection_error():
    client = ollama_module().Client(host="http://127.0.0.1:9")
    with pytest.raises(ConnectionError):
        client.list()


def ollama_module():
    return ollama


def test_no_messages_loads_and_keep_alive_zero_unloads(client, ollama):
    """docs/api.md: "If the messages array is empty, the model will be loaded into memory"; with
    keep_alive 0 it is unloaded. One object either way, no counters."""
    loaded = client.chat(model=UPSTREAM_MODEL, messages=[])
    assert (loaded.done, loaded.done_reason, loaded.message.content) == (True, "load", "")
    unloaded = client.chat(model=UPSTREAM_MODEL, messages=[], keep_alive=0)
    assert unloaded.done_reason == "unload"
    by_generate = client.generate(model=UPSTREAM_MODEL, keep_alive=0)
    assert by_generate.done_reason == "unload" and by_generate.response == ""
    assert ollama.loaded_calls == ["load", "unload", "unload"]


def test_legacy_embeddings_endpoint(client):
    """docs/api.md, "Generate Embedding" (superseded by /api/embed): one `embedding`."""
    vector = client.embeddings(model=UPSTREAM_MODEL, prompt="llamas").embedding
    assert len(vector) == 8 and all(isinstance(x, float) for x in vector)
    assert client.embeddings(model=UPSTREAM_MODEL, prompt="").embedding == []


def test_think_answers_with_thinking_first(client, ollama):
    answer = client.chat(model=UPSTREAM_MODEL, messages=HELLO, think=True)
    assert answer.message.thinking == ollama.thinking
    assert answer.message.content == "You said: hello there"
    parts = list(client.chat(model=UPSTREAM_MODEL, messages=HELLO, think=True, stream=True))
    thought = "".join(p.message.thinking or "" for p in parts)
    assert thought == ollama.thinking and parts[0].message.content == ""
    assert "".join(p.message.content for p in parts) == "You said: hello there"


def test_model_management_as_documented(client, ollama):
    """docs/api.md: pull, create and push stream progress and end with success; copy and delete
    answer 200 or 404; blobs are 200/404 on HEAD and 201 on POST."""
    progress = list(client.pull("mistral", stream=True))
    assert progress[0].status == "pulling manifest" and progress[-1].status == "success"
    assert any(p.total and p.completed == p.total for p in progress)
    assert "mistral:latest" in {m.model for m in client.list().models}
    assert client.pull("phi3").status == "success"
    assert client.copy("mistral", "mistral-backup").status == "success"
    assert client.delete("mistral-backup").status == "success"
    with pytest.raises(ollama_module().ResponseError) as missing:
        client.delete("mistral-backup")
    assert missing.value.status_code == 404
    created = list(client.create(model="mario", from_="mistral", system="It's-a me", stream=True))
    assert created[-1].status == "success"
    assert client.push("mario").status == "success"


def test_blobs(client, tmp_path):
    layer = tmp_path / "layer.gguf"
    layer.write_bytes(b"GGUF bytes")
    digest = client.create_blob(layer)
    assert digest == "sha256:" + hashlib.sha256(b"GGUF bytes").hexdigest()
    assert client._client.head(f"/api/blobs/{digest}").status_code == 200
    assert client._client.head("/api/blobs/sha256:00").status_code == 404


def test_a_tool_is_called_then_its_result_answered(client, ollama):
    ollama.tool_call = {"function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}}]
    asked = client.chat(model=UPSTREAM_MODEL, messages=HELLO, tools=tools).message
    assert asked.content == "" and asked.tool_calls[0].function.arguments == {"city": "Oslo"}
    # without tools, or once the tool's result is the last message, the model answers in words
    assert (
        client.chat(model=UPSTREAM_MODEL, messages=HELLO).message.content == "You said: hello there"
    )
    messages = [*HELLO, asked, {"role": "tool", "content": "sunny", "tool_name": "get_weather"}]
    final = client.chat(model=UPSTREAM_MODEL, messages=messages, tools=tools).message
    assert final.content == "The tool said: sunny" and not final.tool_calls


def test_a_format_is_answered_with_matching_json(client):
    schema = {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "array", "items": {"$ref": "#/$defs/Day"}},
            "unit": {"enum": ["C", "F"]},
            "note": {"anyOf": [{"type": "null"}, {"type": "number"}]},
        },
        "$defs": {"Day": {"type": "object", "properties": {"rain": {"type": "boolean"}}}},
    }
    answer = client.chat(model=UPSTREAM_MODEL, messages=HELLO, format=schema).message.content
    assert json.loads(answer) == {
        "city": "city",
        "days": [{"rain": True}],
        "unit": "C",
        "note": 4.2,
    }
    generated = client.generate(model=UPSTREAM_MODEL, prompt="hi", format="json").response
    assert json.loads(generated) == {"response": "You said: hi"}
