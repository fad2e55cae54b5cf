"""The pooled Redis connections: the pool's check before handing one out sees what redis-py's own
check sees (a reply waiting, the server's hang-up), and costs no `select.poll` on a quiet
connection (common.redis, common.sockets)."""

import pytest
import redis
import redis._parsers.hiredis
from django.conf import settings

from common.redis import _PeekingParser, get_redis
from tests.support.waiting import wait_for


@pytest.fixture
def connection():
    """A connection from Corral's own pool, handed back at the end."""
    pool = get_redis().connection_pool
    conn = pool.get_connection()
    try:
        yield conn
    finally:
        pool.release(conn)


@pytest.fixture
def no_polling(monkeypatch):
    def poll(sock, timeout):
        raise AssertionError("polled: under gevent, a turn of the event loop per command")

    # redis-py's own readiness check, which it makes with select.poll
    monkeypatch.setattr(redis._parsers.hiredis, "_socket_can_read", poll)


def test_the_pool_uses_the_peeking_parser(connection):
    assert isinstance(connection._parser, _PeekingParser)


def test_a_quiet_connection_is_checked_without_polling(connection, no_polling):
    assert connection.can_read() is False
    # and commands, each preceded by the pool's check, go through
    client = get_redis()
    for _ in range(5):
        assert client.ping() is True


def test_a_reply_waiting_on_the_socket_is_seen(connection):
    connection.send_command("PING")
    assert wait_for(lambda: connection.can_read(), timeout=5)
    assert connection.read_response() in (b"PONG", "PONG")
    assert connection.can_read() is False


def test_a_connection_the_server_closed_is_seen_and_not_reused():
    pool = get_redis().connection_pool
    conn = pool.get_connection()
    conn.send_command("CLIENT", "ID")
    own_id = conn.read_response()
    pool.release(conn)
    with redis.Redis.from_url(settings.REDIS_URL) as other:
        other.client_kill_filter(_id=own_id)
    # the hang-up reaches the socket: the check raises, as redis-py's own does...
    with pytest.raises(redis.ConnectionError):
        wait_for(lambda: conn.can_read(), timeout=5)
    # ...so the pool reconnects instead of sending a command down a dead connection
    conn = pool.get_connection()
    try:
        conn.send_command("CLIENT", "ID")
        assert conn.read_response() != own_id
    finally:
        pool.release(conn)
