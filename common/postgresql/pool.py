"""A connection pool where waiting for a connection is queueing, never an outage.

psycopg_pool gives up on a caller after `timeout` seconds whichever way the wait went. Under a burst
(a batch job opening hundreds of calls at once) every connection is in use by other calls and the
queue drains in seconds, yet the caller would have been told the database is unavailable. Here a
caller waits in line for up to `queue_timeout` while the database answers: while the pool is full
(every connection it may open is open and lent out), and while it is still growing and opening
connections works (psycopg_pool opens them one at a time, so a burst can outrun the growth on a busy
machine). It gives up after `timeout` only when the pool could not open a connection in that time:
an attempt failed, or none finished. Then the database really is unreachable."""

import time

from psycopg_pool import ConnectionPool, PoolTimeout


class PoolBusy(PoolTimeout):
    """Every connection stayed in use by other calls for the whole queue timeout."""


class QueueingPool(ConnectionPool):
    def __init__(self, *args, queue_timeout: float, configure=None, **kwargs) -> None:
        self.queue_timeout = queue_timeout
        # When a connection last opened, and how many attempts had failed by then: psycopg_pool
        # counts failed attempts in its stats but has no hook for a success other than configure.
        self._opened_at = float("-inf")
        self._errors_when_opened = 0

        def configured(conn) -> None:
            if configure is not None:
                configure(conn)
            self._opened_at = time.monotonic()
            self._errors_when_opened = self.get_stats().get("connections_errors", 0)

        super().__init__(*args, configure=configured, **kwargs)

    def full(self) -> bool:
        """Every connection the pool may hold is open (or opening) and none is free."""
        stats = self.get_stats()
        return stats.get("pool_size", 0) >= (self.max_size or 0) and not stats.get(
            "pool_available", 0
        )

    def opening(self, within: float) -> bool:
        """The pool opened a connection in the last `within` seconds and no attempt failed since:
        it is growing, and the database answers."""
        failed = self.get_stats().get("connections_errors", 0) > self._errors_when_opened
        return not failed and time.monotonic() - self._opened_at <= within

    def getconn(self, timeout: float | None = None):
        waited = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + self.queue_timeout
        while True:
            try:
                return super().getconn(timeout)
            except PoolTimeout:
                if not (self.full() or self.opening(within=waited)):
                    raise  # the pool could not open a connection: the database is away
                if time.monotonic() >= deadline:
                    raise PoolBusy(
                        f"all {self.max_size} database connections of this process stayed in "
                        f"use by other calls for {self.queue_timeout:g} s"
                    ) from None
