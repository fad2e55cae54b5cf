"""Server-sent events for the native API's streaming chat."""

import json
import logging
from collections.abc import Iterator

from django.http import StreamingHttpResponse

from common.errors import GatewayError
from gateway.api.relay import Events, stream_response
from gateway.pipeline import ChatResult, Delta

logger = logging.getLogger(__name__)


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


def encode_events(events: Events) -> Iterator[bytes]:
    """The native API's stream: `data: {"delta": ...}` per chunk, then one `event: done` carrying
    the answer, or one `event: error` carrying what broke it."""
    try:
        for event in events:
            if isinstance(event, ChatResult):
                yield _event(event.payload(), "done")
            else:
                yield _delta_event(event)
    except GatewayError as exc:
        yield _event(exc.as_dict(), "error")
    except Exception:
        logger.exception("stream failed")
        yield _event({"error": {"code": "internal_error", "message": "internal error"}}, "error")


def sse_response(events: Events, *, keep_going: bool = False) -> StreamingHttpResponse:
    return stream_response(
        events,
        encode_events,
        content_type="text/event-stream; charset=utf-8",
        keep_going=keep_going,
    )
