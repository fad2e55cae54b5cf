"""`POST /v1/responses`, driven by the official openai SDK's `responses` API over real HTTP."""

import json

import openai
import pytest
from rest_framework.test import APIClient

from accounts.services import token_issue, user_create
from audit.models import AuditRecord
from tests.conftest import MODEL

pytestmark = pytest.mark.django_db(transaction=True)

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


@pytest.fixture
def client(live_server, token, route):
    return openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=token, max_retries=0)


def test_text_in_text_out(client):
    response = client.responses.create(
        model=MODEL, input="hello responses", instructions="Be brief."
    )
    assert response.output_text == "You said: hello responses"
    assert response.status == "completed" and response.usage.output_tokens > 0
    record = AuditRecord.objects.get()
    assert response.id == "resp_" + str(record.id).replace("-", "")
    assert record.messages[0] == {"role": "system", "content": "Be brief."}
    assert (record.surface, record.operation) == ("openai", "chat")


def test_stream_events_are_the_documented_ones(client):
    events = list(client.responses.create(model=MODEL, input="one two", stream=True))
    kinds = [event.type for event in events]
    assert kinds[:2] == ["response.created", "response.in_progress"]
    assert kinds[-1] == "response.completed"
    assert "response.output_item.added" in kinds and "response.content_part.added" in kinds
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
    assert "".join(deltas) == "You said: one two"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    done = events[-1].response
    assert done.output_text == "You said: one two" and done.usage.total_tokens > 0


def test_a_full_function_tool_loop(client, ollama):
    ollama.tool_call = {"function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}
    first = client.responses.create(model=MODEL, input="weather in Oslo?", tools=[WEATHER])
    call = next(item for item in first.output if item.type == "function_call")
    assert call.name == "get_weather" and json.loads(call.arguments) == {"city": "Oslo"}
    ollama.tool_call = None
    second = client.responses.create(
        model=MODEL,
        tools=[WEATHER],
        input=[
            {"role": "user", "content": "weather in Oslo?"},
            {
                "type": "function_call",
                "call_id": call.call_id,
                "name": call.name,
                "arguments": call.arguments,
            },
            {"type": "function_call_output", "call_id": call.call_id, "output": "sunny, 21 C"},
        ],
    )
    sent = ollama.requests[-1]["body"]["messages"]
    assert sent[1]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert sent[2] == {"role": "tool", "content": "sunny, 21 C", "tool_name": "get_weather"}
    assert second.output_text == "The tool said: sunny, 21 C"
    streamed = list(
        client.responses.create(
            model=MODEL, input="x", tools=[WEATHER], tool_choice="none", stream=True
        )
    )
    assert not ollama.requests[-1]["body"].get("tools")
    assert streamed[-1].type == "response.completed"


def test_structured_output_and_reasoning(client, ollama):
    schema = {"type": "object", "properties": {"a": {"type": "integer"}}}
    client.responses.create(
        model=MODEL,
        input="json please",
        text={"format": {"type": "json_schema", "name": "a", "schema": schema}},
    )
    assert ollama.requests[-1]["body"]["format"] == schema
    thought = client.responses.create(model=MODEL, input="why?", reasoning={"effort": "high"})
    assert ollama.requests[-1]["body"]["think"] == "high"
    reasoning = next(item for item in thought.output if item.type == "reasoning")
    assert reasoning.summary[0].text == reasoning.content[0].text == ollama.thinking
    events = list(
        client.responses.create(model=MODEL, input="why?", reasoning={"effort": "low"}, stream=True)
    )
    thinking = "".join(e.delta for e in events if e.type == "response.reasoning_summary_text.delta")
    assert thinking == ollama.thinking
    (done,) = [
        e.item
        for e in events
        if e.type == "response.output_item.done" and e.item.type == "reasoning"
    ]
    assert done.summary[0].text == thinking and events[-1].response.output[0] == done
    assert AuditRecord.objects.order_by("-started_at").first().thinking == ollama.thinking


def test_previous_response_id_continues_from_the_callers_own_records(client, ollama, live_server):
    first = client.responses.create(model=MODEL, input="remember 42")
    second = client.responses.create(
        model=MODEL, input="what did I say?", previous_response_id=first.id
    )
    sent = ollama.requests[-1]["body"]["messages"]
    assert [m["content"] for m in sent] == [
        "remember 42",
        "You said: remember 42",
        "what did I say?",
    ]
    assert second.previous_response_id == first.id
    _, other = token_issue(user=user_create(username="mallory"), name="m")
    stranger = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=other, max_retries=0)
    with pytest.raises(openai.NotFoundError):
        stranger.responses.create(model=MODEL, input="x", previous_response_id=first.id)


def test_what_ollama_cannot_do_is_named(client, token):
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    for body, named in (
        ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
        ({"background": True}, "background"),
        ({"input": [{"type": "item_reference", "id": "x"}]}, "input[0].type"),
    ):
        response = api.post("/v1/responses", {"model": MODEL, "input": "x", **body}, format="json")
        assert response.status_code == 400, response.content
        assert named in response.json()["error"]["message"]
