"""The durable OTLP outbox: store a batch the collector did not take, re-send it until it does.

At-least-once: a batch is marked delivered once the collector said 2xx and is never sent again;
a lease keeps two workers from sending the same batch at once, and expires if a worker dies.
"""

import os
import random
from dataclasses import dataclass
from datetime import timedelta
from email.utils import parsedate_to_datetime

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import Count, Min, Q, Sum
from django.utils import timezone
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.util.re import parse_env_headers

from gateway.models import OtlpBatch

# The collector refused the request itself: sending the same bytes again cannot succeed.
PERMANENT_STATUSES = {400, 413, 415}
BACKOFF_BASE = 2.0
BACKOFF_MAX = 300.0
SEND_TIMEOUT = 10.0

_session = requests.Session()


@dataclass(frozen=True)
class SendResult:
    status_code: int | None
    retry_after: float | None = None
    error: str = ""

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    @property
    def permanent(self) -> bool:
        return self.status_code in PERMANENT_STATUSES


def traces_endpoint() -> str | None:
    """The OTLP/HTTP traces URL, resolved from the standard variables as the SDK's exporter does."""
    signal = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if signal:
        return signal
    base = os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    if base:
        return f"{base.rstrip('/')}/v1/traces"
    return None


def _headers() -> dict[str, str]:
    raw = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_HEADERS") or os.environ.get(
        "OTEL_EXPORTER_OTLP_HEADERS", ""
    )
    return {**parse_env_headers(raw, liberal=True), "Content-Type": "application/x-protobuf"}


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return max((parsedate_to_datetime(value) - timezone.now()).total_seconds(), 0.0)
    except (TypeError, ValueError):
        return None


def otlp_send(payload: bytes) -> SendResult:
    """POST serialized ExportTraceServiceRequest bytes once. The send itself is never traced."""
    url = traces_endpoint()
    if not url:
        return SendResult(None, error="no OTLP endpoint configured")
    with suppress_instrumentation():
        try:
            response = _session.post(url, data=payload, headers=_headers(), timeout=SEND_TIMEOUT)
        except requests.RequestException as exc:
            return SendResult(None, error=f"{exc.__class__.__name__}: {exc}"[:500])
    return SendResult(
        response.status_code,
        retry_after=_retry_after(response.headers.get("Retry-After")),
        error="" if response.ok else f"HTTP {response.status_code}: {response.text[:200]}",
    )


def backoff_seconds(attempts: int) -> float:
    """Exponential backoff with full jitter, capped."""
    return random.uniform(0, min(BACKOFF_MAX, BACKOFF_BASE * 2 ** max(attempts - 1, 0)))  # noqa: S311


def otlp_batch_store(*, payload: bytes, span_count: int, error: str = "") -> OtlpBatch:
    return OtlpBatch.objects.create(
        payload=payload,
        span_count=span_count,
        next_attempt_at=timezone.now(),
        last_error=error[:2000],
    )


def otlp_batch_claim(*, batch_id: int) -> OtlpBatch | None:
    """Take the lease on a pending batch that is due; None if delivered, rejected or leased."""
    now = timezone.now()
    with transaction.atomic():
        claimed = (
            OtlpBatch.objects.filter(id=batch_id, status=OtlpBatch.Status.PENDING)
            .filter(Q(leased_until__isnull=True) | Q(leased_until__lt=now))
            .update(leased_until=now + timedelta(seconds=settings.CORRAL_OTLP_LEASE_SECONDS))
        )
    if not claimed:
        return None
    return OtlpBatch.objects.get(id=batch_id)


def otlp_batch_resend(*, batch_id: int) -> OtlpBatch | None:
    """Send a stored batch once and record the outcome. Returns the batch, or None if not ours."""
    batch = otlp_batch_claim(batch_id=batch_id)
    if batch is None:
        return None
    result = otlp_send(bytes(batch.payload))
    now = timezone.now()
    batch.attempts += 1
    batch.last_status_code = result.status_code
    batch.leased_until = None
    if result.delivered:
        batch.status = OtlpBatch.Status.DELIVERED
        batch.delivered_at = now
        batch.last_error = ""
        # The bytes have done their job; keep the row as the record of delivery.
        batch.payload = b""
    elif result.permanent:
        batch.status = OtlpBatch.Status.REJECTED
        batch.last_error = result.error
    else:
        delay = max(result.retry_after or 0.0, backoff_seconds(batch.attempts))
        batch.next_attempt_at = now + timedelta(seconds=delay)
        batch.last_error = result.error
    batch.save()
    return batch


def otlp_batch_ids_due(*, limit: int = 500) -> list[int]:
    now = timezone.now()
    return list(
        OtlpBatch.objects.filter(status=OtlpBatch.Status.PENDING, next_attempt_at__lte=now)
        .filter(Q(leased_until__isnull=True) | Q(leased_until__lt=now))
        .order_by("next_attempt_at")
        .values_list("id", flat=True)[:limit]
    )


@dataclass(frozen=True)
class OutboxState:
    pending: int
    pending_spans: int
    oldest_pending_age_s: float | None
    rejected: int


def otlp_outbox_state() -> OutboxState:
    pending = OtlpBatch.objects.filter(status=OtlpBatch.Status.PENDING).aggregate(
        batches=Count("id"), spans=Sum("span_count"), oldest=Min("created_at")
    )
    oldest = pending["oldest"]
    return OutboxState(
        pending=pending["batches"],
        pending_spans=pending["spans"] or 0,
        oldest_pending_age_s=(timezone.now() - oldest).total_seconds() if oldest else None,
        rejected=OtlpBatch.objects.filter(status=OtlpBatch.Status.REJECTED).count(),
    )
