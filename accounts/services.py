from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from accounts import tokens
from accounts.models import ApiToken, Membership, Team

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractUser


@transaction.atomic
def token_issue(
    *, user: AbstractUser, name: str, team: Team | None = None, expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """Create a token; the secret is returned here once and never stored."""
    prefix, secret = tokens.generate()
    token = ApiToken.objects.create(
        user=user,
        team=team,
        name=name,
        prefix=prefix,
        secret_hash=tokens.digest(secret),
        expires_at=expires_at,
    )
    return token, secret


def token_revoke(*, token: ApiToken) -> ApiToken:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
    return token


def token_touch(*, token: ApiToken, ip: str | None, interval_seconds: int) -> None:
    """Record last use, at most once per interval so a busy token does not write on every call."""
    now = timezone.now()
    if token.last_used_at and (now - token.last_used_at).total_seconds() < interval_seconds:
        return
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=now, last_used_ip=ip)
    token.last_used_at, token.last_used_ip = now, ip


@transaction.atomic
def team_get_or_create(*, slug: str, name: str = "") -> Team:
    team, _ = Team.objects.get_or_create(slug=slug, defaults={"name": name or slug})
    return team


@transaction.atomic
def membership_ensure(
    *, team: Team, user: AbstractUser, role: str = Membership.Role.MEMBER
) -> Membership:
    membership, _ = Membership.objects.get_or_create(team=team, user=user, defaults={"role": role})
    return membership


@transaction.atomic
def user_create(*, username: str, is_staff: bool = False) -> AbstractUser:
    # No password: such a user signs in with tokens until an admin sets one.
    return get_user_model().objects.create_user(username=username, is_staff=is_staff)


def user_make_staff(*, user: AbstractUser) -> None:
    if not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
