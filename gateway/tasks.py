import contextlib

from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from gateway.backends.health import backends_health_check as _backends_health_check
from gateway.completions import completion_callback_deliver, completion_run
from gateway.errors import UpstreamUnavailable
from gateway.models import BackendHealth
from gateway.services import routes_bootstrap
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


class TransientCompletionError(Exception):
    """An attempt failed in a way worth retrying (the job is back in the queue)."""


@shared_task(
    bind=True,
    name="gateway.run_completion",
    ignore_result=True,
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(TransientCompletionError,),
    retry_backoff=2,
    retry_backoff_max=120,
    retry_jitter=True,
    max_retries=settings.CORRAL_COMPLETION_MAX_RETRIES,
)
def run_completion(self, completion_id: str) -> None:
    outcome = completion_run(
        completion_id=completion_id, final_attempt=self.request.retries >= self.max_retries
    )
    if outcome is not None and outcome.transient_error is not None:
        raise TransientCompletionError(outcome.transient_error.message)


class CallbackFailed(Exception):
    pass


@shared_task(
    name="gateway.deliver_callback",
    ignore_result=True,
    acks_late=True,
    autoretry_for=(CallbackFailed,),
    retry_backoff=2,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=8,
)
def deliver_callback(completion_id: str) -> None:
    if not completion_callback_deliver(completion_id=completion_id):
        raise CallbackFailed(completion_id)


@shared_task(name="gateway.backends_health_check", ignore_result=True, expires=60)
def backends_health_check() -> None:
    """Beat: check every backend; failing ones leave rotation, recovered ones come back. A gateway
    started before its Ollama imports the models once one answers."""
    if any(health.status == BackendHealth.Status.UP for health in _backends_health_check()):
        with contextlib.suppress(UpstreamUnavailable):
            routes_bootstrap()
