"""Three Ollama doubles (gpu-a, gpu-b, gpu-c) as backends, and the routes over them."""

import pytest

from gateway.backends.circuit import backend_state_clear
from gateway.models import Backend
from gateway.services import route_create, route_target_add
from tests.conftest import MODEL, UPSTREAM_MODEL
from tests.routing.calls import NAMES
from tests.support.ollama_double import OllamaDouble


@pytest.fixture(scope="package")
def _servers():
    servers = {name: OllamaDouble(models=[UPSTREAM_MODEL]).start() for name in NAMES}
    yield servers
    for server in servers.values():
        server.stop()


@pytest.fixture
def gpus(_servers, redis_client):
    for server in _servers.values():
        server.reset()
    yield _servers
    for server in _servers.values():
        server.reset()


@pytest.fixture
def backends(db, gpus, settings):
    settings.CORRAL_HEALTH_FAILURES = 2
    Backend.objects.filter(name="default").update(enabled=False)  # the migration's, unreachable
    created = {
        name: Backend.objects.create(name=name, base_url=gpus[name].url, first_token_timeout=5)
        for name in NAMES
    }
    for backend in created.values():
        backend_state_clear(backend_id=backend.pk)
    yield created
    for backend in created.values():
        backend_state_clear(backend_id=backend.pk)


@pytest.fixture
def spread_route(backends):
    """llama3.2 on gpu-a (weight 3) and gpu-b (weight 1); gpu-c only when both fail."""
    route = route_create(
        name=MODEL, backend=backends["gpu-a"], upstream_model=UPSTREAM_MODEL, weight=3
    )
    route_target_add(route=route, backend=backends["gpu-b"], upstream_model=UPSTREAM_MODEL)
    route_target_add(
        route=route, backend=backends["gpu-c"], upstream_model=UPSTREAM_MODEL, priority=1
    )
    return route


@pytest.fixture
def pair_route(backends):
    """llama3.2 on gpu-a and gpu-b, equal weights, nothing else."""
    route = route_create(name=MODEL, backend=backends["gpu-a"], upstream_model=UPSTREAM_MODEL)
    route_target_add(route=route, backend=backends["gpu-b"], upstream_model=UPSTREAM_MODEL)
    return route
