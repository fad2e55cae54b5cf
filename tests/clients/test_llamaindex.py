"""LlamaIndex: its Ollama LLM and embedding through the Ollama door, OpenAILike through the OpenAI
door in both modes (chat on /v1/chat/completions, completion on /v1/completions)."""

import asyncio

import pytest
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.base.llms.types import ChatMessage, ThinkingBlock
from llama_index.core.prompts import PromptTemplate
from llama_index.core.tools import FunctionTool
from llama_index.embeddings.ollama import OllamaEmbedding
from llama_index.llms.ollama import Ollama
from llama_index.llms.openai_like import OpenAILike

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

ASK = PromptTemplate("What is the weather in {city}?")


def ollama_llm(corral, **kwargs) -> Ollama:
    return Ollama(
        model=corral.model,
        base_url=corral.ollama_url,
        headers={"Authorization": f"Bearer {corral.secret}"},
        request_timeout=30,
        **kwargs,
    )


def openai_like(corral, *, chat: bool) -> OpenAILike:
    return OpenAILike(
        model=corral.model,
        api_base=corral.openai_url,
        api_key=corral.secret,
        is_chat_model=chat,
        is_function_calling_model=chat,
        context_window=8192,
        max_retries=0,
    )


def run_agent(llm) -> str:
    """LlamaIndex's own agent: it calls the tool, sends the result back and answers."""

    async def run() -> str:
        agent = FunctionAgent(tools=[FunctionTool.from_defaults(get_weather)], llm=llm)
        return str(await agent.run("What is the weather in Oslo?"))

    return asyncio.run(run())


# --- the Ollama LLM and embedding -------------------------------------------------------------


def test_ollama_chat_and_stream(corral):
    # the default temperature is sent as null: the door reads it as absent, as Ollama does
    llm = ollama_llm(corral)
    answer = llm.chat([ChatMessage(role="user", content="hello")])
    assert answer.message.content == "You said: hello"
    assert_served(the_record(), surface="ollama", completion="You said: hello")
    deltas = [r.delta for r in llm.stream_chat([ChatMessage(role="user", content="streamed")])]
    assert len(deltas) > 2 and "".join(deltas) == "You said: streamed"
    assert_served(records()[-1], surface="ollama", completion="You said: streamed")
    assert llm.complete("completed").text == "You said: completed"


def test_ollama_agent_tool_loop(corral):
    corral.double.tool_call = WEATHER_CALL
    assert run_agent(ollama_llm(corral)) == AFTER_TOOL
    assert_tool_loop("ollama")


def test_ollama_structured_output(corral):
    assert ollama_llm(corral).structured_predict(Weather, ASK, city="Oslo") == WEATHER_ANSWER
    assert_structured(the_record(), surface="ollama")


def test_ollama_thinking(corral):
    answer = ollama_llm(corral, thinking=True).chat([ChatMessage(role="user", content="why?")])
    (thought,) = [b for b in answer.message.blocks if isinstance(b, ThinkingBlock)]
    assert thought.content == corral.double.thinking
    record = the_record()
    assert record.think is True and record.thinking == corral.double.thinking


def test_ollama_embedding(corral):
    embedding = OllamaEmbedding(
        model_name=corral.model,
        base_url=corral.ollama_url,
        client_kwargs={"headers": {"Authorization": f"Bearer {corral.secret}"}},
    )
    vectors = embedding.get_text_embedding_batch(["llamas", "alpacas"])
    assert len(vectors) == 2 and len(vectors[0]) == 8
    assert embedding.get_query_embedding("llamas") == vectors[0]
    first = records()[0]
    assert first.surface == "ollama" and first.operation == "embeddings" and first.prompt_tokens


# --- OpenAILike -------------------------------------------------------------------------------


def test_openai_like_chat_mode(corral):
    llm = openai_like(corral, chat=True)
    answer = llm.chat([ChatMessage(role="user", content="hello")])
    assert answer.message.content == "You said: hello"
    assert_served(the_record(), surface="openai", completion="You said: hello")
    deltas = [r.delta for r in llm.stream_chat([ChatMessage(role="user", content="streamed")])]
    assert "".join(d or "" for d in deltas) == "You said: streamed"
    assert records()[-1].operation == "chat"


def test_openai_like_completion_mode(corral):
    llm = openai_like(corral, chat=False)
    assert llm.complete("hello").text == "You said: hello"
    record = the_record()
    assert_served(record, surface="openai", completion="You said: hello")
    assert record.operation == "generate"
    streamed = "".join(r.delta for r in llm.stream_complete("streamed"))
    assert streamed == "You said: streamed"
    # chat in completion mode: LlamaIndex turns the messages into one prompt
    assert llm.chat([ChatMessage(role="user", content="hi")]).message.content.startswith(
        "You said:"
    )


def test_openai_like_agent_tool_loop(corral):
    corral.double.tool_call = WEATHER_CALL
    assert run_agent(openai_like(corral, chat=True)) == AFTER_TOOL
    assert_tool_loop("openai")


def test_openai_like_structured_output_by_a_function_call(corral):
    """A function-calling LLM asks for structure with a tool named after the class."""
    corral.double.tool_call = {
        "function": {"name": "Weather", "arguments": WEATHER_ANSWER.model_dump()}
    }
    llm = openai_like(corral, chat=True)
    assert llm.structured_predict(Weather, ASK, city="Oslo") == WEATHER_ANSWER
    record = the_record()
    assert_served(record, surface="openai")
    assert record.tools[0]["function"]["name"] == "Weather"
