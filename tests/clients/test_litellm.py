"""The LiteLLM SDK: its `ollama_chat/` and `ollama/` providers through the Ollama door, its `openai/`
provider through the OpenAI door, and `litellm.responses`."""

import json
import os

import pytest

# LiteLLM fetches its model price list from the internet at import unless told to use its own copy
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import litellm

from tests.clients.conftest import (
    AFTER_TOOL,
    WEATHER_ANSWER,
    WEATHER_CALL,
    WEATHER_RESULT,
    Weather,
    assert_served,
    assert_structured,
    assert_tool_loop,
    records,
    the_record,
)

pytestmark = pytest.mark.django_db(transaction=True)

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}
PROVIDERS = {
    # provider prefix -> (which door, the surface on the record)
    "ollama_chat": ("ollama_url", "ollama"),
    "openai": ("openai_url", "openai"),
}


def call(corral, provider: str, **kwargs):
    door, _ = PROVIDERS[provider]
    return litellm.completion(
        model=f"{provider}/{corral.model}",
        api_base=getattr(corral, door),
        api_key=corral.secret,
        num_retries=0,
        **kwargs,
    )


@pytest.mark.parametrize("provider", PROVIDERS)
def test_chat_and_stream(corral, provider):
    surface = PROVIDERS[provider][1]
    answer = call(corral, provider, messages=[{"role": "user", "content": "hello"}])
    assert answer.choices[0].message.content == "You said: hello"
    assert answer.usage.completion_tokens == the_record().completion_tokens
    assert_served(the_record(), surface=surface, completion="You said: hello")
    chunks = list(
        call(corral, provider, messages=[{"role": "user", "content": "streamed"}], stream=True)
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "You said: streamed"
    assert_served(records()[-1], surface=surface, completion="You said: streamed")


@pytest.mark.parametrize("provider", PROVIDERS)
def test_tool_loop(corral, provider):
    corral.double.tool_call = WEATHER_CALL
    messages = [{"role": "user", "content": "What is the weather in Oslo?"}]
    asked = call(corral, provider, messages=messages, tools=[WEATHER_TOOL]).choices[0].message
    (tool_call,) = asked.tool_calls
    assert tool_call.function.name == "get_weather"
    assert json.loads(tool_call.function.arguments) == {"city": "Oslo"}
    # LiteLLM's documented loop: the assistant message back, then the result with its id and name
    messages += [
        asked.model_dump(),
        {
            "role": "tool",
            "tool_call_id": tool_call.id,
            "name": "get_weather",
            "content": WEATHER_RESULT,
        },
    ]
    final = call(corral, provider, messages=messages, tools=[WEATHER_TOOL])
    assert final.choices[0].message.content == AFTER_TOOL
    assert_tool_loop(PROVIDERS[provider][1])


@pytest.mark.parametrize("provider", PROVIDERS)
def test_structured_output(corral, provider):
    answer = call(
        corral,
        provider,
        messages=[{"role": "user", "content": "weather in Oslo as JSON"}],
        response_format=Weather,
    )
    assert Weather.model_validate_json(answer.choices[0].message.content) == WEATHER_ANSWER
    assert_structured(the_record(), surface=PROVIDERS[provider][1])


@pytest.mark.parametrize("provider", PROVIDERS)
def test_reasoning_effort(corral, provider):
    answer = call(
        corral, provider, messages=[{"role": "user", "content": "why?"}], reasoning_effort="low"
    )
    assert answer.choices[0].message.reasoning_content == corral.double.thinking
    record = the_record()
    assert record.think in (True, "low") and record.thinking == corral.double.thinking


@pytest.mark.parametrize(
    ("model", "door", "surface"),
    [("ollama/{}", "ollama_url", "ollama"), ("openai/{}", "openai_url", "openai")],
)
def test_embeddings(corral, model, door, surface):
    result = litellm.embedding(
        model=model.format(corral.model),
        api_base=getattr(corral, door),
        api_key=corral.secret,
        input=["llamas", "alpacas"],
    )
    assert [len(item["embedding"]) for item in result.data] == [8, 8]
    record = the_record()
    assert record.surface == surface and record.operation == "embeddings"


def test_the_ollama_generate_provider(corral):
    """`ollama/` (not `ollama_chat/`) turns the messages into a prompt for /api/generate."""
    answer = litellm.completion(
        model=f"ollama/{corral.model}",
        api_base=corral.ollama_url,
        api_key=corral.secret,
        messages=[{"role": "user", "content": "hello"}],
    )
    assert answer.choices[0].message.content.startswith("You said:")
    record = the_record()
    assert_served(record, surface="ollama")
    assert record.operation == "generate"


def test_responses(corral):
    kwargs = {"api_base": corral.openai_url, "api_key": corral.secret}
    model = f"openai/{corral.model}"
    first = litellm.responses(model=model, input="hello", **kwargs)
    assert first.output[-1].content[0].text == "You said: hello"
    assert_served(the_record(), surface="openai", completion="You said: hello")
    events = list(litellm.responses(model=model, input="streamed", stream=True, **kwargs))
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert "".join(deltas) == "You said: streamed"
    assert events[-1].type == "response.completed"
