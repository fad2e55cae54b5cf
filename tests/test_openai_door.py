"""The OpenAI-compatible door, driven by the official openai SDK over real HTTP."""

import openai
import pytest

from audit.models import AuditRecord
from tests.conftest import MODEL

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client(live_server, token, route):
    return openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=token, max_retries=0)


def test_chat_completion(client, spans):
    completion = client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "hello sdk"},
        ],
        temperature=0.3,
        max_tokens=50,
        seed=4,
        stop=["END"],
    )
    choice = completion.choices[0]
    assert choice.message.content == "You said: hello sdk" and choice.finish_reason == "stop"
    assert completion.object == "chat.completion" and completion.model == MODEL
    assert completion.usage.completion_tokens == 4
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + 4
    record = AuditRecord.objects.get()
    assert record.surface == "openai"
    assert record.options == {"temperature": 0.3, "num_predict": 50, "seed": 4, "stop": ["END"]}
    assert completion.id == f"chatcmpl-{str(record.id).replace('-', '')}"
    span = spans.span_for_audit(str(record.id))
    assert span.attributes["gen_ai.request.max_tokens"] == 50


def test_streaming_with_usage(client, ollama):
    ollama.reply = "one two three"
    chunks = list(
        client.chat.completions.create(
            model=MODEL,
            messages=[{"role": "user", "content": "x"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "one two three"
    finish = [c for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finish[0].choices[0].finish_reason == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens == 3
    assert len({c.id for c in chunks}) == 1 and len({c.created for c in chunks}) == 1


def test_tools_round_trip(client, ollama):
    ollama.tool_call = {"function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    completion = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "weather?"}], tools=tools
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    call = choice.message.tool_calls[0]
    assert call.function.name == "get_weather" and call.function.arguments == '{"city": "Oslo"}'
    ollama.tool_call = None
    client.chat.completions.create(
        model=MODEL,
        messages=[
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
            {"role": "tool", "tool_call_id": call.id, "content": "12 C"},
        ],
        tools=tools,
    )
    sent = ollama.requests[-1]["body"]["messages"]
    assert sent[1]["tool_calls"][0]["function"]["arguments"] == {"city": "Oslo"}
    assert sent[2] == {"role": "tool", "content": "12 C", "tool_name": "get_weather"}


def test_response_format_and_images_reach_ollama(client, ollama):
    client.chat.completions.create(
        model=MODEL,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,aGVsbG8="}},
                ],
            }
        ],
        response_format={"type": "json_object"},
    )
    sent = ollama.requests[-1]["body"]
    assert sent["format"] == "json"
    assert sent["messages"][0]["images"] == ["aGVsbG8="]


def test_models_and_embeddings(client, spans):
    assert [m.id for m in client.models.list().data] == [MODEL]
    assert client.models.retrieve(MODEL).owned_by == "corral"
    result = client.embeddings.create(model=MODEL, input=["alpha", "beta"])  # base64 by default
    assert len(result.data) == 2 and len(result.data[0].embedding) == 8
    assert result.usage.prompt_tokens >= 2
    floats = client.embeddings.create(model=MODEL, input="alpha", encoding_format="float")
    assert floats.data[0].embedding == pytest.approx(result.data[0].embedding, abs=1e-6)
    record = AuditRecord.objects.filter(operation="embeddings").first()
    assert spans.span_for_audit(str(record.id)).attributes["llm.request.type"] == "embedding"


def test_errors_in_openais_shape(client, live_server, ollama):
    bad = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key="crl_nope", max_retries=0)
    with pytest.raises(openai.AuthenticationError) as denied:
        bad.models.list()
    assert denied.value.body["type"] == "authentication_error"
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "x"}])
    assert (
        missing.value.body["param"] == "model" and missing.value.body["code"] == "model_not_found"
    )
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model=MODEL, messages=[{"role": "wizard", "content": "x"}])
    ollama.fail_next(500, "boom")
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])


def test_rate_limit_is_a_rate_limit_error_with_retry_after(client, redis_client):
    from accounts.models import ApiToken

    ApiToken.objects.update(requests_per_minute=1)
    client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
    with pytest.raises(openai.RateLimitError) as limited:
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
    assert int(limited.value.response.headers["retry-after"]) >= 1
    assert limited.value.body["code"] == "rate_limit_exceeded"


def test_a_failure_mid_stream_raises_api_error(client, ollama):
    ollama.reply, ollama.error_after = "a b c d", 2
    stream = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "x"}], stream=True
    )
    with pytest.raises(openai.APIError):
        list(stream)
    assert AuditRecord.objects.get().status == "failed"


TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}},
}


def test_nulls_are_accepted_where_openai_accepts_them(client):
    answer = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "x"}],
        extra_body={"n": None, "stream": None, "temperature": None, "tools": None, "stop": None},
    )
    assert answer.choices[0].message.content == "You said: x"


def test_tool_choice_is_followed_as_far_as_ollama_can(client, ollama):
    ollama.tool_call = {"function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}
    other = {"type": "function", "function": {"name": "other"}}
    question = [{"role": "user", "content": "weather?"}]
    final = client.chat.completions.create(
        model=MODEL, messages=question, tools=[TOOL, other], tool_choice="none"
    )
    assert not ollama.requests[-1]["body"].get("tools")  # agents that force a final answer
    assert final.choices[0].message.content == "You said: weather?"
    client.chat.completions.create(
        model=MODEL,
        messages=question,
        tools=[TOOL, other],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
    )
    assert [t["function"]["name"] for t in ollama.requests[-1]["body"]["tools"]] == ["get_weather"]
    choices = [r.tool_choice for r in AuditRecord.objects.order_by("started_at")]
    assert choices == ["none", {"type": "function", "function": {"name": "get_weather"}}]


def test_tool_call_ids_are_unique_across_answers(client, ollama):
    ollama.tool_call = {"function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}
    ids = set()
    for _ in range(3):
        answer = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "w"}], tools=[TOOL]
        )
        ids.add(answer.choices[0].message.tool_calls[0].id)
    streamed = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "w"}], tools=[TOOL], stream=True
    )
    ids |= {
        call.id
        for chunk in streamed
        for choice in chunk.choices
        for call in choice.delta.tool_calls or []
    }
    assert len(ids) == 4 and all(i.startswith("call_") for i in ids)


def test_reasoning_effort_thinks_and_returns_reasoning_content(client, ollama):
    answer = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": "why?"}], reasoning_effort="low"
    )
    assert ollama.requests[-1]["body"]["think"] == "low"
    message = answer.choices[0].message
    assert message.content == "You said: why?"
    assert message.model_extra["reasoning_content"] == ollama.thinking
    record = AuditRecord.objects.get()
    assert (record.thinking, record.think) == (ollama.thinking, "low")
    streamed = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "why?"}],
        stream=True,
        extra_body={"think": True},
    )
    reasoning = "".join(
        (choice.delta.model_extra or {}).get("reasoning_content") or ""
        for chunk in streamed
        for choice in chunk.choices
    )
    assert reasoning == ollama.thinking


def test_every_ollama_sampling_option_is_passed(client, ollama):
    client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": "x"}],
        extra_body={
            "mirostat": 2,
            "mirostat_tau": 5.0,
            "mirostat_eta": 0.1,
            "tfs_z": 1.0,
            "penalize_newline": False,
            "top_k": 40,
            "options": {"min_p": 0.05, "repeat_penalty": 1.1},
        },
    )
    options = ollama.requests[-1]["body"]["options"]
    assert options["mirostat"] == 2 and options["mirostat_tau"] == 5.0
    assert options["mirostat_eta"] == 0.1 and options["tfs_z"] == 1.0
    assert options["penalize_newline"] is False and options["top_k"] == 40
    assert options["min_p"] == 0.05 and options["repeat_penalty"] == 1.1


def test_legacy_completions_stream_and_not(client, ollama):
    """llama-index's OpenAILike in its default mode and `client.completions.create`."""
    whole = client.completions.create(model=MODEL, prompt="ping", max_tokens=20, temperature=0)
    assert whole.object == "text_completion" and whole.choices[0].text == "You said: ping"
    assert whole.choices[0].finish_reason == "stop"
    assert whole.usage.completion_tokens > 0
    assert ollama.requests[-1]["path"] == "/api/generate"
    assert ollama.requests[-1]["body"]["options"]["num_predict"] == 20
    chunks = list(
        client.completions.create(
            model=MODEL, prompt="pong", stream=True, stream_options={"include_usage": True}
        )
    )
    assert "".join(c.choices[0].text for c in chunks if c.choices) == "You said: pong"
    assert chunks[-1].usage.total_tokens > 0 and chunks[-1].choices == []
    records = AuditRecord.objects.order_by("started_at")
    assert [(r.surface, r.operation) for r in records] == [("openai", "generate")] * 2
    with pytest.raises(openai.BadRequestError, match="echo"):
        client.completions.create(model=MODEL, prompt="x", echo=True)
