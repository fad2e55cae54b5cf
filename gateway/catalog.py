"""What the backends say about their models (/api/tags, /api/ps, /api/show, /api/version),
translated to the public model names callers know."""

import logging
from typing import Any

import httpx

from common.errors import UpstreamUnavailable
from common.process_cache import ProcessCache
from gateway.models import Backend, ModelRoute
from gateway.upstream import client_for, translate_error

logger = logging.getLogger(__name__)

# Each backend's /api/tags, kept a few seconds per process (a listing is asked for by every client
# that starts up, and the backend's answer changes only when a model is pulled or deleted).
backend_listings = ProcessCache("CORRAL_TAGS_CACHE_SECONDS", max_entries=100)


def _dump(model: Any) -> dict:
    return model.model_dump(mode="json", exclude_none=True, by_alias=True)


def backend_tags(backend: Backend) -> dict[str, dict]:
    """The backend's /api/tags by model name; empty if it cannot answer."""

    def load() -> dict[str, dict]:
        try:
            listing = client_for(backend).list()
        except Exception as exc:
            logger.warning("backend %s did not list its models: %s", backend.name, exc)
            return {}
        return {model.model: _dump(model) for model in listing.models if model.model}

    return backend_listings.get_or_load((backend.pk, backend.base_url), load)


def tag_entries(routes: list[ModelRoute]) -> list[dict]:
    """/api/tags entries for the given routes, named as callers name them (both name and model);
    size and digest from the first of the route's backends that has the model."""
    entries = []
    for route in routes:
        upstream = next(
            (
                found
                for target in route.targets.all()
                if (found := backend_tags(target.backend).get(target.upstream_model))
            ),
            {},
        )
        entries.append(
            {
                "name": route.name,
                "model": route.name,
                "modified_at": upstream.get("modified_at") or route.updated_at.isoformat(),
                "size": upstream.get("size", 0),
                "digest": upstream.get("digest", ""),
                "details": upstream.get("details", {}),
            }
        )
    return entries


def running_entries(routes: list[ModelRoute]) -> list[dict]:
    """/api/ps entries: the loaded models among the given routes, renamed to their public names
    (once per route, wherever it is loaded)."""
    backends = {t.backend_id: t.backend for route in routes for t in route.targets.all()}
    loaded: dict[int, dict[str, dict]] = {}
    for backend_id, backend in backends.items():
        try:
            loaded[backend_id] = {m.model: _dump(m) for m in client_for(backend).ps().models}
        except Exception as exc:
            logger.warning("backend %s did not list its running models: %s", backend.name, exc)
    entries = []
    for route in routes:
        for target in route.targets.all():
            model = loaded.get(target.backend_id, {}).get(target.upstream_model)
            if model is not None:
                entries.append({**model, "name": route.name, "model": route.name})
                break
    return entries


def model_show(route: ModelRoute) -> dict:
    """Ollama's /api/show of the route's model, from the first of its backends that answers."""
    error = None
    for target in route.targets.all():
        try:
            return _dump(client_for(target.backend).show(target.upstream_model))
        except Exception as exc:
            error = translate_error(exc, target.backend, target.upstream_model)
    raise error or UpstreamUnavailable(f"model '{route.name}' has no backend switched on")


def backend_version(backends: list[Backend]) -> str:
    """The Ollama version Corral answers with: the first backend's that says."""
    for backend in backends:
        try:
            response = httpx.get(f"{backend.base_url.rstrip('/')}/api/version", timeout=2.0)
            return response.json().get("version", "")
        except (httpx.HTTPError, ValueError):
            continue
    return "0.0.0"
