"""OpenTelemetry SDK set-up, once per process, from the standard OTEL_* variables."""

import logging
import os

from opentelemetry import trace
from opentelemetry.instrumentation.django import DjangoInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

logger = logging.getLogger(__name__)

_configured = False


def _sdk_disabled() -> bool:
    return os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true"


def _otlp_endpoint_configured() -> bool:
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )


def exporting() -> bool:
    """Whether this process sends spans to an OTLP endpoint."""
    return _configured and _otlp_endpoint_configured()


def configure() -> None:
    """Install the tracer provider, the OTLP/HTTP exporter and the Django instrumentation.

    The BatchSpanProcessor re-creates its worker thread after a fork, so a process that forks
    workers after this call (Celery prefork, gunicorn with preload) still exports from each child.
    """
    global _configured
    if _configured or _sdk_disabled():
        return
    _configured = True

    attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: "corral"}
    provider = TracerProvider(resource=Resource.create(attributes))
    if _otlp_endpoint_configured():
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        from gateway.tracing.durable import DurableSpanExporter, direct_timeout

        exporter = DurableSpanExporter(OTLPSpanExporter(timeout=direct_timeout()))
        provider.add_span_processor(BatchSpanProcessor(exporter))
        logger.info("tracing: exporting spans over OTLP/HTTP, undelivered batches to the outbox")
    trace.set_tracer_provider(provider)

    instrumentor = DjangoInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(tracer_provider=provider)
