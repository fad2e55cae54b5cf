"""A connection pool where waiting for a connection is queueing, never an outage.

psycopg_pool gives up on a caller after `timeout` seconds whichever way the wait went. Under a burst
(a batch job opening hundreds of calls at once) every connection is in use by other calls and the
queue drains in seconds, yet the caller would have been told the database is unavailable. The same
happens while the pool is still growing: it opens connections one at a time, and a burst into a
busy process (every greenlet wanting the CPU, the pool's opener among them) or across a slow link
outruns that growth although every connection opens fine.

Here a caller waits in line, for up to `queue_timeout`, unless an attempt to open a connection
failed since the last one that succeeded: then, after `timeout`, the database really is unreachable
(refused, or silent for the connection's `connect_timeout`). Past the queue timeout the caller is
told the pool is busy when every connection was in use, and that the database is unavailable when
the pool still could not open the connections it wanted."""

import time

from psycopg_pool import ConnectionPool, PoolTimeout

from common.sockets import readable_now


class PoolBusy(PoolTimeout):
    """Every connection stayed in use by other calls for the whole queue timeout."""


class QueueingPool(ConnectionPool):
    def __init__(self, *args, queue_timeout: float, configure=None, **kwargs) -> None:
        self.queue_timeout = queue_timeout
        # psycopg_pool counts failed attempts in its stats but has no hook for a success other
        # than configure: the failures counted when a connection last opened.
        self._errors_when_opened = 0

        def configured(conn) -> None:
            if configure is not None:
                configure(conn)
            self._errors_when_opened = self.get_stats().get("connections_errors", 0)

        super().__init__(*args, configure=configured, **kwargs)

    @staticmethod
    def check_connection(conn) -> None:
        """psycopg_pool's check, asked only of a connection whose server spoke or hung up.

        An idle connection has nothing to read. When PostgreSQL shuts down or a backend is
        terminated, the server sends its last words and closes the socket; when the network
        between is cut, the connection is reset: either way the socket turns readable. So a silent
        socket passes without the round trip (an empty query) that the stock check costs on
        every checkout, twice per call; a readable one is asked, and discarded if it fails."""
        if readable_now(conn.pgconn.socket):
            ConnectionPool.check_connection(conn)

    def full(self) -> bool:
        """Every connection the pool may hold is open (or opening) and none is free."""
        stats = self.get_stats()
        return stats.get("pool_size", 0) >= (self.max_size or 0) and not stats.get(
            "pool_available", 0
        )

    def failing(self) -> bool:
        """An attempt to open a connection failed since the last one that worked."""
        return self.get_stats().get("connections_errors", 0) > self._errors_when_opened

    def getconn(self, timeout: float | None = None):
        deadline = time.monotonic() + self.queue_timeout
        while True:
            try:
                return super().getconn(timeout)
            except PoolTimeout:
                if self.failing():
                    raise  # the pool cannot open a connection: the database is away
                if time.monotonic() >= deadline:
                    if not self.full():
                        raise  # connections still not opened after all that time
                    raise PoolBusy(
                        f"all {self.max_size} database connections of this process stayed in "
                        f"use by other calls for {self.queue_timeout:g} s"
                    ) from None
