"""The conformance suite's shared world: Corral served over real HTTP in front of the Ollama double,
a token, one tool, one output schema, and what every case checks on the audit record.

Each client library is driven exactly as its documentation tells a team to point it at Ollama or at
an OpenAI-compatible server; nothing is patched inside the libraries."""

import json

import pytest
from pydantic import BaseModel

from audit.models import AuditRecord
from tests.conftest import MODEL

WEATHER_CALL = {"function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}
WEATHER_RESULT = "sunny, 21 C"
# what the double answers once the tool's result is sent back: proof the result reached the model
AFTER_TOOL = f"The tool said: {WEATHER_RESULT}"


def get_weather(city: str) -> str:
    """Get the current weather in a city."""
    return WEATHER_RESULT


class Weather(BaseModel):
    """The structured answer every client asks for; the double answers a schema's instance."""

    city: str
    temperature: int


# the instance the double builds from Weather's JSON schema (strings are named after their property)
WEATHER_ANSWER = Weather(city="city", temperature=42)


@pytest.fixture
def corral(live_server, token, route, ollama):
    class Corral:
        url = live_server.url
        ollama_url = f"{live_server.url}/ollama"
        openai_url = f"{live_server.url}/v1"
        secret = token
        model = MODEL
        double = ollama

    return Corral()


def records() -> list[AuditRecord]:
    return list(AuditRecord.objects.order_by("started_at", "id"))


def the_record() -> AuditRecord:
    (record,) = records()
    return record


def assert_served(record: AuditRecord, *, surface: str, completion: str | None = None) -> None:
    """What every served case checks on its record: it succeeded, through the door the client
    uses, and the tokens Ollama counted are there."""
    assert record.status == AuditRecord.Status.SUCCEEDED, (record.error_code, record.error_message)
    assert record.surface == surface
    assert record.prompt_tokens > 0 and record.completion_tokens > 0
    if completion is not None:
        assert record.completion == completion


def assert_tool_loop(surface: str) -> None:
    """A full tool loop is two calls: the first recorded the tool call, the second sent the tool's
    result back and was answered from it."""
    first, second = records()
    assert_served(first, surface=surface)
    assert second.status == AuditRecord.Status.SUCCEEDED
    assert first.finish_reason == "tool_calls" or first.tool_calls
    (call,) = first.tool_calls
    arguments = call["function"]["arguments"]
    if isinstance(arguments, str):
        arguments = json.loads(arguments)
    assert call["function"]["name"] == "get_weather" and arguments == {"city": "Oslo"}
    assert any(
        m.get("role") == "tool" and m.get("content") == WEATHER_RESULT for m in second.messages
    )
    assert_served(second, surface=surface, completion=AFTER_TOOL)


def assert_structured(record: AuditRecord, *, surface: str) -> None:
    """Structured output reached Ollama as a `format` schema and the answer is its instance."""
    assert_served(record, surface=surface)
    assert isinstance(record.request_format, dict)
    assert set(record.request_format["properties"]) == {"city", "temperature"}
    assert Weather.model_validate_json(record.completion) == WEATHER_ANSWER
