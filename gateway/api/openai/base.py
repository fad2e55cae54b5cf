"""What every OpenAI operation shares: the error shape, the view, server-sent events."""

import json
from collections.abc import Callable, Iterator

from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework.views import APIView

from audit.models import AuditRecord
from common.errors import GatewayError, InvalidRequest, ModelNotFound
from gateway.api.base import RateLimitHeadersMixin
from gateway.api.caller import caller_from_request
from gateway.api.exception_handler import handle_exception
from gateway.api.relay import stream_response
from gateway.pipeline import Caller, CallMeta, ChatResult

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


def usage_of(result: ChatResult) -> dict:
    return {
        "prompt_tokens": result.usage.prompt_tokens,
        "completion_tokens": result.usage.completion_tokens,
        "total_tokens": result.usage.total_tokens,
    }


class OpenAIView(RateLimitHeadersMixin, APIView):
    def get_exception_handler(self):
        return openai_exception_handler

    def call(self) -> tuple[Caller, CallMeta]:
        """Who calls through this door, and the call's meta (kept on the request: the access line
        and the rate-limit headers read it)."""
        meta = self.request.corral_meta = CallMeta()
        return caller_from_request(self.request, surface=AuditRecord.Surface.OPENAI), meta

    def validated(self, serializer_class) -> dict:
        if not isinstance(self.request.data, dict):
            raise InvalidRequest("the body must be a JSON object.")
        serializer = serializer_class(data=self.request.data, context={"request": self.request})
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data


def sse(obj) -> bytes:
    data = (
        obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    )
    return f"data: {data}\n\n".encode()


def with_done(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Chat and text completion streams end with `data: [DONE]`, or with the error that broke
    them, as an event the OpenAI SDK raises on."""
    try:
        yield from chunks
        yield sse("[DONE]")
    except GatewayError as exc:
        yield sse(openai_error(exc.status, exc.code, exc.message))


def event_stream(events: Iterator, encode: Callable[[Iterator], Iterator[bytes]]):
    """Server-sent events from the pipeline's events. The first is taken here, so what fails
    before the first byte is still a plain HTTP error in OpenAI's shape."""
    return stream_response(events, encode, content_type="text/event-stream; charset=utf-8")


def chunk_stream(events: Iterator, chunks: Callable[[Iterator], Iterator[bytes]]):
    """Chat and text completion chunks as server-sent events, ending with `data: [DONE]`."""
    return event_stream(events, lambda all_events: with_done(chunks(all_events)))


@csrf_exempt
def not_found(request, *args, **kwargs):
    return JsonResponse(
        openai_error(404, "not_found", f"no such endpoint: {request.path}"), status=404
    )
