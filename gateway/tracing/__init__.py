"""OpenTelemetry set-up from the standard OTEL_* variables.

Two steps, because threads do not survive a fork:
- `instrument()` patches Django and Celery. No threads; called from AppConfig.ready(), before any
  WSGI handler loads the middleware.
- `start()` creates the tracer and meter providers and their exporters (with their background
  threads), once per process after fork: gunicorn's `post_fork`, Celery's `worker_process_init`.
`shutdown()` flushes what is buffered when a worker exits.
"""

import logging
import os

from opentelemetry import metrics, trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
)

from common.redaction import redact
from common.request_info import redacted_query

logger = logging.getLogger(__name__)

# Tasks that deliver spans must not make spans: a collector outage would feed itself.
UNTRACED_TASKS = ("gateway.otlp_resend", "gateway.otlp_sweep")

_instrumented = False
_started_pid: int | None = None
_tracer_provider: TracerProvider | None = None
_span_processor: BatchSpanProcessor | None = None
_meter_provider = None


def sdk_disabled() -> bool:
    return os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


def _endpoint_configured(signal: str) -> bool:
    return bool(
        os.environ.get(f"OTEL_EXPORTER_OTLP_{signal}_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )


def queue_size() -> int:
    """Spans the batch processor buffers. Larger than the SDK's 2048 by default: when the collector
    goes away, the first export waits out its timeout before the outbox takes over, and the queue
    must hold what a busy gateway makes meanwhile."""
    return int(os.environ.get("OTEL_BSP_MAX_QUEUE_SIZE") or 8192)


def exporting() -> bool:
    """Whether this process sends spans to an OTLP endpoint."""
    return _started_pid == os.getpid() and _endpoint_configured("TRACES")


class SkipOutboxTasks(Sampler):
    """Parent-based always-on sampling, except for the spans of the outbox's own tasks."""

    def __init__(self) -> None:
        self._delegate = ParentBased(ALWAYS_ON)

    def should_sample(
        self,
        parent_context,
        trace_id,
        name,
        kind=None,
        attributes=None,
        links=None,
        trace_state=None,
    ):
        if name.rsplit("/", 1)[-1] in UNTRACED_TASKS:
            return SamplingResult(Decision.DROP)
        return self._delegate.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return "SkipOutboxTasks(ParentBased(ALWAYS_ON))"


def _without_credentials_in_the_url(span, request) -> None:
    """The server span records the URL and the user agent; a token a client put in the query stays
    out of it, and the redaction rules apply to the user agent as to every stored text."""
    if not span.is_recording():
        return
    for name in ("http.user_agent", "user_agent.original"):
        value = span.attributes.get(name)
        if isinstance(value, str) and redact(value) != value:
            span.set_attribute(name, redact(value))
    query = request.META.get("QUERY_STRING", "")
    redacted = redacted_query(query)
    if redacted == query:
        return
    for name in ("http.url", "url.full", "http.target", "url.query"):
        value = span.attributes.get(name)
        if isinstance(value, str) and query in value:
            span.set_attribute(name, value.replace(query, redacted))


def instrument() -> None:
    global _instrumented
    if _instrumented or sdk_disabled():
        return
    _instrumented = True
    from opentelemetry.instrumentation.celery import CeleryInstrumentor
    from opentelemetry.instrumentation.django import DjangoInstrumentor

    DjangoInstrumentor().instrument(request_hook=_without_credentials_in_the_url)
    CeleryInstrumentor().instrument()


def _resource() -> Resource:
    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: "corral"}
    return Resource.create(attributes)


def start() -> None:
    """Providers and exporters for this process. Idempotent; a no-op in a child forked after it ran
    (the SDK restarts its batch threads in the child)."""
    global _started_pid, _tracer_provider, _meter_provider, _span_processor
    if sdk_disabled() or _started_pid is not None:
        if _started_pid is not None and _started_pid != os.getpid():
            _started_pid = os.getpid()
        return
    _started_pid = os.getpid()
    resource = _resource()

    _tracer_provider = TracerProvider(resource=resource, sampler=SkipOutboxTasks())
    if _endpoint_configured("TRACES"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        # (imported here: the outbox is a model, and this module loads before the apps do)
        from gateway.tracing.durable import DurableSpanExporter, direct_timeout

        exporter = DurableSpanExporter(OTLPSpanExporter(timeout=direct_timeout()))
        _span_processor = BatchSpanProcessor(exporter, max_queue_size=queue_size())
        _tracer_provider.add_span_processor(_span_processor)
        logger.info("tracing: exporting spans over OTLP/HTTP, undelivered batches to the outbox")
    trace.set_tracer_provider(_tracer_provider)

    if _endpoint_configured("METRICS"):
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        # The exporter reads OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE (Dynatrace: delta).
        reader = PeriodicExportingMetricReader(OTLPMetricExporter())
        _meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
        metrics.set_meter_provider(_meter_provider)


def resource() -> Resource:
    """This process's resource, for spans built after the fact."""
    return _tracer_provider.resource if _tracer_provider is not None else _resource()


def export_ended(span: ReadableSpan) -> bool:
    """Send a span that was built, not recorded (one a dead process could not end), the way every
    other span goes: batched, and through the outbox when the collector is away."""
    if _span_processor is None or not exporting():
        return False
    _span_processor.on_end(span)
    return True


def shutdown() -> None:
    """Flush and stop the exporters (a worker process is about to exit)."""
    if _tracer_provider is not None:
        _tracer_provider.shutdown()
    if _meter_provider is not None:
        _meter_provider.shutdown()
