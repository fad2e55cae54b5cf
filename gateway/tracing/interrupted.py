"""The span of a call whose process died before ending it (a worker killed, a node lost).

The span lived only in that process's memory. Its audit record knows the trace and span ids the
span had and what the call asked for, so the span is built again from it and exported as the
record is closed: the trace the record points to exists, and says the call was interrupted."""

from collections.abc import Iterable

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from audit.models import AuditRecord
from gateway import tracing
from gateway.tracing import genai

SCOPE = InstrumentationScope("corral.gateway")


def _nanoseconds(moment) -> int:
    return int(moment.timestamp() * 1_000_000_000)


def interrupted_span(record: AuditRecord) -> ReadableSpan:
    address, port = record.backend.address if record.backend else ("", None)
    attributes = genai.request_attributes(
        operation=record.operation,
        model=record.model,
        stream=record.stream,
        options=record.options or {},
        messages=record.messages or [],
        capture=genai.capture_content(record.team),
        server_address=address,
        server_port=port,
        audit_id=str(record.id),
        username=record.username,
        team=record.team_slug,
        token_prefix=record.token_prefix,
        conversation_id=record.conversation_id,
    )
    attributes["error.type"] = record.error_code
    context = SpanContext(
        trace_id=int(record.trace_id, 16),
        span_id=int(record.span_id, 16),
        is_remote=False,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    return ReadableSpan(
        name=f"{record.operation} {record.model}",
        context=context,
        resource=tracing.resource(),
        attributes=attributes,
        kind=SpanKind.CLIENT,
        status=Status(StatusCode.ERROR, record.error_message),
        start_time=_nanoseconds(record.started_at),
        end_time=_nanoseconds(record.finished_at),
        instrumentation_scope=SCOPE,
    )


def export_interrupted_spans(record_ids: Iterable) -> int:
    """Export the spans of records just marked interrupted; returns how many were sent."""
    records = (
        AuditRecord.objects.filter(id__in=list(record_ids), status=AuditRecord.Status.INTERRUPTED)
        .exclude(trace_id="")
        .exclude(span_id="")
        .select_related("backend", "team")
    )
    return sum(tracing.export_ended(interrupted_span(record)) for record in records)
