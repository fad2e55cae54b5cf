"""OpenAI's legacy `POST /v1/completions` (a prompt in, text out) on Ollama's /api/generate:
llama-index's OpenAILike in its default mode and `client.completions.create` call it."""

import time

from rest_framework.response import Response

from gateway.api.openai.base import OpenAIView, chunk_stream, sse, usage_of
from gateway.api.openai.serializers import CompletionSerializer
from gateway.pipeline import ChatResult, complete, generate_stream


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
        body = self.validated(CompletionSerializer)
        generate_request, include_usage = body["request"], body["include_usage"]
        model, stream = generate_request.model, generate_request.stream
        caller, meta = self.call()
        events = generate_stream(caller=caller, request=generate_request, meta=meta)
        created = int(time.time())
        if stream:
            return chunk_stream(
                events,
                lambda all_events: _completion_chunks(all_events, model, created, include_usage),
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
