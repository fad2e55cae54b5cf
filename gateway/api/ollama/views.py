"""The Ollama-compatible door under /ollama/: Ollama's own wire format, Corral's pipeline behind it.

`ollama.Client(host="http://corral/ollama", headers={"Authorization": "Bearer crl_..."})` (or
OLLAMA_API_KEY) works unchanged: NDJSON streaming by default, the final chunk's counters, and
`{"error": "..."}` bodies with Ollama's status codes, a failure mid-stream as an error line.
"""

import json
from collections.abc import Iterator
from datetime import UTC, datetime

from django.http import HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import APIView

from audit.models import AuditRecord
from common.errors import GatewayError, ModelNotFound
from gateway.api.base import RateLimitHeadersMixin
from gateway.api.caller import caller_from_request
from gateway.api.exception_handler import handle_exception
from gateway.api.fields import plain_data
from gateway.api.ollama import requests as ollama_requests
from gateway.api.relay import Encoder, Events, stream_response
from gateway.catalog import backend_version, model_show, running_entries, tag_entries
from gateway.pipeline import (
    CallMeta,
    ChatRequest,
    ChatResult,
    Delta,
    EmbedRequest,
    GenerateRequest,
    chat_stream,
    complete,
    embed,
    generate_stream,
)
from gateway.selectors import backend_list_enabled, route_get_for_team, route_list_for_team

# Ollama answers a failed upstream with 500; keep the contract's other statuses as they are.
STATUS_OVERRIDES = {"upstream_error": 500}


def ollama_exception_handler(exc, context):
    """The native handler's decision, re-shaped as Ollama's {"error": "..."}."""
    response = handle_exception(exc, context)
    error = response.data.get("error", {}) if isinstance(response.data, dict) else {}
    message = error.get("message", "")
    if isinstance(exc, ModelNotFound):
        # Ollama's own words; tools match on them (e.g. to offer a pull).
        data = context["request"].data
        name = data.get("model", "") if isinstance(data, dict) else ""
        message = f"model '{name}' not found"
    response.data = {"error": message}
    response.status_code = STATUS_OVERRIDES.get(error.get("code"), response.status_code)
    return response


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class OllamaView(RateLimitHeadersMixin, APIView):
    content_negotiation_class = ollama_requests.JSONWhateverTheContentType

    def get_exception_handler(self):
        return ollama_exception_handler

    def validated(self, serializer_class) -> dict:
        return ollama_requests.validated(serializer_class, self.request.data)


def _final_fields(result: ChatResult) -> dict:
    final = result.upstream_final
    return {
        "done": True,
        "done_reason": result.done_reason,
        "total_duration": final.get("total_duration") or result.latency_ms * 1_000_000,
        "load_duration": final.get("load_duration") or 0,
        "prompt_eval_count": result.usage.prompt_tokens,
        "prompt_eval_duration": final.get("prompt_eval_duration") or 0,
        "eval_count": result.usage.completion_tokens,
        "eval_duration": final.get("eval_duration") or 0,
    }


def _chat_message(content: str, thinking: str = "", tool_calls=None) -> dict:
    message: dict = {"role": "assistant", "content": content}
    if thinking:
        message["thinking"] = thinking
    if tool_calls:
        message["tool_calls"] = tool_calls
    return message


def _line(obj: dict) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


def _ndjson(model: str, kind: str) -> Encoder:
    """Ollama's NDJSON stream of one answer: a chunk per delta, a final chunk with the counters,
    or an `{"error"}` line for what broke it."""

    def encode(events: Events) -> Iterator[bytes]:
        try:
            for event in events:
                if isinstance(event, ChatResult):
                    tail = {"model": model, "created_at": _now()}
                    if kind == "chat":
                        tail["message"] = _chat_message("")
                    else:
                        tail["response"] = ""
                    yield _line({**tail, **_final_fields(event)})
                elif kind == "chat":
                    message = _chat_message(event.content, event.thinking, event.tool_calls)
                    yield _line(
                        {"model": model, "created_at": _now(), "message": message, "done": False}
                    )
                else:
                    chunk = {
                        "model": model,
                        "created_at": _now(),
                        "response": event.content,
                        "done": False,
                    }
                    if event.thinking:
                        chunk["thinking"] = event.thinking
                    yield _line(chunk)
        except GatewayError as exc:
            yield _line({"error": exc.message})

    return encode


def _answer(events: Iterator[Delta | ChatResult], *, stream: bool, model: str, kind: str):
    if stream:
        return stream_response(events, _ndjson(model, kind), content_type="application/x-ndjson")
    result = complete(events)
    body: dict = {"model": model, "created_at": _now()}
    if kind == "chat":
        body["message"] = _chat_message(result.content, result.thinking, result.tool_calls)
    else:
        body["response"] = result.content
        if result.thinking:
            body["thinking"] = result.thinking
    return Response({**body, **_final_fields(result)})


class ChatView(OllamaView):
    def post(self, request):
        data = self.validated(ollama_requests.OllamaChatSerializer)
        messages = [
            {key: value for key, value in message.items() if value not in (None, [])}
            for message in plain_data(data["messages"])
        ]
        chat_request = ChatRequest(
            model=data["model"],
            messages=messages,
            stream=data["stream"],
            options=data["options"],
            format=data.get("format") or None,
            tools=plain_data(data.get("tools")) or None,
            keep_alive=data.get("keep_alive"),
            think=data.get("think"),
        )
        meta = request.corral_meta = _meta()
        events = chat_stream(caller=_caller(request), request=chat_request, meta=meta)
        if not messages:
            return _loaded(complete(events), chat_request.model)
        return _answer(events, stream=chat_request.stream, model=chat_request.model, kind="chat")


def _loaded(result: ChatResult, model: str) -> Response:
    """Ollama's answer to a chat without messages: the model was loaded (or unloaded), one
    object, no counters."""
    return Response(
        {
            "model": model,
            "created_at": _now(),
            "message": _chat_message(""),
            "done_reason": result.done_reason,
            "done": True,
        }
    )


class GenerateView(OllamaView):
    def post(self, request):
        data = self.validated(ollama_requests.OllamaGenerateSerializer)
        generate_request = GenerateRequest(
            model=data["model"],
            prompt=data["prompt"],
            stream=data["stream"],
            system=data.get("system"),
            suffix=data.get("suffix"),
            images=data.get("images"),
            raw=data.get("raw"),
            template=data.get("template"),
            think=data.get("think"),
            format=data.get("format") or None,
            options=data["options"],
            keep_alive=data.get("keep_alive"),
        )
        meta = request.corral_meta = _meta()
        events = generate_stream(caller=_caller(request), request=generate_request, meta=meta)
        return _answer(
            events, stream=generate_request.stream, model=generate_request.model, kind="generate"
        )


class EmbedView(OllamaView):
    def post(self, request):
        data = self.validated(ollama_requests.OllamaEmbedSerializer)
        meta = request.corral_meta = _meta()
        result = embed(
            caller=_caller(request),
            request=EmbedRequest(
                model=data["model"],
                input=data["input"],
                truncate=data.get("truncate"),
                dimensions=data.get("dimensions"),
                options=data["options"],
                keep_alive=data.get("keep_alive"),
            ),
            meta=meta,
        )
        return Response(
            {
                "model": result.model,
                "embeddings": result.embeddings,
                "total_duration": result.upstream_final.get("total_duration")
                or result.latency_ms * 1_000_000,
                "load_duration": result.upstream_final.get("load_duration") or 0,
                "prompt_eval_count": result.prompt_tokens,
            }
        )


class LegacyEmbeddingsView(OllamaView):
    """`POST /api/embeddings`: what `ollama.Client.embeddings()` and older integrations call."""

    def post(self, request):
        data = self.validated(ollama_requests.OllamaLegacyEmbeddingsSerializer)
        if not data["prompt"]:
            return Response({"embedding": []})  # as Ollama answers an empty prompt
        meta = request.corral_meta = _meta()
        result = embed(
            caller=_caller(request),
            request=EmbedRequest(
                model=data["model"],
                input=[data["prompt"]],
                options=data["options"],
                keep_alive=data.get("keep_alive"),
            ),
            meta=meta,
        )
        return Response({"embedding": result.embeddings[0]})


class TagsView(OllamaView):
    def get(self, request):
        routes = list(route_list_for_team(team=_team(request)))
        return Response({"models": tag_entries(routes)})


class PsView(OllamaView):
    def get(self, request):
        routes = list(route_list_for_team(team=_team(request)))
        return Response({"models": running_entries(routes)})


class ShowView(OllamaView):
    def post(self, request):
        name = request.data.get("model") or request.data.get("name")
        if not isinstance(name, str) or not name:
            raise exceptions.ValidationError({"model": ["is required."]})
        route = route_get_for_team(team=_team(request), model=name)
        return Response(model_show(route))


class VersionView(OllamaView):
    def get(self, request):
        return Response({"version": backend_version(list(backend_list_enabled()))})


@csrf_exempt
def running(request):
    """`GET /ollama/` and `HEAD /ollama/`: what Ollama answers on its root, for tools that probe."""
    return HttpResponse("Ollama is running", content_type="text/plain; charset=utf-8")


@csrf_exempt
def not_found(request, *args, **kwargs):
    return JsonResponse({"error": "404 page not found"}, status=404)


def _team(request):
    return request.auth.team if request.auth is not None else None


def _caller(request):
    return caller_from_request(request, surface=AuditRecord.Surface.OLLAMA)


def _meta() -> CallMeta:
    return CallMeta()
