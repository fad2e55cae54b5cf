"""A span exporter that loses nothing: what the stock OTLP exporter cannot deliver goes to the outbox."""

import logging
import os
import threading
import time
from collections.abc import Sequence

from django.db import connection
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from common.tasks import task_send
from gateway.tracing.outbox import otlp_batch_store

logger = logging.getLogger(__name__)

# After a failed export, batches go straight to the outbox for this long instead of waiting on a
# collector that is known to be away: the processor's queue must keep draining meanwhile.
BYPASS_SECONDS = 30.0


class DurableSpanExporter(SpanExporter):
    def __init__(self, inner: SpanExporter, *, bypass_seconds: float = BYPASS_SECONDS) -> None:
        self._inner = inner
        self._bypass_seconds = bypass_seconds
        self._bypass_until = 0.0
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if time.monotonic() >= self._bypass_until:
            if self._inner.export(spans) is SpanExportResult.SUCCESS:
                return SpanExportResult.SUCCESS
            with self._lock:
                self._bypass_until = time.monotonic() + self._bypass_seconds
        return self._store(spans)

    def _store(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        try:
            payload = encode_spans(spans).SerializeToString()
            with suppress_instrumentation():
                batch = otlp_batch_store(payload=payload, span_count=len(spans))
        except Exception:
            logger.exception("could not store %d undelivered spans in the outbox", len(spans))
            connection.close()
            return SpanExportResult.FAILURE
        try:
            with suppress_instrumentation():
                task_send("gateway.otlp_resend", batch.id, countdown=1)
        except Exception as exc:
            # The beat sweeper finds the batch anyway; the broker being away loses nothing.
            logger.warning("could not enqueue the re-send of OTLP batch %s: %s", batch.id, exc)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        self._inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self._inner.force_flush(timeout_millis)


def direct_timeout() -> float:
    """The first, direct attempt is short: the outbox takes over if the collector is slow."""
    configured = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_TIMEOUT"
    )
    return float(configured) if configured else 5.0
