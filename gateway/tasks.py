from celery import shared_task
from django.db import OperationalError

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
