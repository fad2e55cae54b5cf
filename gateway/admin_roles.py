"""Role rules the ModelAdmins share: staff use Django's permissions, auditors read everything and
change nothing, team admins manage only their own teams; every change is written to the admin log."""

from accounts.selectors import team_ids_administered_by, user_is_auditor
from audit.admin_actions import admin_action_record, snapshot


class ReadOnlyAdminMixin:
    """Nobody adds, changes or deletes these rows in the admin, superusers included."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class AuditorReadsMixin:
    def has_module_permission(self, request):
        return super().has_module_permission(request) or user_is_auditor(user=request.user)

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) or user_is_auditor(user=request.user)


class TeamScopedMixin:
    """For objects that belong to a team: a team admin reaches those of the teams they administer.

    `team_path` is the lookup from the object to its team id ("pk" for a Team itself)."""

    team_path = "team_id"

    def _administered(self, request) -> set[int]:
        if not hasattr(request, "_corral_administered"):
            request._corral_administered = team_ids_administered_by(user=request.user)
        return request._corral_administered

    def _team_id(self, obj):
        return obj.pk if self.team_path == "pk" else getattr(obj, self.team_path)

    def _admin_of(self, request, obj) -> bool:
        teams = self._administered(request)
        return bool(teams) and (obj is None or self._team_id(obj) in teams)

    def is_team_admin_only(self, request) -> bool:
        user = request.user
        return not (user.is_superuser or user.is_staff) and bool(self._administered(request))

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if self.is_team_admin_only(request) and not user_is_auditor(user=request.user):
            field = "pk" if self.team_path == "pk" else self.team_path
            return queryset.filter(**{f"{field}__in": self._administered(request)})
        return queryset

    def has_module_permission(self, request):
        return super().has_module_permission(request) or bool(self._administered(request))

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) or self._admin_of(request, obj)

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) or self._admin_of(request, obj)


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
        admin_action_record(
            actor=request.user,
            action="change" if change else "create",
            obj=obj,
            before=getattr(request, "_corral_before", None),
            after=snapshot(obj),
        )

    def save_formset(self, request, form, formset, change):
        instances = formset.save(commit=False)
        for obj in formset.deleted_objects:
            admin_action_record(actor=request.user, action="delete", obj=obj, before=snapshot(obj))
            obj.delete()
        for obj in instances:
            before = snapshot(type(obj).objects.filter(pk=obj.pk).first()) if obj.pk else None
            obj.save()
            action = "change" if before else "create"
            admin_action_record(
                actor=request.user, action=action, obj=obj, before=before, after=snapshot(obj)
            )
        formset.save_m2m()

    def delete_model(self, request, obj):
        before = snapshot(obj)
        admin_action_record(actor=request.user, action="delete", obj=obj, before=before)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            admin_action_record(actor=request.user, action="delete", obj=obj, before=snapshot(obj))
        super().delete_queryset(request, queryset)
