"""The admin action log: every administrative change, written where it is made (see
common.admin_log, whose announcements are written here)."""

from django.db import models

from audit.models import AdminAction
from common.admin_log import admin_changed


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


def _write_announced_change(sender, *, actor, action, obj, before, after, **kwargs) -> None:
    admin_action_record(actor=actor, action=action, obj=obj, before=before, after=after)


def admin_action_log_connect() -> None:
    admin_changed.connect(_write_announced_change, dispatch_uid="audit.admin_action_log")
