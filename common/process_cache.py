"""Values read on every call and changed rarely (checked tokens, resolved routes), kept in each
process for as many seconds as a setting says.

A write to a model they come from empties the cache of the process that wrote at once, and bumps a
generation number in Redis once the write is committed; every other process (web workers, Celery
workers) reads that number at most every CORRAL_CACHE_CHECK_SECONDS and empties its caches when it
moved. So a revocation, a membership ended or a changed allow-list holds everywhere within that
time, not only when the TTL runs out. With Redis away, the TTL alone bounds it.

A value missing when a burst arrives is loaded once: the callers asking for it meanwhile wait for
that load instead of each sending the same query (a thousand streams opened at once with one token
were a thousand token lookups, each waiting for a pooled connection). A caller that holds a pooled
database connection never waits for another's load: the load may need that very connection, and a
burst whose callers all held one stalled every connection of the process until its queue timed out."""

import logging
import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

import redis
from django.conf import settings
from django.db import connection, transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

from common.redis import get_redis

logger = logging.getLogger(__name__)

GENERATION_KEY = "corral:process-caches:generation"


class _SharedGeneration:
    """The number every process compares with what its caches were filled under."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value: bytes | None = None
        self._read_at = float("-inf")

    def current(self) -> bytes | None:
        now = time.monotonic()
        if now - self._read_at < settings.CORRAL_CACHE_CHECK_SECONDS:
            return self._value
        with self._lock:
            if now - self._read_at >= settings.CORRAL_CACHE_CHECK_SECONDS:
                try:
                    self._value = get_redis().get(GENERATION_KEY)
                except redis.RedisError as exc:
                    logger.warning("process caches: generation unreadable, TTL only: %s", exc)
                self._read_at = now
        return self._value

    def bump(self) -> None:
        try:
            get_redis().incr(GENERATION_KEY)
        except redis.RedisError as exc:
            logger.warning("process caches: could not tell other processes of a change: %s", exc)


shared_generation = _SharedGeneration()


class _Load:
    """A load in progress, for the callers that wait for it."""

    def __init__(self, generation: bytes | None) -> None:
        self.generation = generation
        self.done = threading.Event()
        self.failed = False
        self.value: Any = None


class ProcessCache:
    def __init__(self, ttl_setting: str, max_entries: int) -> None:
        self._ttl_setting = ttl_setting
        self._max_entries = max_entries
        self._entries: dict[Hashable, tuple[float, Any]] = {}
        self._generation: bytes | None = None
        self._loading: dict[Hashable, _Load] = {}
        self._loading_lock = threading.Lock()
        self._clears = 0

    def _ttl(self) -> float:
        # read on each use: tests and settings overrides change it at run time
        return getattr(settings, self._ttl_setting)

    def get_or_load(self, key: Hashable, load: Callable[[], Any]) -> Any:
        """The kept value, or `load()`'s (kept unless None). The generation is read before the
        load, so a value read before a change elsewhere is never kept as if read after it."""
        generation = shared_generation.current()
        if generation != self._generation:
            self._entries.clear()
            self._generation = generation
        kept = self._entries.get(key)
        if kept is not None and time.monotonic() - kept[0] < self._ttl():
            return kept[1]
        with self._loading_lock:
            pending = self._loading.get(key)
            leads = pending is None or pending.generation != generation
            if leads:
                pending = self._loading[key] = _Load(generation)
            clears = self._clears
        if not leads:
            if connection.connection is None:
                pending.done.wait()
                # the leader's failure may have been its own (its connection, its deadline): try
                return load() if pending.failed else pending.value
            # holding a pooled connection: load with it, never wait for a load that may need it
            pending = _Load(generation)
        try:
            value = pending.value = load()
        except BaseException:
            pending.failed = True
            raise
        finally:
            with self._loading_lock:
                if self._loading.get(key) is pending:
                    del self._loading[key]
            pending.done.set()
        # Not kept when another greenlet saw a newer generation, or this process wrote, meanwhile.
        kept_still = self._generation == generation and self._clears == clears
        if value is not None and self._ttl() > 0 and kept_still:
            if len(self._entries) >= self._max_entries:
                self._entries.clear()
            self._entries[key] = (time.monotonic(), value)
        return value

    def clear(self) -> None:
        with self._loading_lock:
            self._entries.clear()
            # a load begun before the change is not joined by callers that come after it
            self._loading.clear()
            self._clears += 1

    def clear_on_change(self, *models, m2m_through=()) -> None:
        """Empty the cache whenever one of these models is saved or deleted in this process, and
        every other process's caches once the change is committed."""

        def forget(**kwargs) -> None:
            self.clear()
            transaction.on_commit(shared_generation.bump)

        for model in models:
            post_save.connect(forget, sender=model, weak=False)
            post_delete.connect(forget, sender=model, weak=False)
        for through in m2m_through:
            m2m_changed.connect(forget, sender=through, weak=False)
