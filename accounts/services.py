from __future__ import annotations

import secrets
from datetime import datetime
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from accounts import tokens
from accounts.models import ApiToken, Membership, Team
from audit.admin_actions import admin_action_record, snapshot

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractUser


@transaction.atomic
def token_issue(
    *,
    user: AbstractUser,
    name: str,
    team: Team | None = None,
    expires_at: datetime | None = None,
    actor: AbstractUser | None = None,
) -> tuple[ApiToken, str]:
    """Create a token; the secret is returned here once and never stored."""
    prefix, secret = tokens.generate()
    token = ApiToken.objects.create(
        user=user,
        team=team,
        name=name,
        prefix=prefix,
        secret_hash=tokens.digest(secret),
        webhook_secret=secrets.token_urlsafe(32),
        expires_at=expires_at,
    )
    admin_action_record(actor=actor, action="create", obj=token, after=snapshot(token))
    return token, secret


@transaction.atomic
def token_revoke(*, token: ApiToken, actor: AbstractUser | None = None) -> ApiToken:
    if token.revoked_at is None:
        before = snapshot(token)
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        admin_action_record(
            actor=actor, action="revoke", obj=token, before=before, after=snapshot(token)
        )
    return token


def token_touch(*, token: ApiToken, ip: str | None, interval_seconds: int) -> None:
    """Record last use, at most once per interval so a busy token does not write on every call."""
    now = timezone.now()
    if token.last_used_at and (now - token.last_used_at).total_seconds() < interval_seconds:
        return
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=now, last_used_ip=ip)
    token.last_used_at, token.last_used_ip = now, ip


@transaction.atomic
def team_get_or_create(*, slug: str, name: str = "", actor: AbstractUser | None = None) -> Team:
    team, created = Team.objects.get_or_create(slug=slug, defaults={"name": name or slug})
    if created:
        admin_action_record(actor=actor, action="create", obj=team, after=snapshot(team))
    return team


@transaction.atomic
def membership_ensure(
    *,
    team: Team,
    user: AbstractUser,
    role: str = Membership.Role.MEMBER,
    actor: AbstractUser | None = None,
) -> Membership:
    membership, created = Membership.objects.get_or_create(
        team=team, user=user, defaults={"role": role}
    )
    if created:
        admin_action_record(
            actor=actor, action="create", obj=membership, after=snapshot(membership)
        )
    return membership


@transaction.atomic
def user_create(*, username: str, is_staff: bool = False) -> AbstractUser:
    # No password: such a user signs in with tokens until an admin sets one.
    return get_user_model().objects.create_user(username=username, is_staff=is_staff)


def user_make_staff(*, user: AbstractUser) -> None:
    if not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
