"""The probes' registry: each row of the access table has one function that performs the action as
an actor on a target and says whether it took effect."""

from collections.abc import Callable

from tests.support.access_world import Actor, Target, World

Probe = Callable[[World, Actor, Target], bool]
PROBES: dict[str, tuple[list[str], Probe]] = {}
# Rows about using a model with a token: a token acts for one team, so there "team" is the token's
# team, whatever other teams its owner holds a role in.
TOKEN_TEAM_ROWS: set[str] = set()


def probe(action: str, targets: list[str], *, token_team: bool = False):
    def register(function: Probe) -> Probe:
        PROBES[action] = (targets, function)
        if token_team:
            TOKEN_TEAM_ROWS.add(action)
        return function

    return register


def shows(response, marker: str) -> bool:
    if response.status_code != 200:
        return False
    body = (
        b"".join(response.streaming_content) if response.streaming else response.content
    ).decode()
    return marker in body
