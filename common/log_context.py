"""Every log line carries the request id and the trace id: a middleware gives each request an id
(the caller's `X-Request-ID` when it is sane, else a new one) and a logging filter adds it, with the
current span's trace and span ids, to every record."""

import contextvars
import logging
import re
import time
import uuid

from opentelemetry import trace

from common.request_info import redacted_query

_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
_trace_id: contextvars.ContextVar[str] = contextvars.ContextVar("trace_id", default="")
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")

access_log = logging.getLogger("corral.access")


def _current_ids() -> tuple[str, str]:
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        return format(context.trace_id, "032x"), format(context.span_id, "016x")
    return _trace_id.get(), ""


class ContextFilter(logging.Filter):
    """Adds request_id, trace_id and span_id to each record (empty outside a request or span)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get()
        record.trace_id, record.span_id = _current_ids()
        request = getattr(record, "request", None)
        if request is not None and hasattr(request, "META"):
            # django.request adds the request, whose repr has the query string: keep it without
            # the credentials a client may have put there
            query = redacted_query(request.META.get("QUERY_STRING", ""))
            record.request = f"{request.method} {request.path}{'?' if query else ''}{query}"
        return True


class RequestIdMiddleware:
    """Names each request, answers with its `X-Request-ID`, and writes one access line per request.

    The ids stay set after the response is returned, so lines logged while a stream is relayed still
    carry them; the next request on the same greenlet or thread replaces them."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        asked = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = asked if _SANE_ID.fullmatch(asked) else uuid.uuid4().hex
        request.request_id = request_id
        _request_id.set(request_id)
        _trace_id.set(_current_ids()[0])
        started = time.monotonic()
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        access_log.info(
            "%s %s %s",
            request.method,
            request.path,
            response.status_code,
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round((time.monotonic() - started) * 1000, 2),
                "streaming": response.streaming,
            },
        )
        return response
