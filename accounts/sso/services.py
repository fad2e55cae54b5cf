"""Who signs in, and what their groups give them: the person is found by the provider's subject
(created at the first sign-in), and memberships, operator and global auditor follow the group
rules at every sign-in. Each change, each sign-in and each refusal goes to the admin action log
with the groups seen."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts import roles
from accounts.models import Membership, SsoGroupRule, SsoIdentity, Team
from accounts.services import user_make_staff
from accounts.sso.errors import SignInRefused
from common.admin_log import admin_change, admin_note, snapshot

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractUser

BY = "single sign-on"  # the actor the admin action log names for what the rules change

# When several of a person's groups give one team, the role that reaches furthest wins.
ROLE_RANK = {Membership.Role.MEMBER: 0, Membership.Role.AUDITOR: 1, Membership.Role.ADMIN: 2}


@dataclass
class Grants:
    """What a set of groups gives, and what the rules govern at all."""

    roles: dict[int, str] = field(default_factory=dict)  # team id -> role
    operator: bool = False
    global_auditor: bool = False
    governed_teams: set[int] = field(default_factory=set)
    governs_operators: bool = False
    governs_global_auditors: bool = False

    @property
    def any(self) -> bool:
        return bool(self.roles) or self.operator or self.global_auditor


def groups_of(claims: dict) -> list[str]:
    groups = claims.get(settings.CORRAL_OIDC_GROUPS_CLAIM) or []
    if isinstance(groups, str):
        groups = [groups]
    if not isinstance(groups, list):
        return []
    return sorted({str(group) for group in groups})


def grants_for(groups: list[str]) -> Grants:
    grants = Grants()
    for rule in SsoGroupRule.objects.all():
        if rule.team_id:
            grants.governed_teams.add(rule.team_id)
        grants.governs_operators |= rule.operator
        grants.governs_global_auditors |= rule.global_auditor
        if rule.group not in groups:
            continue
        if rule.team_id:
            held = grants.roles.get(rule.team_id)
            if held is None or ROLE_RANK[rule.role] > ROLE_RANK[held]:
                grants.roles[rule.team_id] = rule.role
        grants.operator |= rule.operator
        grants.global_auditor |= rule.global_auditor
    return grants


def sso_sign_in(*, issuer: str, claims: dict, connect: AbstractUser | None = None) -> AbstractUser:
    """The person these verified claims describe, with the access their groups give; or
    SignInRefused. A refused person still loses what the rules no longer give them.

    `connect`: the signed-in account whose owner asked to sign in with this provider account from
    now on (so a password account keeps its tokens and history); only ever that account, and only
    a provider account no other Corral account signs in with."""
    groups = groups_of(claims)
    try:
        user, refusal = _sign_in(issuer=issuer, claims=claims, groups=groups, connect=connect)
    except IntegrityError:
        # The same person's other sign-in (a second tab, a double click) made the account first.
        user, refusal = _sign_in(issuer=issuer, claims=claims, groups=groups, connect=connect)
    if refusal is not None:
        sso_refusal_log(refusal, subject=claims.get("sub", ""), user=user)
        refusal.logged = True
        raise refusal
    return user


@transaction.atomic
def _sign_in(
    *, issuer: str, claims: dict, groups: list[str], connect: AbstractUser | None
) -> tuple[AbstractUser | None, SignInRefused | None]:
    subject = str(claims["sub"])
    identity = (
        SsoIdentity.objects.select_for_update()
        .select_related("user")
        .filter(issuer=issuer, subject=subject)
        .first()
    )
    grants = grants_for(groups)
    unmapped = not grants.any and settings.CORRAL_OIDC_UNMAPPED == "refuse"
    if connect is not None:
        refusal = _connect_refusal(identity=identity, connect=connect, groups=groups)
        if refusal is not None:
            return connect, refusal
    if identity is None:
        if unmapped:
            return connect, _unmapped(groups)
        if connect is not None:
            identity = _identity_connect(
                user=connect, issuer=issuer, subject=subject, groups=groups
            )
        else:
            identity = _identity_create(
                issuer=issuer, subject=subject, claims=claims, groups=groups
            )
    user = identity.user
    if not user.is_active:
        return user, SignInRefused(
            "inactive",
            "Your Corral account is deactivated. Ask an administrator if that is a mistake.",
            groups=groups,
        )
    identity.groups = groups
    # Superusers are the way back in when the rules are wrong: never changed, never refused by them.
    if not user.is_superuser:
        _apply(user=user, grants=grants, groups=groups)
        if unmapped:
            identity.save(update_fields=["groups"])
            return user, _unmapped(groups)
    identity.last_sign_in_at = timezone.now()
    identity.save(update_fields=["groups", "last_sign_in_at"])
    _profile_update(user=user, claims=claims)
    admin_change(
        actor=user, action="sign-in", obj=user,
        after={"issuer": issuer, "subject": subject, "groups": groups},
    )  # fmt: skip
    return user, None


def _unmapped(groups: list[str]) -> SignInRefused:
    # a person may be in hundreds of groups (and Entra ID names them by id): the page names a few
    seen = ", ".join(groups[:10]) + (f" and {len(groups) - 10} more" if len(groups) > 10 else "")
    seen = seen or "none"
    return SignInRefused(
        "unmapped",
        f"Your groups at the identity provider ({seen}) give no access to Corral. Ask an "
        "administrator to map one of them to a team.",
        groups=groups,
    )


def _connect_refusal(
    *, identity: SsoIdentity | None, connect: AbstractUser, groups: list[str]
) -> SignInRefused | None:
    if identity is not None and identity.user_id != connect.pk:
        return SignInRefused(
            "connected_elsewhere",
            f"This account at the identity provider already signs in to another Corral account "
            f"({identity.user.get_username()}). Nothing was changed.",
            groups=groups,
        )
    if identity is None and SsoIdentity.objects.filter(user=connect).exists():
        return SignInRefused(
            "already_connected",
            "Your Corral account is connected to another account at the identity provider. "
            "Nothing was changed.",
            groups=groups,
        )
    return None


def _identity_connect(
    *, user: AbstractUser, issuer: str, subject: str, groups: list[str]
) -> SsoIdentity:
    identity = SsoIdentity.objects.create(user=user, issuer=issuer, subject=subject, groups=groups)
    admin_change(
        actor=user, action="create", obj=identity, after={**snapshot(identity), "groups": groups}
    )
    return identity


def _identity_create(*, issuer: str, subject: str, claims: dict, groups: list[str]) -> SsoIdentity:
    user = get_user_model().objects.create_user(
        username=_free_username(claims), email=claims.get("email") or ""
    )
    _profile_update(user=user, claims=claims)
    identity = SsoIdentity.objects.create(user=user, issuer=issuer, subject=subject, groups=groups)
    admin_change(
        actor=None, actor_name=BY, action="create", obj=user,
        after={**snapshot(user), "issuer": issuer, "subject": subject, "groups": groups},
    )  # fmt: skip
    return identity


def _free_username(claims: dict) -> str:
    """The provider's username for the person, as Django allows it, and unused: an account that
    already has the name is someone else's (only the subject says who is who)."""
    wanted = str(claims.get(settings.CORRAL_OIDC_USERNAME_CLAIM) or "")
    wanted = wanted or str(claims.get("email") or "").split("@")[0]
    base = re.sub(r"[^\w.@+-]", "-", wanted)[:140].strip("-") or "sso-user"
    users = get_user_model().objects
    name, n = base, 1
    while users.filter(username__iexact=name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


def _profile_update(*, user: AbstractUser, claims: dict) -> None:
    """Names and address as the provider has them now: shown in Corral, never used to match."""
    values = {
        "first_name": str(claims.get("given_name") or "")[:150],
        "last_name": str(claims.get("family_name") or "")[:150],
        "email": str(claims.get("email") or "")[:254],
    }
    changed = [name for name, value in values.items() if getattr(user, name) != value]
    for name in changed:
        setattr(user, name, values[name])
    if changed:
        user.save(update_fields=changed)


def _apply(*, user: AbstractUser, grants: Grants, groups: list[str]) -> None:
    seen = {"groups": groups}
    held = {
        m.team_id: m
        for m in Membership.objects.filter(user=user, team_id__in=grants.governed_teams)
    }
    teams = Team.objects.in_bulk(grants.governed_teams)
    for team_id in sorted(grants.governed_teams):
        membership, role = held.get(team_id), grants.roles.get(team_id)
        if membership is None and role is not None:
            try:
                with transaction.atomic():
                    membership = Membership.objects.create(
                        team=teams[team_id], user=user, role=role
                    )
            except IntegrityError:  # another sign-in of the same person made it meanwhile
                continue
            admin_change(
                actor=None, actor_name=BY, action="create", obj=membership,
                after={**snapshot(membership), **seen},
            )  # fmt: skip
        elif membership is not None and role is None:
            before = snapshot(membership)
            membership.delete()
            admin_change(
                actor=None, actor_name=BY, action="delete", obj=membership,
                before=before, after=seen,
            )  # fmt: skip
        elif membership is not None and membership.role != role:
            before = snapshot(membership)
            membership.role = role
            membership.save(update_fields=["role"])
            admin_change(
                actor=None, actor_name=BY, action="change", obj=membership,
                before=before, after={**snapshot(membership), **seen},
            )  # fmt: skip
    if grants.governs_operators:
        _role_follow(user, roles.OPERATORS, grants.operator, seen)
    if grants.governs_global_auditors:
        _role_follow(user, roles.GLOBAL_AUDITORS, grants.global_auditor, seen)


def _role_follow(user: AbstractUser, group_name: str, wanted: bool, seen: dict) -> None:
    group = Group.objects.get(name=group_name)
    holds = user.groups.filter(pk=group.pk).exists()
    if holds == wanted:
        return
    before = {**snapshot(user), "roles": sorted(user.groups.values_list("name", flat=True))}
    if wanted and group_name == roles.OPERATORS:
        user_make_staff(user=user)
    elif wanted:
        user.groups.add(group)
    else:
        user.groups.remove(group)
        if group_name == roles.OPERATORS and user.is_staff:
            user.is_staff = False
            user.save(update_fields=["is_staff"])
    after = {**snapshot(user), "roles": sorted(user.groups.values_list("name", flat=True)), **seen}
    admin_change(actor=None, actor_name=BY, action="change", obj=user, before=before, after=after)


def sso_refusal_log(refusal: SignInRefused, *, subject: str = "", user=None) -> None:
    """A refused sign-in in the admin action log: why, and the groups seen (none when the
    provider's answer was not trusted enough to read them)."""
    admin_note(
        action="refuse",
        object_type="auth.user" if user is not None else "sso.sign-in",
        object_id=str(user.pk) if user is not None else subject,
        object_repr=str(user) if user is not None else (subject or "unknown person"),
        after={
            "reason": refusal.code,
            "message": refusal.message,
            "detail": refusal.detail,
            "subject": subject,
            "groups": refusal.groups,
        },
        actor_name=BY,
    )
