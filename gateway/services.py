from dataclasses import dataclass, field

from django.db import transaction

from gateway.models import Backend, ModelRoute, RouteTarget
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
            route = ModelRoute.objects.filter(name=name).first()
            if route is None:
                route_create(name=name, backend=backend, upstream_model=name)
                created.append(name)
            elif route.targets.filter(backend=backend).exists():
                existing.append(name)
            else:
                route_target_add(route=route, backend=backend, upstream_model=name)
                joined.append(name)
    return SyncReport(backend=backend.name, created=created, existing=existing, joined=joined)
