"""Recording administrative changes: snapshots of an object before and after, secrets left out."""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import models

from audit.models import AdminAction

# Never copied into the log: a hash of a secret is still a secret's fingerprint.
SECRET_FIELDS = {"secret_hash", "webhook_secret", "password"}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, models.Model):
        return value.pk
    return value


def snapshot(obj: models.Model | None) -> dict | None:
    """The object's field values (many-to-many as sorted ids), for before/after comparison."""
    if obj is None or obj.pk is None:
        return None
    values: dict[str, Any] = {}
    for field in obj._meta.concrete_fields:
        if field.name not in SECRET_FIELDS:
            values[field.name] = _plain(getattr(obj, field.attname))
    for field in obj._meta.many_to_many:
        if field.remote_field.through._meta.auto_created:
            values[field.name] = sorted(getattr(obj, field.name).values_list("pk", flat=True))
    return values


def admin_action_note(
    *, actor, action: str, object_type: str, object_id: str, object_repr: str, after: dict
) -> AdminAction:
    """A change to something Corral keeps no row of (a model on a backend)."""
    return AdminAction.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        actor_username=actor.get_username() if actor is not None and actor.is_authenticated else "",
        action=action,
        object_type=object_type,
        object_id=object_id[:64],
        object_repr=object_repr[:200],
        after=after,
    )


def admin_action_record(
    *,
    actor,
    action: str,
    obj: models.Model,
    before: dict | None = None,
    after: dict | None = None,
) -> AdminAction:
    return AdminAction.objects.create(
        actor=actor if actor is not None and actor.is_authenticated else None,
        actor_username=actor.get_username() if actor is not None and actor.is_authenticated else "",
        action=action,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        object_repr=str(obj)[:200],
        before=before,
        after=after,
    )
