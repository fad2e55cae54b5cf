"""Liveness and readiness for load balancers and orchestrators."""

import time

import httpx
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.authentication import BearerTokenAuthentication
from common.redis import get_redis
from gateway import tracing
from gateway.backends.circuit import backend_states
from gateway.selectors import backend_list_enabled
from gateway.tracing.outbox import otlp_outbox_state

BACKEND_PROBE_TIMEOUT = 2.0


@never_cache
@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


def _timed(check) -> dict:
    started = time.monotonic()
    try:
        detail = check() or {}
        result = {"ok": True, **detail}
    except Exception as exc:  # readiness reports every failure, it never raises
        result = {"ok": False, "error": f"{exc.__class__.__name__}: {exc}"[:300]}
    result["latency_ms"] = round((time.monotonic() - started) * 1000, 1)
    return result


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_redis() -> None:
    get_redis().ping()


def _check_backend(base_url: str):
    def check() -> dict:
        response = httpx.get(f"{base_url.rstrip('/')}/api/version", timeout=BACKEND_PROBE_TIMEOUT)
        response.raise_for_status()
        return {"version": response.json().get("version", "")}

    return check


def _health_of(backend, state) -> dict:
    """What the health beat task last found, and whether the backend is in rotation."""
    health = getattr(backend, "health", None)
    return {
        "in_rotation": not state.open_for,
        "out_for_s": round(state.open_for, 1),
        "out_reason": state.reason,
        "inflight": state.inflight,
        "health": {
            "status": health.status if health else "unknown",
            "checked_at": health.checked_at.isoformat() if health and health.checked_at else None,
            "latency_ms": health.latency_ms if health else None,
            "models": health.models_present if health else [],
            "loaded": health.models_loaded if health else [],
            "error": health.error if health else "",
        },
    }


@never_cache
@require_GET
def readyz(request):
    database = _timed(_check_database)
    cache = _timed(_check_redis)
    enabled = list(backend_list_enabled()) if database["ok"] else []
    states = backend_states([backend.pk for backend in enabled])
    backends = {
        backend.name: {
            **_timed(_check_backend(backend.base_url)),
            **_health_of(backend, states[backend.pk]),
        }
        for backend in enabled
    }
    outbox = _timed(lambda: otlp_outbox_state().__dict__) if database["ok"] else {"ok": False}
    ready = database["ok"] and cache["ok"]
    degraded = ready and not all(c["ok"] and c["in_rotation"] for c in backends.values())
    body = {
        "status": "degraded" if degraded else ("ok" if ready else "unavailable"),
        "database": database,
        "redis": cache,
        "backends": backends,
        # Rejected batches are spans the collector refused for good: an operator must look.
        "otlp": {"exporting": tracing.exporting(), "outbox": outbox},
    }
    if not _may_see_details(request):
        # Probes and strangers learn whether Corral is ready, not what it runs or where.
        body = {"status": body["status"]}
    return JsonResponse(body, status=200 if ready else 503)


def _may_see_details(request) -> bool:
    """Staff, signed in or with their API token."""
    if request.user.is_authenticated:
        return request.user.is_staff
    try:
        authenticated = BearerTokenAuthentication().authenticate(request)
    except Exception:  # a wrong or unusable token, or the database away: no details
        return False
    return bool(authenticated) and authenticated[0].is_staff
