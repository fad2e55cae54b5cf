from django.db.backends.postgresql import base

from common.postgresql.pool import QueueingPool


class DatabaseWrapper(base.DatabaseWrapper):
    """Django's PostgreSQL backend whose pool queues callers (common.postgresql.pool). The pool is
    built as Django builds its own (base.DatabaseWrapper.pool), with the queue's timeout added:
    OPTIONS["pool"]["queue_timeout"]."""

    @property
    def pool(self):
        options = self.settings_dict["OPTIONS"].get("pool")
        if self.alias == base.NO_DB_ALIAS or not options:
            return None
        if self.alias not in self._connection_pools:
            options = dict(options)
            queue_timeout = options.pop("queue_timeout", options.get("timeout", 30.0))
            connect_kwargs = {**self.get_connection_params(), "autocommit": True}
            pool = QueueingPool(
                kwargs=connect_kwargs,
                open=False,
                configure=self._configure_connection,
                check=QueueingPool.check_connection
                if self.settings_dict["CONN_HEALTH_CHECKS"]
                else None,
                queue_timeout=queue_timeout,
                **options,
            )
            self._connection_pools.setdefault(self.alias, pool)
        return self._connection_pools[self.alias]
