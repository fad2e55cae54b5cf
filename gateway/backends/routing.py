"""Which backend serves a call: the route's enabled targets, healthy ones first, the best priority
first, spread by weight and by how many calls each backend is serving right now."""

import random
from dataclasses import dataclass

from common.errors import UpstreamUnavailable
from gateway.backends.circuit import BackendState, backend_states
from gateway.models import Backend, BackendHealth, ModelRoute, RouteTarget

_random = random.Random()  # noqa: S311 -- spreads load, guards no secret


@dataclass(frozen=True)
class Timeouts:
    connect: float
    first_token: float
    idle: float
    total: float


@dataclass(frozen=True)
class Target:
    backend: Backend
    upstream_model: str
    priority: int
    weight: int
    timeouts: Timeouts


def timeouts_for(route: ModelRoute | None, backend: Backend) -> Timeouts:
    """A route's own timeouts win over its backend's."""
    return Timeouts(
        connect=backend.connect_timeout,
        first_token=(route and route.first_token_timeout) or backend.first_token_timeout,
        idle=(route and route.idle_timeout) or backend.idle_timeout,
        total=(route and route.total_timeout) or backend.total_timeout,
    )


def _lacks_model(target: RouteTarget) -> bool:
    health = getattr(target.backend, "health", None)
    return (
        health is not None
        and health.status == BackendHealth.Status.UP
        and target.upstream_model not in health.models_present
    )


def _spread(group: list[RouteTarget], states: dict[int, BackendState]) -> list[RouteTarget]:
    """Two draws in proportion to weight; the one with fewer calls in flight per unit of weight
    goes first (the "power of two choices"). With nothing in flight, or loads in line with the
    weights, calls follow the weights; a backend that falls behind gets fewer. Two draws rather
    than the plain least loaded: calls arriving together would all see the same counts and herd
    onto one backend. The others follow, least loaded first, for failover."""

    def load(target: RouteTarget) -> float:
        return states[target.backend_id].inflight / target.weight

    if len(group) == 1:
        return group
    first, second = _random.choices(group, weights=[t.weight for t in group], k=2)
    pick = second if load(second) < load(first) else first
    return [pick, *sorted((t for t in group if t is not pick), key=load)]


def route_plan(route: ModelRoute) -> list[Target]:
    """The targets to try for one call, in order. Raises 503 when every backend is out."""
    targets = [t for t in route.targets.all() if t.enabled and t.backend.enabled]
    if not targets:
        raise UpstreamUnavailable(f"model '{route.name}' has no backend switched on")
    states = backend_states(sorted({t.backend_id for t in targets}))
    usable = [t for t in targets if not states[t.backend_id].open_for]
    if not usable:
        reasons = "; ".join(
            f"{t.backend.name}: {states[t.backend_id].reason or 'failing'}" for t in targets
        )
        wait = min(states[t.backend_id].open_for for t in targets)
        raise UpstreamUnavailable(
            f"every backend serving '{route.name}' is out of service ({reasons})",
            retry_after=max(1, round(wait)),
        )
    ordered: list[RouteTarget] = []
    for priority in sorted({t.priority for t in usable}):
        ordered += _spread([t for t in usable if t.priority == priority], states)
    # A backend whose last check did not list the model is tried last: it may have pulled it since.
    ordered.sort(key=_lacks_model)
    return [
        Target(
            backend=t.backend,
            upstream_model=t.upstream_model,
            priority=t.priority,
            weight=t.weight,
            timeouts=timeouts_for(route, t.backend),
        )
        for t in ordered
    ]
