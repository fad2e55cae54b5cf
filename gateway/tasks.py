import contextlib
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from audit.services import audit_record_mark_interrupted
from audit.spool import finalizations_replay
from common.errors import UpstreamUnavailable
from gateway.backends.health import backends_health_check as _backends_health_check
from gateway.models import BackendHealth
from gateway.services import routes_bootstrap
from gateway.tracing.interrupted import export_interrupted_spans
from gateway.tracing.outbox import otlp_batch_ids_due, otlp_batch_resend


@shared_task(
    name="gateway.otlp_resend",
    ignore_result=True,
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def otlp_resend(batch_id: int) -> None:
    # One attempt; a transient failure sets the batch's next attempt (backoff with jitter, or the
    # collector's Retry-After) and the sweeper sends it again then. One scheduler, no resend storms.
    otlp_batch_resend(batch_id=batch_id)


@shared_task(name="gateway.otlp_sweep", ignore_result=True)
def otlp_sweep() -> int:
    """Enqueue every batch that is due, so a lost task message or a killed worker strands nothing."""
    due = otlp_batch_ids_due()
    for batch_id in due:
        otlp_resend.delay(batch_id)
    return len(due)


@shared_task(name="gateway.backends_health_check", ignore_result=True, expires=60)
def backends_health_check() -> None:
    """Beat: check every backend; failing ones leave rotation, recovered ones come back. A gateway
    started before its Ollama imports the models once one answers."""
    if any(health.status == BackendHealth.Status.UP for health in _backends_health_check()):
        with contextlib.suppress(UpstreamUnavailable):
            routes_bootstrap()


@shared_task(name="audit.mark_interrupted", ignore_result=True)
def mark_interrupted() -> int:
    """Close the records of calls whose process died, and export the spans those calls never
    ended (the task keeps its audit.* name: the beat schedule names it)."""
    finalizations_replay()  # an outcome waiting for the database is not an interruption
    ids = audit_record_mark_interrupted(
        older_than=timedelta(seconds=settings.CORRAL_AUDIT_INTERRUPTED_AFTER)
    )
    export_interrupted_spans(ids)
    return len(ids)
