from dataclasses import dataclass, field

from django.db import IntegrityError, transaction

from common.errors import GatewayError, ModelNotFound, UpstreamUnavailable
from gateway.models import Backend, ModelRoute, RouteTarget
from gateway.selectors import route_get_for_team
from gateway.upstream import client_for, translate_error


@dataclass(frozen=True)
class SyncReport:
    backend: str
    created: list[str]
    existing: list[str]
    # routes that existed already and now have this backend as one more target
    joined: list[str] = field(default_factory=list)


@transaction.atomic
def route_create(
    *,
    name: str,
    backend: Backend,
    upstream_model: str,
    priority: int = 0,
    weight: int = 1,
    **settings,
) -> ModelRoute:
    """A route served by one backend; more targets can be added with route_target_add."""
    route = ModelRoute.objects.create(name=name, **settings)
    route_target_add(
        route=route,
        backend=backend,
        upstream_model=upstream_model,
        priority=priority,
        weight=weight,
    )
    return route


def route_target_add(
    *, route: ModelRoute, backend: Backend, upstream_model: str, priority: int = 0, weight: int = 1
) -> RouteTarget:
    return RouteTarget.objects.create(
        route=route,
        backend=backend,
        upstream_model=upstream_model,
        priority=priority,
        weight=weight,
    )


def _route_join(backend: Backend, name: str) -> str:
    """A model the backend serves, as a route: "created", "joined" (an existing route gains the
    backend as a target) or "existing"."""
    route = ModelRoute.objects.filter(name=name).first()
    if route is None:
        route_create(name=name, backend=backend, upstream_model=name)
        return "created"
    if route.targets.filter(backend=backend).exists():
        return "existing"
    route_target_add(route=route, backend=backend, upstream_model=name)
    return "joined"


@transaction.atomic
def route_follow_model_added(*, backend: Backend, model: str) -> str:
    """A model pulled, created or copied onto a backend becomes a route (or one more target)."""
    return _route_join(backend, model)


@transaction.atomic
def route_follow_model_deleted(*, backend: Backend, model: str) -> list[str]:
    """A model deleted from a backend: the targets that pointed at it go, and a route left with no
    target is switched off. Returns the routes switched off."""
    targets = RouteTarget.objects.filter(backend=backend, upstream_model=model).select_related(
        "route"
    )
    routes = {target.route for target in targets}
    for target in targets:
        target.delete()
    switched_off = []
    for route in routes:
        if not route.targets.exists() and route.enabled:
            route.enabled = False
            route.save(update_fields=["enabled", "updated_at"])
            switched_off.append(route.name)
    return switched_off


def routes_sync_from_backend(*, backend: Backend) -> SyncReport:
    """Import the backend's /api/tags as enabled routes. A route of the same name that exists
    already gains this backend as a target (same priority, weight 1); its settings stay."""
    try:
        listing = client_for(backend).list()
    except Exception as exc:
        raise translate_error(exc, backend, "") from exc
    names = sorted({model.model for model in listing.models if model.model})
    created, existing, joined = [], [], []
    with transaction.atomic():
        for name in names:
            {"created": created, "existing": existing, "joined": joined}[
                _route_join(backend, name)
            ].append(name)
    return SyncReport(backend=backend.name, created=created, existing=existing, joined=joined)


def routes_bootstrap() -> list[SyncReport]:
    """While the gateway has no route at all (a first start before Ollama answered), import what
    the enabled backends serve. Raises UpstreamUnavailable naming each backend's URL and what went
    wrong when none can be read: the real cause, not an unknown model."""
    if ModelRoute.objects.exists():
        return []
    backends = list(Backend.objects.filter(enabled=True))
    if not backends:
        raise UpstreamUnavailable(
            "Corral has no models yet and no backend switched on: add an Ollama server under "
            "Backends in the admin, or set OLLAMA_HOST and restart Corral."
        )
    reports, failures = [], []
    for backend in backends:
        try:
            reports.append(routes_sync_from_backend(backend=backend))
        except GatewayError as exc:
            failures.append(f"{backend.name} at {backend.base_url}: {exc.message}")
        except IntegrityError:  # another call imported the same models at the same moment
            reports.append(SyncReport(backend=backend.name, created=[], existing=[]))
    if not reports:
        raise UpstreamUnavailable(
            "Corral has no models yet because no Ollama server answers ("
            + "; ".join(failures)
            + "). Start Ollama there, or set OLLAMA_HOST to where it runs and restart Corral; "
            "its models are imported on the next call.",
            retry_after=5,
        )
    return reports


def route_for_call(*, team, model: str) -> ModelRoute:
    """The route a call goes to (route_get_for_team), on a gateway with no model yet imported
    from the backends first."""
    try:
        return route_get_for_team(team=team, model=model)
    except ModelNotFound:
        if not routes_bootstrap():
            raise
    if not ModelRoute.objects.exists():
        urls = ", ".join(Backend.objects.filter(enabled=True).values_list("base_url", flat=True))
        raise ModelNotFound(
            f"model '{model}' is not available: the Ollama server at {urls} has no models yet; "
            f"pull one there (ollama pull {model})"
        )
    return route_get_for_team(team=team, model=model)
