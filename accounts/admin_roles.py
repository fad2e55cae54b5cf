"""Role rules the ModelAdmins share. What a person holds installation-wide (superuser, the Operators
and Global auditors groups) is a Django permission, and the admin's own checks apply it. What a
person holds in a team (team admin, team auditor) reaches that team's objects only, and each role
is checked against the object's own team: an admin of one team who audits another changes the
first team's objects and only reads the second's."""

from accounts.models import Membership
from accounts.selectors import team_ids_administered_by, team_ids_audited_by

_ROLE_TEAMS = {
    Membership.Role.ADMIN: team_ids_administered_by,
    Membership.Role.AUDITOR: team_ids_audited_by,
}


class ReadOnlyAdminMixin:
    """Nobody adds, changes or deletes these rows in the admin, superusers included."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def team_ids_with_role(request, role: str) -> set[int]:
    """The teams in which the signed-in person holds a role (kept for the request)."""
    kept = request.__dict__.setdefault("_corral_team_roles", {})
    if role not in kept:
        kept[role] = _ROLE_TEAMS[role](user=request.user)
    return kept[role]


class TeamScopedMixin:
    """For objects that belong to a team: beyond Django's model permissions, `team_readers` read
    and `team_writers` change the objects of the teams where they hold that role.

    `team_path` is the lookup from the object to its team id ("pk" for a Team itself)."""

    team_path = "team_id"
    team_readers: tuple[str, ...] = (Membership.Role.ADMIN, Membership.Role.AUDITOR)
    team_writers: tuple[str, ...] = (Membership.Role.ADMIN,)

    def _teams(self, request, roles) -> set[int]:
        teams: set[int] = set()
        for role in roles:
            teams |= team_ids_with_role(request, role)
        return teams

    def readable_teams(self, request) -> set[int]:
        return self._teams(request, {*self.team_readers, *self.team_writers})

    def writable_teams(self, request) -> set[int]:
        return self._teams(request, self.team_writers)

    def _team_id(self, obj):
        return obj.pk if self.team_path == "pk" else getattr(obj, self.team_path)

    def _lookup(self) -> str:
        return "pk" if self.team_path == "pk" else self.team_path

    def holds_model_permission(self, request, action: str) -> bool:
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.{action}_{opts.model_name}")

    def readable_scope(self, request) -> set[int] | None:
        """The teams whose objects this person may read; None: every object (a model permission)."""
        if self.holds_model_permission(request, "view") or self.holds_model_permission(
            request, "change"
        ):
            return None
        return self.readable_teams(request)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        teams = self.readable_scope(request)
        if teams is None:
            return queryset
        return queryset.filter(**{f"{self._lookup()}__in": teams})

    def writable(self, request, queryset):
        """What of `queryset` this person may change: an action never reaches further."""
        if self.holds_model_permission(request, "change"):
            return queryset
        return queryset.filter(**{f"{self._lookup()}__in": self.writable_teams(request)})

    def _reaches(self, teams: set[int], obj) -> bool:
        return bool(teams) and (obj is None or self._team_id(obj) in teams)

    def has_module_permission(self, request):
        return super().has_module_permission(request) or bool(self.readable_teams(request))

    def has_view_permission(self, request, obj=None):
        return super().has_view_permission(request, obj) or self._reaches(
            self.readable_teams(request), obj
        )

    def has_change_permission(self, request, obj=None):
        return super().has_change_permission(request, obj) or self._reaches(
            self.writable_teams(request), obj
        )
