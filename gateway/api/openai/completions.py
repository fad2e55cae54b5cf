"""OpenAI's legacy `POST /v1/completions` (a prompt in, text out) on Ollama's /api/generate:
llama-index's OpenAILike in its default mode and `client.completions.create` call it."""

import time

from rest_framework.response import Response

from audit.models import AuditRecord
from common.errors import InvalidRequest
from gateway.api.caller import caller_from_request
from gateway.api.openai import requests as openai_requests
from gateway.api.openai.base import (
    OpenAIView,
    event_stream,
    model_name,
    sse,
    usage_of,
    with_done,
)
from gateway.pipeline import CallMeta, ChatResult, GenerateRequest, complete, generate_stream


def _prompt(data: dict) -> str:
    prompt = data.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise InvalidRequest(
            "prompt: must be a string (or a list of one; token arrays and batches are not "
            "supported)."
        )
    return prompt


def _refuse_unsupported(data: dict) -> None:
    """What Ollama cannot do is refused by name, not silently ignored."""
    if data.get("echo"):
        raise InvalidRequest("echo: returning the prompt with the completion is not supported.")
    if data.get("logprobs") is not None:
        raise InvalidRequest("logprobs: log probabilities are not supported.")
    if data.get("best_of") not in (None, 1):
        raise InvalidRequest("best_of: only 1 is supported.")


def _finish_reason(result: ChatResult) -> str:
    return "length" if result.done_reason == "length" else "stop"


def _choice(text: str, finish_reason: str | None) -> dict:
    return {"text": text, "index": 0, "logprobs": None, "finish_reason": finish_reason}


def _completion_chunks(events, model: str, created: int, include_usage: bool):
    completion_id = f"cmpl-{int(time.time() * 1000)}"

    def chunk(choices: list, **extra) -> dict:
        body = {"id": completion_id, "object": "text_completion", "created": created}
        return {**body, "model": model, "choices": choices, **extra}

    for event in events:
        if isinstance(event, ChatResult):
            yield sse(chunk([_choice("", _finish_reason(event))]))
            if include_usage:
                yield sse(chunk([], usage=usage_of(event)))
        elif event.content:
            yield sse(chunk([_choice(event.content, None)]))


class CompletionsView(OpenAIView):
    def post(self, request):
        data = self.body()
        model = model_name(data)
        openai_requests.choice_count(data)
        _refuse_unsupported(data)
        stream = openai_requests.stream(data)
        include_usage = openai_requests.include_usage(data)
        suffix = data.get("suffix")
        if suffix is not None and not isinstance(suffix, str):
            raise InvalidRequest("suffix: must be a string.")
        generate_request = GenerateRequest(
            model=model,
            prompt=_prompt(data),
            suffix=suffix or None,
            stream=stream,
            options=openai_requests.options(data),
        )
        meta = request.corral_meta = CallMeta()
        caller = caller_from_request(request, surface=AuditRecord.Surface.OPENAI)
        events = generate_stream(caller=caller, request=generate_request, meta=meta)
        created = int(time.time())
        if stream:
            return event_stream(
                events,
                lambda all_events: with_done(
                    _completion_chunks(all_events, model, created, include_usage)
                ),
            )
        result = complete(events)
        return Response(
            {
                "id": f"cmpl-{result.id.replace('-', '')}",
                "object": "text_completion",
                "created": created,
                "model": model,
                "choices": [_choice(result.content, _finish_reason(result))],
                "usage": usage_of(result),
            }
        )
