"""POST /api/v1/chat: the native API's contract, its audit record and its span."""

import json

import pytest
from opentelemetry.trace import SpanKind

from audit.models import AuditRecord
from gateway.services import route_create
from tests.conftest import MODEL, UPSTREAM_MODEL
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db

USER_MESSAGE = {"role": "user", "content": "hello gateway"}


def chat(api, **body):
    payload = {"model": MODEL, "messages": [USER_MESSAGE], **body}
    return api.post("/api/v1/chat", payload, format="json")


def sse_events(response) -> list[tuple[str, dict]]:
    text = b"".join(response.streaming_content).decode()
    events = []
    for block in text.strip().split("\n\n"):
        name, data = "message", None
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data = json.loads(line[len("data: ") :])
        events.append((name, data))
    return events


def test_non_stream_answer_has_the_contract_shape(api, route, ollama):
    response = chat(api, options={"temperature": 0.2, "seed": 7})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"id", "model", "message", "done_reason", "usage", "latency_ms", "trace_id"}
    assert body["model"] == MODEL
    assert body["message"] == {"role": "assistant", "content": "You said: hello gateway"}
    assert body["done_reason"] == "stop"
    assert body["usage"]["completion_tokens"] == 4
    assert body["usage"]["total_tokens"] == (
        body["usage"]["prompt_tokens"] + body["usage"]["completion_tokens"]
    )
    assert len(body["trace_id"]) == 32
    sent = ollama.requests[-1]["body"]
    assert sent["model"] == UPSTREAM_MODEL
    # the route's cap on the answer's length is sent whether or not the caller asked for one
    assert sent["options"] == {"temperature": 0.2, "seed": 7, "num_predict": 4096}


def test_calls_reuse_the_upstream_connection(api, route, ollama):
    # The pipeline reads Ollama's answer to its end: a connection closed after each call would
    # cost a TCP handshake per call on both sides.
    chat(api)
    opened = ollama.connections
    for stream in (False, True, False, True):
        response = chat(api, stream=stream)
        assert response.status_code == 200
        if stream:
            assert sse_events(response)[-1][0] == "done"
    assert ollama.connections == opened


def test_every_call_leaves_a_finalized_audit_record(api, route, user, team):
    body = chat(api, conversation_id="conv-1", metadata={"ticket": "T-9"}).json()
    record = AuditRecord.objects.get(id=body["id"])
    assert record.status == AuditRecord.Status.SUCCEEDED
    assert (record.user, record.team, record.username, record.team_slug) == (
        user,
        team,
        "alice",
        "research",
    )
    assert record.token_prefix.startswith("crl_") and len(record.token_prefix) == 12
    assert (record.surface, record.operation) == ("api", "chat")
    assert (record.model, record.upstream_model, record.backend_name) == (
        MODEL,
        UPSTREAM_MODEL,
        "default",
    )
    assert record.messages == [USER_MESSAGE]
    assert record.completion == "You said: hello gateway"
    assert record.conversation_id == "conv-1" and record.metadata == {"ticket": "T-9"}
    assert record.completion_tokens == 4 and record.prompt_tokens > 0
    assert record.latency_ms is not None and record.ttft_ms is not None
    assert record.finish_reason == "stop"
    assert record.trace_id == body["trace_id"] and len(record.span_id) == 16
    assert record.client_ip == "127.0.0.1"
    assert record.finished_at is not None


def test_span_carries_both_attribute_generations(api, route, spans):
    body = chat(
        api,
        options={
            "temperature": 0.5,
            "top_p": 0.9,
            "top_k": 40,
            "seed": 1,
            "num_predict": 64,
            "stop": ["END"],
        },
        conversation_id="conv-7",
    ).json()
    span = spans.span_for_audit(body["id"])
    assert span.name == f"chat {MODEL}"
    assert span.kind == SpanKind.CLIENT.value + 1  # protobuf enum is offset by one (UNSPECIFIED=0)
    assert span.trace_id == body["trace_id"]
    a = span.attributes
    expected = {
        "gen_ai.system": "Ollama",
        "llm.request.type": "chat",
        "gen_ai.request.model": MODEL,
        "gen_ai.response.model": UPSTREAM_MODEL,
        "gen_ai.prompt.0.role": "user",
        "gen_ai.prompt.0.content": "hello gateway",
        "gen_ai.completion.0.role": "assistant",
        "gen_ai.completion.0.content": "You said: hello gateway",
        "gen_ai.usage.completion_tokens": 4,
        "llm.is_streaming": False,
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "ollama",
        "gen_ai.request.stream": False,
        "gen_ai.request.temperature": 0.5,
        "gen_ai.request.top_p": 0.9,
        "gen_ai.request.top_k": 40,
        "gen_ai.request.seed": 1,
        "gen_ai.request.max_tokens": 64,
        "gen_ai.request.stop_sequences": ["END"],
        "gen_ai.response.finish_reasons": ["stop"],
        "gen_ai.response.id": body["id"],
        "gen_ai.usage.output_tokens": 4,
        "gen_ai.conversation.id": "conv-7",
        "server.address": "127.0.0.1",
        "corral.user": "alice",
        "corral.team": "research",
        "corral.audit_id": body["id"],
    }
    assert {key: a.get(key) for key in expected} == expected
    assert (
        a["gen_ai.usage.prompt_tokens"]
        == a["gen_ai.usage.input_tokens"]
        == body["usage"]["prompt_tokens"]
    )
    assert a["llm.usage.total_tokens"] == body["usage"]["total_tokens"]
    assert isinstance(a["server.port"], int)
    assert a["corral.token_prefix"].startswith("crl_")
    assert "error.type" not in a


def test_span_is_a_child_of_the_django_server_span(api, route, spans):
    body = chat(api).json()
    span = spans.span_for_audit(body["id"])
    parents = spans.find(lambda s: s.span_id == span.parent_span_id)
    assert len(parents) == 1
    server = parents[0]
    assert server.kind == SpanKind.SERVER.value + 1
    assert server.trace_id == span.trace_id
    assert server.attributes.get("http.route") == "api/v1/chat"


def test_stream_relays_deltas_then_done(api, route, ollama):
    ollama.reply = "one two three"
    response = chat(api, stream=True)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/event-stream")
    events = sse_events(response)
    assert events[:3] == [
        ("message", {"delta": "one "}),
        ("message", {"delta": "two "}),
        ("message", {"delta": "three"}),
    ]
    name, done = events[-1]
    assert name == "done"
    assert done["message"]["content"] == "one two three"
    assert done["usage"]["completion_tokens"] == 3
    record = AuditRecord.objects.get(id=done["id"])
    assert record.status == "succeeded" and record.stream is True
    assert record.completion_tokens == 3 and record.ttft_ms is not None


def test_stream_forwards_each_chunk_before_the_answer_is_complete(api, route, ollama):
    ollama.reply = "first second third"
    ollama.hold_after = 1  # the double stops after one chunk until released
    response = chat(api, stream=True)
    body = iter(response.streaming_content)
    first = next(body)
    assert first == b'data: {"delta":"first "}\n\n'
    assert ollama.completed_streams == 0  # the upstream is still held: nothing was buffered
    ollama.release.set()
    rest = b"".join(body).decode()
    assert "event: done" in rest


@pytest.mark.django_db(transaction=True)
def test_client_disconnect_stops_upstream_and_records_tokens_seen(api, route, ollama, spans):
    ollama.reply = "a b c d e f g h"
    ollama.hold_after = 2
    response = chat(api, stream=True)
    body = iter(response.streaming_content)
    next(body), next(body)
    response.close()  # what the WSGI server does when the client goes away
    ollama.release.set()
    assert wait_for(lambda: ollama.disconnects == 1), "the upstream request was not stopped"
    assert ollama.completed_streams == 0
    record = AuditRecord.objects.get()
    assert record.status == AuditRecord.Status.CLIENT_DISCONNECTED
    assert record.completion_tokens == 2
    assert record.completion == "a b "
    assert record.error_code == "client_disconnected"
    span = spans.span_for_audit(str(record.id))
    assert span.attributes["error.type"] == "client_disconnected"
    assert span.attributes["gen_ai.usage.output_tokens"] == 2


def test_mid_stream_upstream_error_becomes_an_error_event(api, route, ollama, spans):
    ollama.reply = "a b c d"
    ollama.error_after = 2
    events = sse_events(chat(api, stream=True))
    assert events[:2] == [("message", {"delta": "a "}), ("message", {"delta": "b "})]
    name, data = events[-1]
    assert name == "error"
    assert data["error"]["code"] == "upstream_error"
    record = AuditRecord.objects.get()
    assert record.status == "failed" and record.error_code == "upstream_error"
    assert record.completion == "a b "
    span = spans.span_for_audit(str(record.id))
    assert span.attributes["error.type"] == "upstream_error"
    assert span.status_code == 2  # STATUS_CODE_ERROR


def test_missing_final_counters_count_as_zero(api, route, ollama):
    ollama.omit_counters = True
    body = chat(api).json()
    assert body["usage"] == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


def test_tool_calls_pass_through(api, route, ollama):
    ollama.tool_call = {"function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    body = chat(api, tools=tools).json()
    assert body["message"]["tool_calls"] == [
        {"function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}
    ]
    assert ollama.requests[-1]["body"]["tools"][0]["function"]["name"] == "get_weather"
    assert AuditRecord.objects.get(id=body["id"]).tool_calls == body["message"]["tool_calls"]


def test_route_default_options_apply_under_the_callers_own(api, route, ollama):
    route.default_options = {"num_ctx": 8192, "temperature": 0.9}
    route.save()
    chat(api, options={"temperature": 0.1})
    assert ollama.requests[-1]["body"]["options"] == {
        "num_ctx": 8192,
        "temperature": 0.1,
        "num_predict": 4096,
    }


def test_model_name_without_tag_resolves_to_latest(api, backend, ollama):
    route_create(name="qwen3:latest", backend=backend, upstream_model="qwen3:0.6b")
    response = chat(api, model="qwen3")
    assert response.status_code == 200
    assert ollama.requests[-1]["body"]["model"] == "qwen3:0.6b"


def test_images_pass_through_and_are_audited_by_digest(api, route, ollama):
    image = "aGVsbG8gd29ybGQ="  # base64, as Ollama takes images
    message = {"role": "user", "content": "what is this?", "images": [image]}
    body = chat(api, messages=[message]).json()
    assert ollama.requests[-1]["body"]["messages"][0]["images"] == [image]
    stored = AuditRecord.objects.get(id=body["id"]).messages[0]["images"]
    assert stored[0].startswith("sha256:") and image not in stored[0]


def test_conversation_with_system_assistant_and_tool_messages(api, route, ollama):
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}],
        },
        {"role": "tool", "content": "12 C", "tool_name": "get_weather"},
        {"role": "user", "content": "thanks"},
    ]
    body = chat(api, messages=messages).json()
    sent = ollama.requests[-1]["body"]["messages"]
    assert [m["role"] for m in sent] == ["system", "user", "assistant", "tool", "user"]
    assert sent[2]["tool_calls"][0]["function"]["arguments"] == {"city": "Oslo"}
    assert sent[3]["tool_name"] == "get_weather"
    assert body["message"]["content"] == "You said: thanks"


def test_the_token_secret_appears_in_no_record_and_no_span(api, route, token, spans):
    body = chat(api, stream=False).json()
    record = AuditRecord.objects.get(id=body["id"])
    stored = " ".join(str(getattr(record, f.attname)) for f in record._meta.fields)
    assert token not in stored and token[13:] not in stored
    span = spans.span_for_audit(body["id"])
    exported = repr(span.attributes) + repr(span.resource)
    assert token[13:] not in exported
    server = spans.find(lambda s: s.span_id == span.parent_span_id)[0]
    assert token[13:] not in repr(server.attributes)


def test_one_caller_cannot_pin_or_crowd_out_the_teams_model(api, route, ollama):
    """Attack 11: num_ctx=2147483647, keep_alive -1 or "876000h" went to Ollama as asked."""
    for keep_alive in (-1, "876000h", "-5m"):
        chat(api, keep_alive=keep_alive, options={"num_ctx": 2147483647, "num_predict": -1})
        sent = ollama.requests[-1]["body"]
        assert sent["keep_alive"] == 3600  # the route's maximum, 1h
        assert sent["options"]["num_ctx"] == 32768 and sent["options"]["num_predict"] == 4096
    chat(api, keep_alive="10m", options={"num_ctx": 4096})
    sent = ollama.requests[-1]["body"]
    assert sent["keep_alive"] == "10m" and sent["options"]["num_ctx"] == 4096  # within: as asked


def test_think_asks_a_thinking_model_to_think_first(api, route, ollama):
    body = {"model": MODEL, "messages": [{"role": "user", "content": "why?"}], "think": "high"}
    answer = api.post("/api/v1/chat", body, format="json")
    assert answer.status_code == 200, answer.json()
    assert answer.json()["message"]["thinking"] == ollama.thinking
    assert ollama.requests[-1]["body"]["think"] == "high"
    assert AuditRecord.objects.get(id=answer.json()["id"]).think == "high"
    streamed = api.post("/api/v1/chat", {**body, "think": True, "stream": True}, format="json")
    events = b"".join(streamed.streaming_content).decode()
    assert '"thinking":"Let ' in events
    refused = api.post("/api/v1/chat", {**body, "think": "very"}, format="json")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_request"
