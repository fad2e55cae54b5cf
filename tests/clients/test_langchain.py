"""LangChain: langchain-ollama through the Ollama door, langchain-openai through the OpenAI door
(Chat Completions and the Responses API)."""

import pytest
from langchain_core.messages import HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_ollama import ChatOllama, OllamaEmbeddings
from langchain_openai import ChatOpenAI, OpenAIEmbeddings

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

weather_tool = tool(get_weather)


def chat_ollama(corral, **kwargs) -> ChatOllama:
    return ChatOllama(
        model=corral.model,
        base_url=corral.ollama_url,
        client_kwargs={"headers": {"Authorization": f"Bearer {corral.secret}"}},
        **kwargs,
    )


def chat_openai(corral, **kwargs) -> ChatOpenAI:
    return ChatOpenAI(
        model=corral.model,
        base_url=corral.openai_url,
        api_key=corral.secret,
        max_retries=0,
        **kwargs,
    )


def run_tool_loop(llm) -> str:
    """What an agent does: the model asks for the tool, the tool runs, its result goes back."""
    messages = [HumanMessage("What is the weather in Oslo?")]
    asked = llm.bind_tools([weather_tool]).invoke(messages)
    (call,) = asked.tool_calls
    assert call["name"] == "get_weather" and call["args"] == {"city": "Oslo"}
    messages += [asked, ToolMessage(weather_tool.invoke(call["args"]), tool_call_id=call["id"])]
    return llm.bind_tools([weather_tool]).invoke(messages).text


# --- langchain-ollama -------------------------------------------------------------------------


def test_chat_ollama_chat_and_stream(corral):
    llm = chat_ollama(corral, temperature=0.2)
    assert llm.invoke("hello").content == "You said: hello"
    record = the_record()
    assert_served(record, surface="ollama", completion="You said: hello")
    assert record.options["temperature"] == 0.2
    chunks = list(llm.stream("streamed"))
    assert len(chunks) > 2 and "".join(c.content for c in chunks) == "You said: streamed"
    streamed = records()[-1]
    assert streamed.stream is True
    assert_served(streamed, surface="ollama", completion="You said: streamed")


def test_chat_ollama_tool_loop(corral):
    corral.double.tool_call = WEATHER_CALL
    assert run_tool_loop(chat_ollama(corral)) == AFTER_TOOL
    assert_tool_loop("ollama")


def test_chat_ollama_structured_output(corral):
    structured = chat_ollama(corral).with_structured_output(Weather)
    assert structured.invoke("weather in Oslo as JSON") == WEATHER_ANSWER
    assert_structured(the_record(), surface="ollama")


def test_chat_ollama_reasoning(corral):
    answer = chat_ollama(corral, reasoning=True).invoke("think first")
    assert answer.additional_kwargs["reasoning_content"] == corral.double.thinking
    assert answer.content == "You said: think first"
    record = the_record()
    assert record.think is True and record.thinking == corral.double.thinking


def test_ollama_embeddings(corral):
    embeddings = OllamaEmbeddings(
        model=corral.model,
        base_url=corral.ollama_url,
        client_kwargs={"headers": {"Authorization": f"Bearer {corral.secret}"}},
    )
    vectors = embeddings.embed_documents(["llamas", "alpacas"])
    assert len(vectors) == 2 and len(vectors[0]) == 8 and vectors[0] != vectors[1]
    assert embeddings.embed_query("llamas") == vectors[0]
    first, _ = records()
    assert first.surface == "ollama" and first.operation == "embeddings" and first.prompt_tokens > 0


# --- langchain-openai -------------------------------------------------------------------------


@pytest.mark.parametrize("responses", [False, True], ids=["chat-completions", "responses-api"])
def test_chat_openai_chat_and_stream(corral, responses):
    llm = chat_openai(corral, use_responses_api=responses, temperature=0.2)
    assert llm.invoke("hello").text == "You said: hello"
    assert_served(the_record(), surface="openai", completion="You said: hello")
    chunks = list(llm.stream("streamed"))
    assert "".join(c.text for c in chunks) == "You said: streamed"
    streamed = records()[-1]
    assert streamed.stream is True
    assert_served(streamed, surface="openai", completion="You said: streamed")


@pytest.mark.parametrize("responses", [False, True], ids=["chat-completions", "responses-api"])
def test_chat_openai_tool_loop(corral, responses):
    corral.double.tool_call = WEATHER_CALL
    assert run_tool_loop(chat_openai(corral, use_responses_api=responses)) == AFTER_TOOL
    assert_tool_loop("openai")


@pytest.mark.parametrize("responses", [False, True], ids=["chat-completions", "responses-api"])
def test_chat_openai_structured_output(corral, responses):
    structured = chat_openai(corral, use_responses_api=responses).with_structured_output(Weather)
    assert structured.invoke("weather in Oslo as JSON") == WEATHER_ANSWER
    assert_structured(the_record(), surface="openai")


def test_chat_openai_reasoning_through_the_responses_api(corral):
    llm = chat_openai(corral, reasoning={"effort": "low", "summary": "auto"})
    answer = llm.invoke("think first")
    assert answer.text == "You said: think first"
    (reasoning,) = [block for block in answer.content if block["type"] == "reasoning"]
    assert reasoning["summary"][0]["text"] == corral.double.thinking
    record = the_record()
    assert record.think == "low" and record.thinking == corral.double.thinking


def test_openai_embeddings(corral):
    embeddings = OpenAIEmbeddings(
        model=corral.model,
        base_url=corral.openai_url,
        api_key=corral.secret,
        # LangChain's documented setting for servers that are not OpenAI: send text, not tiktoken ids
        check_embedding_ctx_length=False,
        max_retries=0,
    )
    vectors = embeddings.embed_documents(["llamas", "alpacas"])
    assert len(vectors) == 2 and len(vectors[0]) == 8
    record = the_record()
    assert (
        record.surface == "openai" and record.operation == "embeddings" and record.prompt_tokens > 0
    )
