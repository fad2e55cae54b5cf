"""Health checks: ask each backend for /api/version, /api/tags and /api/ps, keep what they say,
and take a backend out of rotation (open its circuit) or put it back."""

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import httpx
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from common.tls import tls_context
from gateway.backends.circuit import circuit_close, circuit_open
from gateway.models import Backend, BackendHealth

logger = logging.getLogger(__name__)


@dataclass
class Probe:
    ok: bool
    latency_ms: float
    version: str = ""
    models: list[str] = field(default_factory=list)
    loaded: list[str] = field(default_factory=list)
    error: str = ""


def _names(listing: dict) -> list[str]:
    return sorted({m.get("model") or m.get("name") for m in listing.get("models") or []} - {None})


def _describe(exc: Exception, timeout: float) -> str:
    if isinstance(exc, httpx.ConnectTimeout):
        return "timed out connecting"
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {timeout:g} s"
    if isinstance(exc, httpx.ConnectError):
        return "cannot connect (connection refused or host unreachable)"
    if isinstance(exc, httpx.HTTPStatusError):
        return f"{exc.request.url.path} answered {exc.response.status_code}"
    if isinstance(exc, httpx.HTTPError):
        return f"connection failed: {exc.__class__.__name__}"
    return f"{exc.__class__.__name__} in its answer: {exc}"[:300]


def backend_probe(backend: Backend) -> Probe:
    """One health check of one backend; never raises."""
    timeout = settings.CORRAL_HEALTH_CHECK_TIMEOUT
    started = time.monotonic()
    try:
        with httpx.Client(
            base_url=backend.base_url,
            verify=tls_context(),
            timeout=httpx.Timeout(timeout, connect=min(backend.connect_timeout, timeout)),
        ) as http:
            version = http.get("/api/version").raise_for_status().json().get("version", "")
            models = _names(http.get("/api/tags").raise_for_status().json())
            loaded = _names(http.get("/api/ps").raise_for_status().json())
    except (httpx.HTTPError, ValueError, AttributeError, TypeError) as exc:
        latency = (time.monotonic() - started) * 1000
        return Probe(ok=False, latency_ms=round(latency, 1), error=_describe(exc, timeout))
    latency = (time.monotonic() - started) * 1000
    return Probe(True, round(latency, 1), version=str(version), models=models, loaded=loaded)


@transaction.atomic
def backend_health_record(*, backend: Backend, probe: Probe) -> BackendHealth:
    """Keep a check's result; enough failed checks in a row take the backend out, one good
    check puts it back."""
    health, _ = BackendHealth.objects.select_for_update().get_or_create(backend=backend)
    before = health.status
    health.checked_at = timezone.now()
    health.latency_ms = probe.latency_ms
    if probe.ok:
        health.status = BackendHealth.Status.UP
        health.consecutive_failures = 0
        health.version, health.error = probe.version, ""
        health.models_present, health.models_loaded = probe.models, probe.loaded
    else:
        health.consecutive_failures += 1
        health.error = probe.error
        if health.consecutive_failures >= settings.CORRAL_HEALTH_FAILURES:
            health.status = BackendHealth.Status.DOWN
    if health.status != before:
        health.since = health.checked_at
    health.save()
    if health.status == BackendHealth.Status.UP:
        circuit_close(backend_id=backend.pk)
        if before == BackendHealth.Status.DOWN:
            logger.warning("backend %s is back: %s ms", backend.name, probe.latency_ms)
    elif health.status == BackendHealth.Status.DOWN:
        # Each failed check keeps it out for another cool-down; without checks it is tried
        # again when the cool-down ends.
        circuit_open(backend_id=backend.pk, reason=f"health check: {probe.error}")
        if before != BackendHealth.Status.DOWN:
            logger.warning("backend %s is down, out of rotation: %s", backend.name, probe.error)
    return health


def backends_health_check(backends: list[Backend] | None = None) -> list[BackendHealth]:
    """Check every enabled backend (at once, so one that hangs does not delay the others)."""
    if backends is None:
        backends = list(Backend.objects.filter(enabled=True))
    if not backends:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(backends))) as pool:
        probes = list(pool.map(backend_probe, backends))
    return [
        backend_health_record(backend=backend, probe=probe)
        for backend, probe in zip(backends, probes, strict=True)
    ]
