from django.db.models import QuerySet

from accounts.models import ApiToken, Membership, Team
from gateway.errors import InvalidRequest, NotFound


def user_reads_all_audit(*, user) -> bool:
    """Staff and auditors read every audit record; everyone else only their own."""
    if user.is_staff or user.is_superuser:
        return True
    return Membership.objects.filter(user=user, role=Membership.Role.AUDITOR).exists()


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


def team_get_for_member(*, user, slug: str) -> Team:
    """A team the user belongs to; anything else is refused the same way, whether it exists or not."""
    team = Team.objects.filter(slug=slug, memberships__user=user).first()
    if team is None:
        raise InvalidRequest(f"team: you are not a member of a team '{slug}'.")
    return team


def user_is_auditor(*, user) -> bool:
    return (
        user.is_active
        and Membership.objects.filter(user=user, role=Membership.Role.AUDITOR).exists()
    )


def team_ids_administered_by(*, user) -> set[int]:
    if not user.is_active:
        return set()
    return set(
        Membership.objects.filter(user=user, role=Membership.Role.ADMIN).values_list(
            "team_id", flat=True
        )
    )
