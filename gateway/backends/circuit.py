"""Backend state every process shares, in Redis: which backends are out of service (an open
circuit, with its cool-down as the key's TTL) and how many calls each is serving right now.

Redis being away must not stop calls: readers then see every circuit closed and nothing in flight,
writers skip their bookkeeping."""

import contextlib
import logging
import time
from dataclasses import dataclass

import redis
from django.conf import settings

from gateway.redis import get_redis

logger = logging.getLogger(__name__)

_CIRCUIT = "corral:backend:{}:circuit"
_FAILURES = "corral:backend:{}:failures"
_INFLIGHT = "corral:backend:{}:inflight"


@dataclass(frozen=True)
class BackendState:
    open_for: float  # seconds the circuit stays open; 0 when closed
    reason: str
    inflight: int


def backend_states(backend_ids: list[int]) -> dict[int, BackendState]:
    """Circuit and in-flight calls of each backend, in one round trip."""
    if not backend_ids:
        return {}
    now = time.time()
    try:
        pipe = get_redis().pipeline(transaction=False)
        for backend_id in backend_ids:
            pipe.get(_CIRCUIT.format(backend_id))
            pipe.pttl(_CIRCUIT.format(backend_id))
            # entries older than the longest call are leftovers of a crashed process
            pipe.zcount(_INFLIGHT.format(backend_id), now - settings.CORRAL_TOTAL_TIMEOUT, "+inf")
        replies = pipe.execute()
    except redis.RedisError as exc:
        logger.warning("backend state unavailable, routing by weight alone: %s", exc)
        return {b: BackendState(0.0, "", 0) for b in backend_ids}
    states = {}
    for index, backend_id in enumerate(backend_ids):
        reason, ttl_ms, inflight = replies[index * 3 : index * 3 + 3]
        open_for = ttl_ms / 1000 if reason is not None and ttl_ms > 0 else 0.0
        states[backend_id] = BackendState(open_for, (reason or b"").decode(), int(inflight))
    return states


def circuit_open(*, backend_id: int, reason: str, seconds: float | None = None) -> None:
    """Take a backend out of rotation for the cool-down (or until a health check puts it back)."""
    seconds = seconds or settings.CORRAL_BREAKER_COOLDOWN
    try:
        get_redis().set(_CIRCUIT.format(backend_id), reason[:300], px=int(seconds * 1000))
    except redis.RedisError as exc:
        logger.warning("could not open the circuit of backend %s: %s", backend_id, exc)


def circuit_close(*, backend_id: int) -> None:
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


def inflight_enter(*, backend_id: int, call_id: str) -> None:
    with contextlib.suppress(redis.RedisError):
        get_redis().zadd(_INFLIGHT.format(backend_id), {call_id: time.time()})


def inflight_leave(*, backend_id: int, call_id: str) -> None:
    with contextlib.suppress(redis.RedisError):
        pipe = get_redis().pipeline(transaction=False)
        key = _INFLIGHT.format(backend_id)
        pipe.zrem(key, call_id)
        pipe.zremrangebyscore(key, "-inf", time.time() - settings.CORRAL_TOTAL_TIMEOUT)
        pipe.execute()


def backend_state_clear(*, backend_id: int) -> None:
    """Forget a backend's circuit, failures and in-flight calls (a backend removed, or tests)."""
    with contextlib.suppress(redis.RedisError):
        get_redis().delete(
            _CIRCUIT.format(backend_id), _FAILURES.format(backend_id), _INFLIGHT.format(backend_id)
        )
