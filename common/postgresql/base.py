import psycopg
from django.db.backends.postgresql import base
from django.db.backends.postgresql.psycopg_any import register_tzloader
from psycopg.pq import Format

from common.postgresql.pool import QueueingPool

_TIMESTAMPTZ = psycopg.adapters.types["timestamptz"].oid


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

    def raw_cursor(self):
        """A cursor for statements written with PostgreSQL's own `$1` placeholders, sent as
        written with their parameters beside them (psycopg.RawCursor), in Django's cursor wrapper
        (error translation, execute wrappers, query logging) as `cursor()` gives.

        Django's cursor binds parameters on the client: psycopg parses every statement to find
        its `%s` and quotes each value into the text, and caches that parse only for statements
        of at most 50 parameters, so the audit trail's grouped writes (44 columns a row) were
        parsed afresh each time. Sent as written, nothing is parsed on this side, and a statement
        run often on one connection is prepared (psycopg's prepare_threshold), so PostgreSQL does
        not plan it again either."""
        self.close_if_health_check_failed()
        self.ensure_connection()
        with self.wrap_database_errors:
            cursor = psycopg.RawCursor(self.connection)
            # As create_cursor() does: timestamps read come in the connection's time zone.
            loader = self.connection.adapters.get_loader(_TIMESTAMPTZ, Format.TEXT)
            if self.timezone != loader.timezone:
                register_tzloader(self.timezone, cursor)
            return self._prepare_cursor(cursor)
