"""The queueing pool tells a database that is away from one that is only busy, against real sockets:
a port that refuses, and one that accepts and never answers (a database behind a dropped network).
Either way the caller hears "unavailable" after DATABASE_POOL_TIMEOUT (plus the connection's
connect_timeout for the silent one), not after the whole queue timeout and not as "busy"."""

import socket
import time

import pytest

from common.postgresql.pool import PoolBusy, QueueingPool
from tests.support.processes import free_port


def _pool(port: int) -> QueueingPool:
    return QueueingPool(
        f"host=127.0.0.1 port={port} user=postgres dbname=postgres connect_timeout=1",
        min_size=0,
        max_size=4,
        timeout=0.5,
        queue_timeout=30,
        open=True,
    )


def _unavailable_within(pool: QueueingPool, seconds: float) -> None:
    started = time.monotonic()
    with pytest.raises(Exception) as raised:
        pool.getconn()
    waited = time.monotonic() - started
    assert not isinstance(raised.value, PoolBusy), raised.value
    assert waited < seconds, f"told after {waited:.1f} s"


def test_a_database_that_refuses_is_unavailable_after_the_pool_timeout():
    pool = _pool(free_port())  # nothing listens there
    try:
        _unavailable_within(pool, 3)
    finally:
        pool.close()


def test_a_database_that_never_answers_is_unavailable_after_its_connect_timeout():
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # the kernel completes the handshakes; nobody ever answers
    pool = _pool(silent.getsockname()[1])
    try:
        _unavailable_within(pool, 6)
    finally:
        pool.close()
        silent.close()
