"""Single sign-on's tests share the OpenID provider on loopback as Corral's, teams with group
rules, and a person who had a password account before."""

import pytest
from django.contrib.auth import get_user_model

from accounts.models import Membership, SsoGroupRule
from accounts.services import team_get_or_create, token_issue
from tests.support.sso import use_provider


@pytest.fixture
def provider(oidc_provider, settings):
    use_provider(settings, oidc_provider)
    return oidc_provider


@pytest.fixture
def teams(db):
    red, blue = team_get_or_create(slug="red"), team_get_or_create(slug="blue")
    for group, team, role in [
        ("corral-red", red, "member"),
        ("corral-red-leads", red, "admin"),
        ("corral-blue", blue, "member"),
    ]:
        SsoGroupRule.objects.create(group=group, team=team, role=role)
    SsoGroupRule.objects.create(group="corral-ops", operator=True)
    SsoGroupRule.objects.create(group="corral-audit", global_auditor=True)
    return red, blue


@pytest.fixture
def alice(db, teams):
    """A person who signed in with a password before single sign-on, with a token for red."""
    red, _ = teams
    user = get_user_model().objects.create_user("alice", password="a long passphrase 42")
    Membership.objects.create(team=red, user=user, role="member")
    _, secret = token_issue(user=user, name="laptop", team=red)
    return user, secret
