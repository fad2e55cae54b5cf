"""What the backends say about their models (/api/tags, /api/ps, /api/show, /api/version),
translated to the public model names callers know."""

import logging
import threading
import time
from typing import Any

import httpx

from gateway.models import Backend, ModelRoute
from gateway.upstream import client_for, translate_error

logger = logging.getLogger(__name__)

TAGS_TTL = 30.0
_tags_cache: dict[int, tuple[float, dict[str, dict]]] = {}
_lock = threading.Lock()


def _dump(model: Any) -> dict:
    return model.model_dump(mode="json", exclude_none=True, by_alias=True)


def backend_tags(backend: Backend) -> dict[str, dict]:
    """The backend's /api/tags by model name, kept for a short while; empty if it cannot answer."""
    now = time.monotonic()
    cached = _tags_cache.get(backend.pk)
    if cached and now - cached[0] < TAGS_TTL:
        return cached[1]
    try:
        listing = client_for(backend).list()
        tags = {model.model: _dump(model) for model in listing.models if model.model}
    except Exception as exc:
        logger.warning("backend %s did not list its models: %s", backend.name, exc)
        tags = {}
    with _lock:
        _tags_cache[backend.pk] = (now, tags)
    return tags


def tag_entries(routes: list[ModelRoute]) -> list[dict]:
    """/api/tags entries for the given routes, named as callers name them (both name and model)."""
    entries = []
    for route in routes:
        upstream = backend_tags(route.backend).get(route.upstream_model, {})
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
    """/api/ps entries: the loaded models among the given routes, renamed to their public names."""
    by_backend: dict[int, list[ModelRoute]] = {}
    for route in routes:
        by_backend.setdefault(route.backend_id, []).append(route)
    entries = []
    for backend_routes in by_backend.values():
        backend = backend_routes[0].backend
        try:
            loaded = {model.model: _dump(model) for model in client_for(backend).ps().models}
        except Exception as exc:
            logger.warning("backend %s did not list its running models: %s", backend.name, exc)
            continue
        for route in backend_routes:
            if route.upstream_model in loaded:
                entries.append(
                    {**loaded[route.upstream_model], "name": route.name, "model": route.name}
                )
    return entries


def model_show(route: ModelRoute) -> dict:
    try:
        return _dump(client_for(route.backend).show(route.upstream_model))
    except Exception as exc:
        raise translate_error(exc, route.backend, route.upstream_model) from exc


def backend_version(backends: list[Backend]) -> str:
    """The Ollama version Corral answers with: the first backend's that says."""
    for backend in backends:
        try:
            response = httpx.get(f"{backend.base_url.rstrip('/')}/api/version", timeout=2.0)
            return response.json().get("version", "")
        except (httpx.HTTPError, ValueError):
            continue
    return "0.0.0"
