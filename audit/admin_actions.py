"""The admin action log: every administrative change, written where it is made (see
common.admin_log, whose announcements are written here)."""

from django.db import models

from audit.models import AdminAction
from common.admin_log import admin_changed, admin_noted


def _actor(actor, actor_name: str) -> dict:
    signed_in = actor is not None and actor.is_authenticated
    return {
        "actor": actor if signed_in else None,
        "actor_username": actor_name or (actor.get_username() if signed_in else ""),
    }


def admin_action_note(
    *,
    actor,
    action: str,
    object_type: str,
    object_id: str,
    object_repr: str,
    after: dict,
    actor_name: str = "",
) -> AdminAction:
    """A change to something Corral keeps no row of (a model on a backend), or an event about
    none (a refused sign-in)."""
    return AdminAction.objects.create(
        **_actor(actor, actor_name),
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
    actor_name: str = "",
) -> AdminAction:
    return AdminAction.objects.create(
        **_actor(actor, actor_name),
        action=action,
        object_type=obj._meta.label_lower,
        object_id=str(obj.pk),
        object_repr=str(obj)[:200],
        before=before,
        after=after,
    )


def _write_announced_change(
    sender, *, actor, action, obj, before, after, actor_name="", **kwargs
) -> None:
    admin_action_record(
        actor=actor, action=action, obj=obj, before=before, after=after, actor_name=actor_name
    )


def _write_announced_note(sender, **note) -> None:
    note.pop("signal", None)
    admin_action_note(**note)


def admin_action_log_connect() -> None:
    admin_changed.connect(_write_announced_change, dispatch_uid="audit.admin_action_log")
    admin_noted.connect(_write_announced_note, dispatch_uid="audit.admin_action_notes")
