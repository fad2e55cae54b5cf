"""The OpenAI-compatible door under /v1/: `openai.OpenAI(base_url="http://corral/v1", api_key=TOKEN)`.

Chat completions (stream and not, `stream_options.include_usage`, tools, `response_format`, sampling
parameters mapped to Ollama options), models and embeddings, in OpenAI's wire format and error shape,
through the same pipeline as every other door.
"""

import base64
import json
import struct
import time
import uuid
from collections.abc import Callable, Iterator
from itertools import chain

from django.http import JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.models import AuditRecord
from gateway.api import openai_requests
from gateway.api.base import RateLimitHeadersMixin
from gateway.api.caller import caller_from_request
from gateway.api.exception_handler import handle_exception
from gateway.errors import GatewayError, InvalidRequest, ModelNotFound
from gateway.pipeline import (
    CallMeta,
    ChatRequest,
    ChatResult,
    EmbedRequest,
    chat_stream,
    complete,
    embed,
)
from gateway.selectors import route_get_for_team, route_list_for_team

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}
ERROR_CODES = {
    "unauthenticated": "invalid_api_key",
    "rate_limited": "rate_limit_exceeded",
    "quota_exceeded": "insufficient_quota",
}


def openai_error(status: int, code: str, message: str, param: str | None = None) -> dict:
    return {
        "error": {
            "message": message,
            "type": ERROR_TYPES.get(
                status, "api_error" if status >= 500 else "invalid_request_error"
            ),
            "param": param,
            "code": ERROR_CODES.get(code, code),
        }
    }


def openai_exception_handler(exc, context):
    response = handle_exception(exc, context)
    error = response.data.get("error", {}) if isinstance(response.data, dict) else {}
    param = (
        error.get("message", "").split(":", 1)[0]
        if error.get("code") == "invalid_request"
        else None
    )
    if isinstance(exc, ModelNotFound):
        param = "model"
    response.data = openai_error(
        response.status_code, error.get("code", ""), error.get("message", ""), param
    )
    return response


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


def usage_of(result: ChatResult) -> dict:
    return {
        "prompt_tokens": result.usage.prompt_tokens,
        "completion_tokens": result.usage.completion_tokens,
        "total_tokens": result.usage.total_tokens,
    }


class OpenAIView(RateLimitHeadersMixin, APIView):
    def get_exception_handler(self):
        return openai_exception_handler

    def body(self) -> dict:
        if not isinstance(self.request.data, dict):
            raise InvalidRequest("the body must be a JSON object.")
        return self.request.data


def sse(obj) -> bytes:
    data = (
        obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    )
    return f"data: {data}\n\n".encode()


class _Relay:
    """A streamed answer; close() always reaches the pipeline, whatever the client does."""

    def __init__(self, first, events: Iterator, encode: Callable[[Iterator], Iterator[bytes]]):
        self._events = events
        self._body = encode(chain([first], events))

    def __iter__(self):
        return self._body

    def close(self) -> None:
        self._body.close()
        self._events.close()


def event_stream(events: Iterator, encode: Callable[[Iterator], Iterator[bytes]]):
    """Server-sent events from the pipeline's events. The first is taken here, so what fails
    before the first byte is still a plain HTTP error in OpenAI's shape."""
    first = next(events)
    response = StreamingHttpResponse(
        _Relay(first, events, encode), content_type="text/event-stream; charset=utf-8"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


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

    try:
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
        yield sse("[DONE]")
    except GatewayError as exc:
        yield sse(openai_error(exc.status, exc.code, exc.message))


def model_name(data: dict) -> str:
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("model: is required.")
    if len(model) > 200:
        raise InvalidRequest("model: at most 200 characters.")
    return model


class ChatCompletionsView(OpenAIView):
    def post(self, request):
        data = self.body()
        model = model_name(data)
        openai_requests.choice_count(data)
        stream = openai_requests.stream(data)
        chat_request = ChatRequest(
            model=model,
            messages=openai_requests.messages(data),
            stream=stream,
            options=openai_requests.options(data),
            format=openai_requests.response_format(data),
            tools=openai_requests.tools_for_choice(data, openai_requests.tools(data)),
            think=openai_requests.think(data),
            tool_choice=data.get("tool_choice"),
            metadata={"user": data["user"]} if isinstance(data.get("user"), str) else {},
        )
        meta = request.corral_meta = CallMeta()
        caller = caller_from_request(request, surface=AuditRecord.Surface.OPENAI)
        include_usage = openai_requests.include_usage(data)
        events = chat_stream(caller=caller, request=chat_request, meta=meta)
        created = int(time.time())
        if stream:
            return event_stream(
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


def _model_entry(route) -> dict:
    return {
        "id": route.name,
        "object": "model",
        "created": int(route.created_at.timestamp()),
        "owned_by": "corral",
    }


class ModelsView(OpenAIView):
    def get(self, request):
        team = request.auth.team if request.auth is not None else None
        return Response(
            {"object": "list", "data": [_model_entry(r) for r in route_list_for_team(team=team)]}
        )


class ModelDetailView(OpenAIView):
    def get(self, request, model: str):
        team = request.auth.team if request.auth is not None else None
        return Response(_model_entry(route_get_for_team(team=team, model=model)))


class EmbeddingsView(OpenAIView):
    def post(self, request):
        data = self.body()
        model = model_name(data)
        inputs = openai_requests.embedding_inputs(data)
        encoding = data.get("encoding_format", "float")
        if encoding not in ("float", "base64"):
            raise InvalidRequest("encoding_format: must be float or base64.")
        dimensions = openai_requests.number(data, "dimensions", int)
        meta = request.corral_meta = CallMeta()
        result = embed(
            caller=caller_from_request(request, surface=AuditRecord.Surface.OPENAI),
            request=EmbedRequest(model=model, input=inputs, dimensions=dimensions),
            meta=meta,
        )
        return Response(
            {
                "object": "list",
                "data": [
                    {
                        "object": "embedding",
                        "embedding": _encode_vector(vector, encoding),
                        "index": index,
                    }
                    for index, vector in enumerate(result.embeddings)
                ],
                "model": model,
                "usage": {
                    "prompt_tokens": result.prompt_tokens,
                    "total_tokens": result.prompt_tokens,
                },
            }
        )


def _encode_vector(vector: list[float], encoding: str):
    if encoding == "float":
        return vector
    # OpenAI's base64 form: little-endian float32, which its SDK asks for by default.
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


@csrf_exempt
def not_found(request, *args, **kwargs):
    return JsonResponse(
        openai_error(404, "not_found", f"no such endpoint: {request.path}"), status=404
    )
