from __future__ import annotations

import secrets
from datetime import datetime
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts import roles, tokens
from accounts.models import LIMIT_FIELDS, ApiToken, Membership, Team
from accounts.selectors import user_team_ids
from common.admin_log import admin_change, snapshot
from common.errors import InvalidRequest

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractUser


def _tighter(asked: int | None, bound: int | None) -> int | None:
    if bound is None:
        return asked
    return bound if asked is None else min(asked, bound)


def token_terms(
    *,
    user: AbstractUser,
    team: Team | None = None,
    expires_at: datetime | None = None,
    parent: ApiToken | None = None,
    limits: dict[str, int | None] | None = None,
) -> tuple[Team | None, datetime | None, dict[str, int | None]]:
    """The team, expiry and limits a new token of this person gets, or InvalidRequest.

    A person who belongs to a team holds only tokens that act for one of their teams (the only one
    when they have one); a token made with a token gets at most its parent's team, expiry and
    limits (its calls count against the parent's limits too: see accounts.limits.scopes_for)."""
    limits = {field: (limits or {}).get(field) for field in LIMIT_FIELDS}
    if parent is not None:
        if team is None:
            team = parent.team
        elif team.pk != parent.team_id:
            raise InvalidRequest(
                f"team: a token made with a token acts for the same team "
                f"('{parent.team.slug if parent.team else 'none'}')."
            )
        if parent.expires_at is not None:
            expires_at = min(expires_at or parent.expires_at, parent.expires_at)
        limits = {field: _tighter(limits[field], getattr(parent, field)) for field in LIMIT_FIELDS}
    member_of = user_team_ids(user=user)
    if team is None and len(member_of) == 1:
        team = Team.objects.get(pk=next(iter(member_of)))
    elif team is None and member_of:
        slugs = ", ".join(
            Team.objects.filter(pk__in=member_of).order_by("slug").values_list("slug", flat=True)
        )
        raise InvalidRequest(
            f"team: you belong to several teams ({slugs}); say which one this token acts for."
        )
    elif team is not None and team.pk not in member_of:
        raise InvalidRequest(f"team: you are not a member of a team '{team.slug}'.")
    return team, expires_at, limits


@transaction.atomic
def token_issue(
    *,
    user: AbstractUser,
    name: str,
    team: Team | None = None,
    expires_at: datetime | None = None,
    parent: ApiToken | None = None,
    limits: dict[str, int | None] | None = None,
    actor: AbstractUser | None = None,
) -> tuple[ApiToken, str]:
    """Create a token on the terms `token_terms` allows; the secret is returned here once and
    never stored."""
    team, expires_at, limits = token_terms(
        user=user, team=team, expires_at=expires_at, parent=parent, limits=limits
    )
    prefix, secret = tokens.generate()
    token = ApiToken.objects.create(
        user=user,
        team=team,
        parent=parent,
        name=name,
        prefix=prefix,
        secret_hash=tokens.digest(secret),
        webhook_secret=secrets.token_urlsafe(32),
        expires_at=expires_at,
        **limits,
    )
    admin_change(actor=actor, action="create", obj=token, after=snapshot(token))
    return token, secret


@transaction.atomic
def token_revoke(*, token: ApiToken, actor: AbstractUser | None = None) -> ApiToken:
    if token.revoked_at is None:
        before = snapshot(token)
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        admin_change(actor=actor, action="revoke", obj=token, before=before, after=snapshot(token))
    return token


def token_touch(*, token: ApiToken, ip: str | None, interval_seconds: int) -> None:
    """Record last use, at most once per interval so a busy token does not write on every call."""
    now = timezone.now()
    if token.last_used_at and (now - token.last_used_at).total_seconds() < interval_seconds:
        return
    # Stamped before the write: the calls of a burst share this (cached) token, and one write is
    # enough for all of them.
    before = token.last_used_at, token.last_used_ip
    token.last_used_at, token.last_used_ip = now, ip
    try:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now, last_used_ip=ip)
    except BaseException:
        token.last_used_at, token.last_used_ip = before
        raise


@transaction.atomic
def team_get_or_create(*, slug: str, name: str = "", actor: AbstractUser | None = None) -> Team:
    team, created = Team.objects.get_or_create(slug=slug, defaults={"name": name or slug})
    if created:
        admin_change(actor=actor, action="create", obj=team, after=snapshot(team))
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
        admin_change(actor=actor, action="create", obj=membership, after=snapshot(membership))
    return membership


@transaction.atomic
def user_create(*, username: str, is_staff: bool = False) -> AbstractUser:
    # No password: such a user signs in with tokens until an admin sets one.
    user = get_user_model().objects.create_user(username=username)
    if is_staff:
        user_make_staff(user=user)
    return user


def user_make_staff(*, user: AbstractUser) -> None:
    """An operator: staff, in the Operators group."""
    if not user.is_staff:
        user.is_staff = True
        user.save(update_fields=["is_staff"])
    user.groups.add(Group.objects.get(name=roles.OPERATORS))


def roles_ensure_groups() -> None:
    """The installation-wide roles' groups hold exactly their permissions. Run after migrate;
    until every app has made its permissions it waits for the next app's turn."""
    for name, grants in roles.GROUP_PERMISSIONS.items():
        wanted = Q()
        for app_label, codename in grants:
            wanted |= Q(content_type__app_label=app_label, codename=codename)
        permissions = list(Permission.objects.filter(wanted))
        if len(permissions) < len(grants):
            return
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(permissions)
