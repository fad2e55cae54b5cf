"""`POST /v1/chat/completions`."""

import json
import time
import uuid

from rest_framework.response import Response

from gateway.api.openai.base import OpenAIView, chunk_stream, sse, usage_of
from gateway.api.openai.serializers import ChatCompletionSerializer
from gateway.pipeline import ChatResult, chat_stream, complete


def _openai_tool_calls(tool_calls: list[dict] | None) -> list[dict]:
    """Ollama's tool calls in OpenAI's form, each with an id of its own: agents match the tool's
    answer to its call by id, across turns."""
    return [
        {
            "id": f"call_{uuid.uuid4().hex[:24]}",
            "type": "function",
            "function": {
                "name": call["function"]["name"],
                "arguments": json.dumps(call["function"].get("arguments", {})),
            },
        }
        for call in tool_calls or []
    ]


def _finish_reason(result: ChatResult) -> str:
    if result.tool_calls:
        return "tool_calls"
    return "length" if result.done_reason == "length" else "stop"


def _chat_chunks(events, model: str, created: int, include_usage: bool):
    chunk_id = None

    def chunk(delta: dict, finish_reason=None, **extra) -> dict:
        return {
            "id": chunk_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
            **extra,
        }

    tool_index = 0
    for event in events:
        if isinstance(event, ChatResult):
            chunk_id = chunk_id or f"chatcmpl-{event.id.replace('-', '')}"
            yield sse(chunk({}, _finish_reason(event)))
            if include_usage:
                yield sse({**chunk({}), "choices": [], "usage": usage_of(event)})
            continue
        if chunk_id is None:
            chunk_id = f"chatcmpl-{int(time.time() * 1000)}"
            yield sse(chunk({"role": "assistant", "content": ""}))
        if event.thinking:
            yield sse(chunk({"reasoning_content": event.thinking}))
        if event.content:
            yield sse(chunk({"content": event.content}))
        for call in _openai_tool_calls(event.tool_calls):
            yield sse(chunk({"tool_calls": [{"index": tool_index, **call}]}))
            tool_index += 1


class ChatCompletionsView(OpenAIView):
    def post(self, request):
        body = self.validated(ChatCompletionSerializer)
        chat_request, include_usage = body["request"], body["include_usage"]
        model, stream = chat_request.model, chat_request.stream
        caller, meta = self.call()
        events = chat_stream(caller=caller, request=chat_request, meta=meta)
        created = int(time.time())
        if stream:
            return chunk_stream(
                events, lambda all_events: _chat_chunks(all_events, model, created, include_usage)
            )
        result = complete(events)
        message: dict = {"role": "assistant", "content": result.content or None}
        if result.thinking:
            # where vLLM's and DeepSeek's clients (and LangChain's) read a model's reasoning
            message["reasoning_content"] = result.thinking
        if result.tool_calls:
            message["tool_calls"] = _openai_tool_calls(result.tool_calls)
        elif message["content"] is None:
            message["content"] = ""
        return Response(
            {
                "id": f"chatcmpl-{result.id.replace('-', '')}",
                "object": "chat.completion",
                "created": created,
                "model": model,
                "choices": [
                    {"index": 0, "message": message, "finish_reason": _finish_reason(result)}
                ],
                "usage": usage_of(result),
            }
        )
