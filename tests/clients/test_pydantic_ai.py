"""pydantic-ai: its OpenAI chat and Responses models through the OpenAI door, and its Ollama model
through Ollama's own OpenAI paths (`/ollama/v1/`), each in an Agent as its documentation shows."""

import pytest
from pydantic_ai import Agent, NativeOutput
from pydantic_ai.messages import ThinkingPart
from pydantic_ai.models.ollama import OllamaModel
from pydantic_ai.models.openai import OpenAIChatModel, OpenAIResponsesModel
from pydantic_ai.providers.ollama import OllamaProvider
from pydantic_ai.providers.openai import OpenAIProvider

from tests.clients.conftest import (
    AFTER_TOOL,
    WEATHER_ANSWER,
    WEATHER_CALL,
    Weather,
    assert_served,
    assert_structured,
    assert_tool_loop,
    get_weather,
    records,
    the_record,
)

pytestmark = pytest.mark.django_db(transaction=True)


def chat_model(corral):
    provider = OpenAIProvider(base_url=corral.openai_url, api_key=corral.secret)
    return OpenAIChatModel(corral.model, provider=provider)


def responses_model(corral):
    provider = OpenAIProvider(base_url=corral.openai_url, api_key=corral.secret)
    return OpenAIResponsesModel(corral.model, provider=provider)


def ollama_model(corral):
    provider = OllamaProvider(base_url=f"{corral.ollama_url}/v1", api_key=corral.secret)
    return OllamaModel(corral.model, provider=provider)


MODELS = {"chat": chat_model, "responses": responses_model, "ollama": ollama_model}


@pytest.mark.parametrize("kind", MODELS)
def test_run_and_stream(corral, kind):
    agent = Agent(MODELS[kind](corral))
    assert agent.run_sync("hello").output == "You said: hello"
    assert_served(the_record(), surface="openai", completion="You said: hello")
    with agent.run_stream_sync("streamed") as streamed:
        deltas = list(streamed.stream_text(delta=True, debounce_by=None))
    assert len(deltas) > 1 and "".join(deltas) == "You said: streamed"
    assert_served(records()[-1], surface="openai", completion="You said: streamed")


@pytest.mark.parametrize("kind", MODELS)
def test_tool_loop(corral, kind):
    corral.double.tool_call = WEATHER_CALL
    agent = Agent(MODELS[kind](corral), tools=[get_weather])
    assert agent.run_sync("What is the weather in Oslo?").output == AFTER_TOOL
    assert_tool_loop("openai")


@pytest.mark.parametrize("kind", MODELS)
def test_structured_output_by_its_output_tool(corral, kind):
    """pydantic-ai's default: the model answers by calling a `final_result` tool."""
    corral.double.tool_call = {
        "function": {"name": "final_result", "arguments": WEATHER_ANSWER.model_dump()}
    }
    agent = Agent(MODELS[kind](corral), output_type=Weather)
    assert agent.run_sync("weather in Oslo").output == WEATHER_ANSWER
    record = the_record()
    assert_served(record, surface="openai")
    assert record.tools[0]["function"]["name"] == "final_result"


@pytest.mark.parametrize("kind", MODELS)
def test_structured_output_natively(corral, kind):
    """NativeOutput asks for a JSON schema (response_format / text.format): Ollama's `format`."""
    agent = Agent(MODELS[kind](corral), output_type=NativeOutput(Weather))
    assert agent.run_sync("weather in Oslo").output == WEATHER_ANSWER
    assert_structured(the_record(), surface="openai")


@pytest.mark.parametrize(
    ("kind", "settings"),
    [
        ("chat", {"openai_reasoning_effort": "low"}),
        ("responses", {"openai_reasoning_effort": "low", "openai_reasoning_summary": "auto"}),
    ],
)
def test_thinking(corral, kind, settings):
    agent = Agent(MODELS[kind](corral), model_settings=settings)
    result = agent.run_sync("why?")
    assert result.output == "You said: why?"
    thoughts = [
        part.content
        for message in result.all_messages()
        for part in getattr(message, "parts", [])
        if isinstance(part, ThinkingPart)
    ]
    assert thoughts == [corral.double.thinking]
    record = the_record()
    assert record.think == "low" and record.thinking == corral.double.thinking
