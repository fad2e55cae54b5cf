"""A connection pool where waiting for a connection is queueing, never an outage.

psycopg_pool gives up on a caller after `timeout` seconds whichever way the wait went. Under a burst
(a batch job opening hundreds of calls at once) every connection is in use by other calls and the
queue drains in seconds, yet the caller would have been told the database is unavailable. Here a
caller waits in line while the pool is full (every connection it may open is open and lent out)
for up to `queue_timeout`; it gives up after `timeout` only when the pool could not open the
connections it needed: then the database really is unreachable."""

import time

from psycopg_pool import ConnectionPool, PoolTimeout


class PoolBusy(PoolTimeout):
    """Every connection stayed in use by other calls for the whole queue timeout."""


class QueueingPool(ConnectionPool):
    def __init__(self, *args, queue_timeout: float, **kwargs) -> None:
        self.queue_timeout = queue_timeout
        super().__init__(*args, **kwargs)

    def full(self) -> bool:
        """Every connection the pool may hold is open (or opening) and none is free."""
        stats = self.get_stats()
        return stats.get("pool_size", 0) >= (self.max_size or 0) and not stats.get(
            "pool_available", 0
        )

    def getconn(self, timeout: float | None = None):
        deadline = time.monotonic() + self.queue_timeout
        while True:
            try:
                return super().getconn(timeout)
            except PoolTimeout:
                if not self.full():
                    raise  # the pool could not open a connection: the database is away
                if time.monotonic() >= deadline:
                    raise PoolBusy(
                        f"all {self.max_size} database connections of this process stayed in "
                        f"use by other calls for {self.queue_timeout:g} s"
                    ) from None
