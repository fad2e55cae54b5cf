"""Backend state for routing: which backends are out of service (an open circuit in Redis, shared by
every process, its cool-down the key's TTL) and how many calls each is serving from this process.

Routing reads the circuits on every call, so each process keeps what Redis said for a second. Calls in
flight are counted per process, in memory: a gunicorn worker balances its own calls, without a Redis
round trip on each. Redis being away must not stop calls: readers then see every circuit closed."""

import contextlib
import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass

import redis
from django.conf import settings

from common.redis import get_redis

logger = logging.getLogger(__name__)

_CIRCUIT = "corral:backend:{}:circuit"
_FAILURES = "corral:backend:{}:failures"
_CIRCUITS_KEPT_SECONDS = 1.0

_lock = threading.Lock()
_inflight: Counter[int] = Counter()
# backend id -> (read at, open until (monotonic), reason)
_circuits: dict[int, tuple[float, float, str]] = {}


@dataclass(frozen=True)
class BackendState:
    open_for: float  # seconds the circuit stays open; 0 when closed
    reason: str
    inflight: int


def _read_circuits(backend_ids: list[int], now: float) -> None:
    stale = [
        b for b in backend_ids if now - _circuits.get(b, (-1e9, 0, ""))[0] > _CIRCUITS_KEPT_SECONDS
    ]
    if not stale:
        return
    try:
        pipe = get_redis().pipeline(transaction=False)
        for backend_id in stale:
            pipe.get(_CIRCUIT.format(backend_id))
            pipe.pttl(_CIRCUIT.format(backend_id))
        replies = pipe.execute()
    except redis.RedisError as exc:
        logger.warning("backend circuits unavailable, every backend counts as up: %s", exc)
        replies = [None, -2] * len(stale)
    for index, backend_id in enumerate(stale):
        reason, ttl_ms = replies[index * 2 : index * 2 + 2]
        until = now + ttl_ms / 1000 if reason is not None and ttl_ms > 0 else 0.0
        _circuits[backend_id] = (now, until, (reason or b"").decode())


def backend_states(backend_ids: list[int]) -> dict[int, BackendState]:
    """Circuit and this process's calls in flight of each backend."""
    now = time.monotonic()
    _read_circuits(backend_ids, now)
    states = {}
    for backend_id in backend_ids:
        _, until, reason = _circuits[backend_id]
        open_for = max(0.0, until - now)
        states[backend_id] = BackendState(
            open_for, reason if open_for else "", _inflight[backend_id]
        )
    return states


def circuit_open(*, backend_id: int, reason: str, seconds: float | None = None) -> None:
    """Take a backend out of rotation for the cool-down (or until a health check puts it back)."""
    seconds = seconds or settings.CORRAL_BREAKER_COOLDOWN
    _circuits[backend_id] = (time.monotonic(), time.monotonic() + seconds, reason[:300])
    try:
        get_redis().set(_CIRCUIT.format(backend_id), reason[:300], px=int(seconds * 1000))
    except redis.RedisError as exc:
        logger.warning("could not open the circuit of backend %s: %s", backend_id, exc)


def circuit_close(*, backend_id: int) -> None:
    _circuits.pop(backend_id, None)
    try:
        get_redis().delete(_CIRCUIT.format(backend_id), _FAILURES.format(backend_id))
    except redis.RedisError as exc:
        logger.warning("could not close the circuit of backend %s: %s", backend_id, exc)


def failure_record(*, backend_id: int, backend_name: str, reason: str) -> bool:
    """Count a call that failed on this backend; enough of them within the window open its
    circuit. Returns whether it did."""
    key = _FAILURES.format(backend_id)
    try:
        pipe = get_redis().pipeline(transaction=True)
        pipe.incr(key)
        pipe.expire(key, int(settings.CORRAL_BREAKER_WINDOW), nx=True)
        failures = pipe.execute()[0]
    except redis.RedisError:
        return False
    if failures < settings.CORRAL_BREAKER_FAILURES:
        return False
    logger.warning(
        "backend %s failed %s calls within %ss; out of rotation for %ss: %s",
        backend_name,
        failures,
        settings.CORRAL_BREAKER_WINDOW,
        settings.CORRAL_BREAKER_COOLDOWN,
        reason,
    )
    circuit_open(backend_id=backend_id, reason=f"{failures} calls failed: {reason}")
    return True


def inflight_enter(*, backend_id: int) -> None:
    with _lock:
        _inflight[backend_id] += 1


def inflight_leave(*, backend_id: int) -> None:
    with _lock:
        _inflight[backend_id] -= 1
        if _inflight[backend_id] <= 0:
            del _inflight[backend_id]


def backend_state_clear(*, backend_id: int) -> None:
    """Forget a backend's circuit, failures and calls in flight (a backend removed, or tests)."""
    _circuits.pop(backend_id, None)
    with _lock:
        _inflight.pop(backend_id, None)
    with contextlib.suppress(redis.RedisError):
        get_redis().delete(_CIRCUIT.format(backend_id), _FAILURES.format(backend_id))
