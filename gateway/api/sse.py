"""Server-sent events for the native API's streaming chat."""

import json
import logging
from collections.abc import Iterator
from itertools import chain

from django.http import StreamingHttpResponse

from gateway.errors import GatewayError
from gateway.pipeline import ChatResult, Delta

logger = logging.getLogger(__name__)


def result_payload(result: ChatResult) -> dict:
    """The non-stream response body, and the data of a stream's `done` event."""
    message: dict = {"role": "assistant", "content": result.content}
    if result.tool_calls:
        message["tool_calls"] = result.tool_calls
    if result.thinking:
        message["thinking"] = result.thinking
    return {
        "id": result.id,
        "model": result.model,
        "message": message,
        "done_reason": result.done_reason,
        "usage": {
            "prompt_tokens": result.usage.prompt_tokens,
            "completion_tokens": result.usage.completion_tokens,
            "total_tokens": result.usage.total_tokens,
        },
        "latency_ms": result.latency_ms,
        "trace_id": result.trace_id,
    }


def _event(data: dict, name: str | None = None) -> bytes:
    encoded = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {encoded}\n\n".encode()


def _delta_event(delta: Delta) -> bytes:
    data: dict = {"delta": delta.content}
    if delta.thinking:
        data["thinking"] = delta.thinking
    if delta.tool_calls:
        data["tool_calls"] = delta.tool_calls
    return _event(data)


class _Relay:
    """The response body. The server calls close() when the response ends or the client goes
    away, even if the body was never iterated, so the pipeline always finalizes its call."""

    def __init__(self, first: Delta | ChatResult, events: Iterator[Delta | ChatResult]) -> None:
        self._events = events
        self._body = self._encode(chain([first], events))

    def __iter__(self) -> Iterator[bytes]:
        return self._body

    def close(self) -> None:
        self._body.close()
        self._events.close()

    @staticmethod
    def _encode(events: Iterator[Delta | ChatResult]) -> Iterator[bytes]:
        try:
            for event in events:
                if isinstance(event, ChatResult):
                    yield _event(result_payload(event), "done")
                else:
                    yield _delta_event(event)
        except GatewayError as exc:
            yield _event(exc.as_dict(), "error")
        except Exception:
            logger.exception("stream failed")
            yield _event(
                {"error": {"code": "internal_error", "message": "internal error"}}, "error"
            )


def sse_response(events: Iterator[Delta | ChatResult]) -> StreamingHttpResponse:
    """Relay the pipeline's events as they come.

    The first event is pulled here, inside the view: a failure before the first byte is still a
    plain HTTP error with its status code; after that, failures become an `event: error`.
    """
    first = next(events)
    response = StreamingHttpResponse(
        _Relay(first, events), content_type="text/event-stream; charset=utf-8"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response
