"""Administrative changes as Corral logs them: what an object was before and after (secrets left
out), announced by whoever made the change. The audit app keeps the log (it listens to
`admin_changed`), so the apps below it announce changes without importing it."""

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.db import models
from django.dispatch import Signal

# Sent, inside the change's transaction, with actor, action, obj, before, after and actor_name.
admin_changed = Signal()
# Sent for an event about no row Corral keeps (a refused sign-in): actor, action, object_type,
# object_id, object_repr, after and actor_name.
admin_noted = Signal()


def admin_change(
    *,
    actor,
    action: str,
    obj: models.Model,
    before: dict | None = None,
    after: dict | None = None,
    actor_name: str = "",
) -> None:
    """`actor_name` names who acted when no signed-in person did (the single sign-on rules)."""
    admin_changed.send(
        sender=type(obj), actor=actor, action=action, obj=obj, before=before, after=after,
        actor_name=actor_name,
    )  # fmt: skip


def admin_note(
    *, action: str, object_type: str, object_id: str, object_repr: str, after: dict,
    actor=None, actor_name: str = "",
) -> None:  # fmt: skip
    admin_noted.send(
        sender=None, actor=actor, action=action, object_type=object_type, object_id=object_id,
        object_repr=object_repr, after=after, actor_name=actor_name,
    )  # fmt: skip


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


class RecordedAdminMixin:
    """Writes every create, change and delete made in the admin to the admin action log."""

    def save_model(self, request, obj, form, change):
        request._corral_before = snapshot(type(obj).objects.get(pk=obj.pk)) if change else None
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if getattr(request, "_corral_recorded", False):
            return
        obj = form.instance
        admin_change(
            actor=request.user,
            action="change" if change else "create",
            obj=obj,
            before=getattr(request, "_corral_before", None),
            after=snapshot(obj),
        )

    def save_formset(self, request, form, formset, change):
        instances = formset.save(commit=False)
        for obj in formset.deleted_objects:
            admin_change(actor=request.user, action="delete", obj=obj, before=snapshot(obj))
            obj.delete()
        for obj in instances:
            before = snapshot(type(obj).objects.filter(pk=obj.pk).first()) if obj.pk else None
            obj.save()
            action = "change" if before else "create"
            admin_change(
                actor=request.user, action=action, obj=obj, before=before, after=snapshot(obj)
            )
        formset.save_m2m()

    def delete_model(self, request, obj):
        before = snapshot(obj)
        admin_change(actor=request.user, action="delete", obj=obj, before=before)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            admin_change(actor=request.user, action="delete", obj=obj, before=snapshot(obj))
        super().delete_queryset(request, queryset)
