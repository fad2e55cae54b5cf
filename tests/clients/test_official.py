"""The official `ollama` and `openai` clients, for the cases of the matrix the door tests
(tests/test_ollama_door.py, test_openai_door.py, test_openai_responses.py) do not play: a tool loop
through the ollama client, and the SDKs' typed structured output (`format=`, `.parse`)."""

import ollama
import openai
import pytest

from tests.clients.conftest import (
    AFTER_TOOL,
    WEATHER_ANSWER,
    WEATHER_CALL,
    Weather,
    assert_structured,
    assert_tool_loop,
    get_weather,
    the_record,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def ollama_client(corral):
    return ollama.Client(
        host=corral.ollama_url, headers={"Authorization": f"Bearer {corral.secret}"}
    )


@pytest.fixture
def openai_client(corral):
    return openai.OpenAI(base_url=corral.openai_url, api_key=corral.secret, max_retries=0)


def test_ollama_tool_loop_with_a_python_function_as_the_tool(corral, ollama_client):
    corral.double.tool_call = WEATHER_CALL
    messages = [{"role": "user", "content": "What is the weather in Oslo?"}]
    asked = ollama_client.chat(model=corral.model, messages=messages, tools=[get_weather]).message
    (call,) = asked.tool_calls
    result = get_weather(**call.function.arguments)
    messages += [asked, {"role": "tool", "content": result, "tool_name": call.function.name}]
    final = ollama_client.chat(model=corral.model, messages=messages, tools=[get_weather])
    assert final.message.content == AFTER_TOOL
    assert_tool_loop("ollama")


def test_ollama_structured_output(corral, ollama_client):
    answer = ollama_client.chat(
        model=corral.model,
        messages=[{"role": "user", "content": "weather in Oslo"}],
        format=Weather.model_json_schema(),
    )
    assert Weather.model_validate_json(answer.message.content) == WEATHER_ANSWER
    assert_structured(the_record(), surface="ollama")


def test_openai_chat_parse(corral, openai_client):
    parsed = openai_client.chat.completions.parse(
        model=corral.model,
        messages=[{"role": "user", "content": "weather in Oslo"}],
        response_format=Weather,
    )
    assert parsed.choices[0].message.parsed == WEATHER_ANSWER
    assert_structured(the_record(), surface="openai")


def test_openai_responses_parse(corral, openai_client):
    parsed = openai_client.responses.parse(
        model=corral.model, input="weather in Oslo", text_format=Weather
    )
    assert parsed.output_parsed == WEATHER_ANSWER
    assert_structured(the_record(), surface="openai")
