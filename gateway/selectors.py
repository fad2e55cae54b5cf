from django.conf import settings
from django.db.models import Exists, OuterRef, Prefetch, QuerySet

from accounts.models import Team
from common.errors import ModelForbidden, ModelNotFound
from common.process_cache import ProcessCache
from gateway.models import Backend, BackendHealth, ModelRoute, RouteTarget


def _team_has_all_models(team: Team | None) -> bool:
    if team is None:
        return settings.CORRAL_MODEL_ACCESS_DEFAULT == "all"
    return team.all_models


def _with_targets(routes: QuerySet[ModelRoute]) -> QuerySet[ModelRoute]:
    return routes.prefetch_related(
        Prefetch(
            "targets",
            queryset=RouteTarget.objects.filter(enabled=True, backend__enabled=True).select_related(
                "backend", "backend__health"
            ),
        )
    )


def route_list_for_team(*, team: Team | None) -> QuerySet[ModelRoute]:
    """The routes a caller acting for this team may use: enabled, with a backend switched on."""
    served = RouteTarget.objects.filter(route=OuterRef("pk"), enabled=True, backend__enabled=True)
    routes = _with_targets(ModelRoute.objects.filter(Exists(served), enabled=True))
    if _team_has_all_models(team):
        return routes
    if team is None:
        return routes.none()
    return routes.filter(teams=team)


def model_name_candidates(model: str) -> list[str]:
    # Ollama reads "llama3" as "llama3:latest"; callers expect the same here.
    if ":" in model.rsplit("/", 1)[-1]:
        return [model]
    return [model, f"{model}:latest"]


# Routes, their targets and the teams allowed them, by the name asked for (gateway.apps empties it
# when one of them changes). Unknown names are never kept.
resolved_routes = ProcessCache("CORRAL_ROUTE_CACHE_SECONDS", max_entries=1000)


def _route_named(model: str) -> ModelRoute | None:
    def load() -> ModelRoute | None:
        candidates = model_name_candidates(model)
        routes = {
            route.name: route
            for route in _with_targets(
                ModelRoute.objects.filter(name__in=candidates, enabled=True)
            ).prefetch_related(
                Prefetch("teams", queryset=Team.objects.only("id"), to_attr="allowed")
            )
        }
        return next((routes[name] for name in candidates if name in routes), None)

    return resolved_routes.get_or_load(model, load)


def route_get_for_team(*, team: Team | None, model: str) -> ModelRoute:
    """Resolve a public model name for a caller, or raise the contract's 404/403."""
    route = _route_named(model)
    if route is None:
        raise ModelNotFound(f"model '{model}' is not available on this gateway")
    if not _team_has_all_models(team) and (
        team is None or team.pk not in {allowed.pk for allowed in route.allowed}
    ):
        raise ModelForbidden(f"model '{model}' is not allowed for team '{team or '-'}'")
    return route


def backend_list_enabled() -> QuerySet[Backend]:
    return Backend.objects.filter(enabled=True).select_related("health")


def route_targets_missing_model(*, backend: Backend) -> list[RouteTarget]:
    """Targets on this backend whose upstream model its last good health check did not list."""
    health = BackendHealth.objects.filter(backend=backend, status=BackendHealth.Status.UP).first()
    if health is None:
        return []
    targets = RouteTarget.objects.filter(backend=backend).select_related("route")
    return [t for t in targets if t.upstream_model not in health.models_present]
