import uuid

from django.db import connection
from django.db.models import BooleanField, CharField, Q, QuerySet
from django.db.models.expressions import RawSQL

from accounts.selectors import team_ids_audited_by, user_is_global_auditor
from audit.models import AuditRecord
from common.errors import NotFound


def audit_record_list_for_user(*, user) -> QuerySet[AuditRecord]:
    """A person's own calls; a team's auditor also that team's; a global auditor every call."""
    records = AuditRecord.objects.all()
    if user_is_global_auditor(user=user):
        return records
    audited = team_ids_audited_by(user=user)
    if audited:
        return records.filter(Q(user=user) | Q(team_id__in=audited))
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


def last_message_excerpt(length: int = 200) -> RawSQL:
    """The start of a record's last message (what was just asked), read in the database so a
    list of records does not load whole conversations."""
    if connection.vendor == "postgresql":
        sql = "left(messages -> -1 ->> 'content', %s)"
    else:
        sql = "substr(json_extract(messages, '$[#-1].content'), 1, %s)"
    return RawSQL(sql, [length], output_field=CharField())  # noqa: S611 (fixed SQL)


def audit_record_filter(
    *,
    status: str | None = None,
    model: str | None = None,
    team: str | None = None,
    user: str | None = None,
    surface: str | None = None,
    since=None,
    until=None,
    search: str | None = None,
) -> QuerySet[AuditRecord]:
    """The filters the admin offers, for exports outside it."""
    records = AuditRecord.objects.all()
    if status:
        records = records.filter(status=status)
    if model:
        records = records.filter(model=model)
    if team:
        records = records.filter(team_slug=team)
    if user:
        records = records.filter(username=user)
    if surface:
        records = records.filter(surface=surface)
    if since:
        records = records.filter(started_at__gte=since)
    if until:
        records = records.filter(started_at__lt=until)
    if search:
        records = audit_record_search(records, search)
    return records


def audit_record_search(records: QuerySet[AuditRecord], term: str) -> QuerySet[AuditRecord]:
    """Records whose user, model, error message, prompt, thinking or answer contain the term (a
    trace id matches exactly).

    PostgreSQL uses the full-text index (every word of the term, as a prefix of a word); elsewhere a
    LIKE over the same fields."""
    term = term.strip()
    if not term:
        return records
    if len(term) == 32 and all(c in "0123456789abcdef" for c in term.lower()):
        return records.filter(trace_id=term.lower())
    if connection.vendor == "postgresql":
        words = [w for w in "".join(c if c.isalnum() else " " for c in term).split() if w]
        if not words:
            return records
        query = " & ".join(f"{w}:*" for w in words)
        return records.alias(
            matches=RawSQL(
                "search_vector @@ to_tsquery('simple', %s)", [query], output_field=BooleanField()
            )
        ).filter(matches=True)
    return records.filter(
        Q(username__icontains=term)
        | Q(model__icontains=term)
        | Q(error_message__icontains=term)
        | Q(thinking__icontains=term)
        | Q(completion__icontains=term)
        | Q(messages__icontains=term)
    )
