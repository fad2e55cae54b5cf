from datetime import timedelta

from celery import shared_task
from django.conf import settings

from audit.services import audit_record_mark_interrupted


@shared_task(name="audit.mark_interrupted", ignore_result=True)
def mark_interrupted() -> int:
    return audit_record_mark_interrupted(
        older_than=timedelta(seconds=settings.CORRAL_AUDIT_INTERRUPTED_AFTER)
    )
