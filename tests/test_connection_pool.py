"""The queueing pool tells a database that is away from one that is only busy, against real sockets:
a port that refuses, and one that accepts and never answers (a database behind a dropped network).
Either way the caller hears "unavailable" after DATABASE_POOL_TIMEOUT (plus the connection's
connect_timeout for the silent one), not after the whole queue timeout and not as "busy".

Its check of a connection leaving the pool costs no round trip while the connection is quiet, and
still never hands out one whose server went away."""

import socket
import time

import psycopg
import pytest
from django.conf import settings
from psycopg_pool import ConnectionPool

from common.postgresql.pool import PoolBusy, QueueingPool
from tests.support.processes import free_port
from tests.support.waiting import wait_for


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


needs_postgresql = pytest.mark.skipif(
    "postgresql" not in settings.DATABASES["default"]["ENGINE"],
    reason="checks connections to a real PostgreSQL (as CI runs)",
)


@pytest.fixture
def checked_pool(monkeypatch):
    """A pool of one connection to the test run's PostgreSQL, counting the full (round-trip)
    checks it asks for."""
    asked = []
    stock = ConnectionPool.check_connection

    def counting(conn):
        asked.append(conn.pgconn.backend_pid)
        stock(conn)

    monkeypatch.setattr(ConnectionPool, "check_connection", staticmethod(counting))
    db = settings.DATABASES["default"]
    pool = QueueingPool(
        psycopg.conninfo.make_conninfo(
            host=db["HOST"], port=db["PORT"] or 5432, user=db["USER"], dbname=db["NAME"]
        ),
        min_size=1,
        max_size=1,
        timeout=5,
        queue_timeout=5,
        check=QueueingPool.check_connection,
        kwargs={"autocommit": True},
        open=True,
    )
    pool.wait()
    yield pool, asked
    pool.close()


def _backend_pid(pool: QueueingPool) -> int:
    with pool.connection() as conn:
        return conn.execute("SELECT pg_backend_pid()").fetchone()[0]


@needs_postgresql
def test_a_quiet_connection_leaves_the_pool_without_a_round_trip(checked_pool):
    pool, asked = checked_pool
    first = _backend_pid(pool)
    for _ in range(5):
        assert _backend_pid(pool) == first
    assert asked == []


@needs_postgresql
def test_a_connection_whose_server_hung_up_is_asked_and_replaced(checked_pool):
    """A terminated backend (as every one is when PostgreSQL restarts) says its last words and
    hangs up while its connection waits in the pool: the pool must not hand that one out."""
    pool, asked = checked_pool
    pid = _backend_pid(pool)
    with psycopg.connect(pool.conninfo, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
        assert wait_for(
            lambda: (
                not other.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()
            ),
            timeout=10,
        )
    assert _backend_pid(pool) != pid  # a fresh connection, which works
    assert asked == [pid]
