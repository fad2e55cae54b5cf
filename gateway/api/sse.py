"""Server-sent events for the native API's streaming chat."""

import json
import logging
import threading
from collections.abc import Iterator
from itertools import chain

from django import db
from django.http import StreamingHttpResponse

from common.errors import GatewayError
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


class _Relay:
    """The response body. The server calls close() when the response ends or the client goes
    away, even if the body was never iterated, so the pipeline always finalizes its call. With
    keep_going, a call whose caller went away is finished in the background instead of stopped."""

    def __init__(
        self,
        first: Delta | ChatResult,
        events: Iterator[Delta | ChatResult],
        keep_going: bool = False,
    ) -> None:
        self._events = events
        self._keep_going = keep_going
        self._ended = False
        self._body = self._encode(chain([first], events))

    def __iter__(self) -> Iterator[bytes]:
        return self._body

    def close(self) -> None:
        self._body.close()
        if self._keep_going and not self._ended:
            threading.Thread(
                target=_finish_unheard, args=(self._events,), name="corral-finish", daemon=True
            ).start()
        else:
            self._events.close()

    def _encode(self, events: Iterator[Delta | ChatResult]) -> Iterator[bytes]:
        try:
            for event in events:
                if isinstance(event, ChatResult):
                    self._ended = True
                    yield _event(event.payload(), "done")
                else:
                    yield _delta_event(event)
            self._ended = True
        except GatewayError as exc:
            self._ended = True
            yield _event(exc.as_dict(), "error")
        except Exception:
            self._ended = True
            logger.exception("stream failed")
            yield _event(
                {"error": {"code": "internal_error", "message": "internal error"}}, "error"
            )


def _finish_unheard(events: Iterator[Delta | ChatResult]) -> None:
    """Read an answer nobody is listening to any more to its end: the pipeline records it (and
    the web chat keeps it in its conversation) as if the caller had stayed."""
    try:
        for _ in events:
            pass
    except GatewayError:
        pass  # finalized and recorded by the pipeline like any failure
    except Exception:
        logger.exception("finishing an answer in the background failed")
    finally:
        events.close()
        db.connections.close_all()  # this thread's own connections


def sse_response(
    events: Iterator[Delta | ChatResult], *, keep_going: bool = False
) -> StreamingHttpResponse:
    """Relay the pipeline's events as they come.

    The first event is pulled here, inside the view: a failure before the first byte is still a
    plain HTTP error with its status code; after that, failures become an `event: error`.
    """
    first = next(events)
    response = StreamingHttpResponse(
        _Relay(first, events, keep_going), content_type="text/event-stream; charset=utf-8"
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response
