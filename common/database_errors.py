"""What a database error means for the caller: a queue for a pooled connection that did not drain
in time (busy), or a database that cannot be reached (unavailable). Both are a 503 with
Retry-After; the message names which."""

from common.errors import DatabaseBusy, DatabaseUnavailable, GatewayError
from common.postgresql.pool import PoolBusy


def database_error(exc: BaseException, unavailable: str) -> GatewayError:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, PoolBusy):
            return DatabaseBusy(f"{cause}; try again shortly", retry_after=2)
        cause = cause.__cause__ or cause.__context__
    return DatabaseUnavailable(unavailable, retry_after=5)
