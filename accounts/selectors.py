from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet

from accounts.models import ApiToken, Membership, SsoIdentity, Team
from accounts.roles import READ_ALL_RECORDS
from common.errors import InvalidRequest, NotFound


def user_is_global_auditor(*, user) -> bool:
    """Reads every audit record: a superuser, or a person given the permission (the "Global
    auditors" group). Being staff is not enough: operators run the gateway, auditors read it."""
    return bool(user.is_active and user.has_perm(READ_ALL_RECORDS))


def _team_ids_with_role(user, role: str) -> set[int]:
    if not user.is_active or not user.is_authenticated:
        return set()
    return set(Membership.objects.filter(user=user, role=role).values_list("team_id", flat=True))


def team_ids_administered_by(*, user) -> set[int]:
    return _team_ids_with_role(user, Membership.Role.ADMIN)


def team_ids_audited_by(*, user) -> set[int]:
    return _team_ids_with_role(user, Membership.Role.AUDITOR)


def user_is_auditor(*, user) -> bool:
    """An auditor of anything: every record, or a team's."""
    return user_is_global_auditor(user=user) or bool(team_ids_audited_by(user=user))


def user_team_ids(*, user) -> set[int]:
    return set(Membership.objects.filter(user=user).values_list("team_id", flat=True))


def user_may_enter_admin(*, user) -> bool:
    if not user.is_active:
        return False
    return (
        user.is_staff
        or user_is_global_auditor(user=user)
        or Membership.objects.filter(
            user=user, role__in=[Membership.Role.ADMIN, Membership.Role.AUDITOR]
        ).exists()
    )


def users_a_team_admin_may_add() -> QuerySet:
    """People a team admin may bring into their team: active, and holding no installation-wide
    role (staff, superuser, global auditor), whose powers a team must not be able to borrow."""
    codename = READ_ALL_RECORDS.split(".", 1)[1]
    return (
        get_user_model()
        .objects.filter(is_active=True, is_staff=False, is_superuser=False)
        .exclude(Q(groups__permissions__codename=codename) | Q(user_permissions__codename=codename))
        .distinct()
    )


def token_list_for_user(*, user) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).select_related("team")


def token_get_for_user(*, user, token_id) -> ApiToken:
    token = (
        token_list_for_user(user=user).filter(pk=token_id).first()
        if str(token_id).isdigit()
        else None
    )
    if token is None:
        raise NotFound(f"no token with id '{token_id}'")
    return token


def token_ancestors(*, token: ApiToken) -> list[ApiToken]:
    """The tokens this one was made with, nearest first: each one's limits and validity bound it."""
    ancestors, parent_id, seen = [], token.parent_id, {token.pk}
    while parent_id is not None and parent_id not in seen:
        parent = ApiToken.objects.filter(pk=parent_id).first()
        if parent is None:
            break
        seen.add(parent.pk)
        ancestors.append(parent)
        parent_id = parent.parent_id
    return ancestors


@dataclass(frozen=True)
class TokenStanding:
    """What a token's validity depends on besides its own row: the tokens it was made with and the
    teams its owner belongs to now."""

    ancestors: tuple[ApiToken, ...]
    member_team_ids: frozenset[int]

    def problem(self, token: ApiToken) -> str | None:
        """Why the token may not be used now, or None."""
        if not token.is_active:
            return "API token is expired or revoked"
        if not token.user.is_active:
            return "the token's user is deactivated"
        if any(not ancestor.is_active for ancestor in self.ancestors):
            return "the token this one was made with is expired or revoked"
        if token.team_id is None and self.member_team_ids:
            return (
                "this token acts for no team, but its owner now belongs to one: "
                "make a token for one of your teams"
            )
        if token.team_id is not None and token.team_id not in self.member_team_ids:
            return "the token's owner is no longer a member of the team it acts for"
        return None


def token_standing(*, token: ApiToken) -> TokenStanding:
    return TokenStanding(
        ancestors=tuple(token_ancestors(token=token)),
        member_team_ids=frozenset(user_team_ids(user=token.user)),
    )


def team_get_for_member(*, user, slug: str) -> Team:
    """A team the user belongs to; anything else is refused the same way, whether it exists or not."""
    team = Team.objects.filter(slug=slug, memberships__user=user).first()
    if team is None:
        raise InvalidRequest(f"team: you are not a member of a team '{slug}'.")
    return team


def sso_identity_for(*, user) -> SsoIdentity | None:
    """The provider account this person signs in with, if any."""
    return SsoIdentity.objects.filter(user=user).first() if user.is_authenticated else None
