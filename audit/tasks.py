from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from audit.chain import audit_chain_seal, audit_content_purge
from audit.services import chain_verification_run
from audit.spool import finalizations_replay


@shared_task(name="audit.replay_finalizations", ignore_result=True)
def replay_finalizations() -> int:
    return finalizations_replay()


@shared_task(name="audit.seal_chain", ignore_result=True)
def seal_chain() -> int:
    sealed = total = audit_chain_seal()
    while sealed:
        sealed = audit_chain_seal()
        total += sealed
    return total


@shared_task(name="audit.purge_content", ignore_result=True)
def purge_content() -> int:
    days = settings.AUDIT_CONTENT_RETENTION_DAYS
    return audit_content_purge(older_than_days=days) if days else 0


@shared_task(
    name="audit.verify_chain",
    ignore_result=True,
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=3,
)
def verify_chain(verification_id: int) -> None:
    chain_verification_run(verification_id=verification_id)
