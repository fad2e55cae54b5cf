"""The access table of docs/security.md, played cell by cell.

The table is read from the document itself, so it cannot say one thing while the code does another.
Every row has a probe (tests/support/access_probes/) that performs the action through the real
admin, web pages, API or doors, as each role, on objects of the role's own team, of another team
and (where objects have owners) its own, and tells whether the action took effect. Each probe runs
in a savepoint that is rolled back, so every attempt meets the same world. A person who is admin of
one team and auditor of another is played through every row as well: on each object, what one of
the two roles allows, never more."""

import pytest
from django.db import transaction

from tests.support.access_probes import PROBES, TOKEN_TEAM_ROWS, Probe
from tests.support.access_world import (
    MIXED,
    ROLES,
    Actor,
    Target,
    World,
    actor_for,
    allowed,
    build_world,
    read_table,
    target_of,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(backend, settings) -> World:
    settings.CORRAL_MODEL_ACCESS_DEFAULT = "none"
    return build_world(backend)


# --- the test -----------------------------------------------------------------------------------

TABLE_ROWS = read_table()


class Rollback(Exception):
    pass


def attempt(world: World, actor: Actor, function: Probe, target: Target) -> bool:
    try:
        with transaction.atomic():
            result = function(world, actor, target)
            raise Rollback
    except Rollback:
        return result


def test_every_row_has_a_probe_and_every_probe_a_row():
    assert set(TABLE_ROWS) == set(PROBES), set(TABLE_ROWS) ^ set(PROBES)


@pytest.mark.parametrize("action", sorted(TABLE_ROWS))
def test_the_access_table(world, action):
    """Every role, on every kind of object, allowed exactly where the table says so."""
    kinds, function = PROBES[action]
    cells = TABLE_ROWS[action]
    wrong = []
    for column in [*ROLES, MIXED]:
        actor = actor_for(world, column)
        for kind in kinds:
            target = target_of(world, actor, kind)
            expected = any(
                allowed(
                    cells[role], actor.team if action in TOKEN_TEAM_ROWS else team, actor, target
                )
                for role, team in actor.grants
            )
            if attempt(world, actor, function, target) != expected:
                verb = "was allowed" if not expected else "was refused"
                wrong.append(f"{column} on {target.name}: {verb}")
    assert not wrong, f"{action}: " + "; ".join(wrong)
