import uuid

from django.db.models import QuerySet

from accounts.selectors import user_reads_all_audit
from audit.models import AuditRecord
from gateway.errors import NotFound


def audit_record_list_for_user(*, user) -> QuerySet[AuditRecord]:
    records = AuditRecord.objects.all()
    if user_reads_all_audit(user=user):
        return records
    return records.filter(user=user)


def audit_record_get_for_user(*, user, record_id: str) -> AuditRecord:
    try:
        key = uuid.UUID(str(record_id))
    except ValueError:
        raise NotFound(f"no call with id '{record_id}'") from None
    record = audit_record_list_for_user(user=user).filter(id=key).first()
    if record is None:
        raise NotFound(f"no call with id '{record_id}'")
    return record
