from functools import lru_cache

import redis
from django.conf import settings
from redis._parsers import _HiredisParser
from redis.utils import HIREDIS_AVAILABLE

from common.sockets import readable_now


class _PeekingParser(_HiredisParser):
    """redis-py's hiredis parser, asking a quiet socket whether it is readable with a
    non-blocking peek (common.sockets) instead of `select.poll`, which under gevent runs a turn of
    the event loop: the pool asks before every command it hands a connection out for. A reply
    hiredis already holds, a TLS socket's decrypted bytes, and a socket with something to read
    (data, or the server's hang-up) go through redis-py's own checks, unchanged."""

    def can_read(self, timeout: float = 0) -> bool:
        sock = self._sock
        if (
            timeout == 0
            and self._reader is not None
            and sock is not None
            and not self._reader.has_data()
            and not (hasattr(sock, "pending") and sock.pending())
            and not readable_now(sock.fileno())
        ):
            return False
        return super().can_read(timeout)


@lru_cache(maxsize=1)
def get_redis() -> redis.Redis:
    """The process's Redis client; its connection pool is shared by all threads and greenlets.

    A burst waits in line for one of the pool's REDIS_POOL_MAX connections (up to
    REDIS_POOL_TIMEOUT): redis-py's default pool refuses a caller at once when all of its are in
    use ("Too many connections"), and the limits, failing closed, then refused calls with
    `limits_unavailable` while Redis was fine (784 of 1,000 streams opened at once)."""
    pool = redis.BlockingConnectionPool.from_url(
        settings.REDIS_URL,
        max_connections=settings.REDIS_POOL_MAX,
        timeout=settings.REDIS_POOL_TIMEOUT,
        socket_connect_timeout=2,
        socket_timeout=2,
        health_check_interval=30,
        **({"parser_class": _PeekingParser} if HIREDIS_AVAILABLE else {}),
    )
    return redis.Redis(connection_pool=pool)
