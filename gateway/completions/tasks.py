"""The Celery side of asynchronous completions: run a job, and deliver its callback once it is
finished. Tasks call the services and send the next task; the services never send one."""

from celery import shared_task
from django.conf import settings
from django.db import transaction

from gateway.completions.services import completion_callback_deliver, completion_run
from gateway.models import Completion


class TransientCompletionError(Exception):
    """An attempt failed in a way worth retrying (the job is back in the queue)."""


class CallbackFailed(Exception):
    pass


def completion_enqueue(completion: Completion) -> None:
    """Send a job kept by completion_submit to the workers, once the row is committed."""
    transaction.on_commit(lambda: run_completion.delay(str(completion.id)))


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
    if outcome is None:
        return
    if outcome.transient_error is not None:
        raise TransientCompletionError(outcome.transient_error.message)
    if outcome.completion.callback_url:
        transaction.on_commit(lambda: deliver_callback.delay(completion_id))


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
