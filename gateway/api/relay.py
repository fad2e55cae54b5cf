"""The one relay between the pipeline and a streamed HTTP response, for every door; a door gives
it only an encoder (its wire format).

The server calls the body's close() when the response ends or the client goes away, even if the
body was never iterated: close() always reaches the pipeline, so every call is finalized and
recorded. With keep_going (the web chat), a call whose caller went away is finished in the
background instead of stopped."""

import logging
import threading
from collections.abc import Callable, Iterator
from itertools import chain

from django import db
from django.http import StreamingHttpResponse

from common.errors import GatewayError
from gateway.pipeline import ChatResult, Delta

logger = logging.getLogger(__name__)

Events = Iterator[Delta | ChatResult]
Encoder = Callable[[Events], Iterator[bytes]]


class Relay:
    def __init__(self, first, events: Events, encode: Encoder, keep_going: bool = False) -> None:
        self._events = events
        self._keep_going = keep_going
        self._ended = False
        self._body = encode(self._watched(chain([first], events)))

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

    def _watched(self, events: Events) -> Events:
        """The events, noting when they have run out or failed (not when the client left)."""
        try:
            yield from events
        except GeneratorExit:
            raise
        except BaseException:
            self._ended = True
            raise
        self._ended = True


def _finish_unheard(events: Events) -> None:
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


def stream_response(
    events: Events, encode: Encoder, *, content_type: str, keep_going: bool = False
) -> StreamingHttpResponse:
    """Relay the pipeline's events as they come. The first is pulled here, inside the view: what
    fails before the first byte is still a plain HTTP error in the door's shape."""
    first = next(events)
    response = StreamingHttpResponse(
        Relay(first, events, encode, keep_going), content_type=content_type
    )
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response
