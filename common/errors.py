"""Domain errors. Each carries the contract's code and HTTP status; one handler maps them out."""


class GatewayError(Exception):
    status = 500
    code = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        retry_after: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after
        self.headers = headers or {}

    def as_dict(self) -> dict:
        return {"error": {"code": self.code, "message": self.message}}


class InvalidRequest(GatewayError):
    status = 400
    code = "invalid_request"


class Unauthenticated(GatewayError):
    status = 401
    code = "unauthenticated"


class ModelForbidden(GatewayError):
    status = 403
    code = "model_forbidden"


class ActionForbidden(GatewayError):
    # Something the caller's roles do not allow (managing the backends' models, say).
    status = 403
    code = "forbidden"


class ModelNotFound(GatewayError):
    status = 404
    code = "model_not_found"


class NotFound(GatewayError):
    status = 404
    code = "not_found"


class RequestTooLarge(GatewayError):
    status = 413
    code = "request_too_large"


class RateLimited(GatewayError):
    status = 429
    code = "rate_limited"


class QuotaExceeded(GatewayError):
    status = 429
    code = "quota_exceeded"


class UpstreamError(GatewayError):
    status = 502
    code = "upstream_error"


class UpstreamUnavailable(GatewayError):
    status = 503
    code = "upstream_unavailable"


class UpstreamTimeout(GatewayError):
    status = 504
    code = "upstream_timeout"


class LimitsUnavailable(GatewayError):
    # Redis is away and limits fail closed (CORRAL_LIMITS_FAIL_OPEN=false).
    status = 503
    code = "limits_unavailable"


class DatabaseUnavailable(GatewayError):
    # No call is served without its audit record: with the database away, calls are refused.
    status = 503
    code = "database_unavailable"


class DatabaseBusy(GatewayError):
    # Every pooled connection stayed in use by other calls for the queue timeout: a burst larger
    # than this process drains in that time, not an outage.
    status = 503
    code = "database_busy"


class ClientDisconnected(GatewayError):
    # nginx's "client closed request"; never sent to anyone, only recorded.
    status = 499
    code = "client_disconnected"


class Cancelled(GatewayError):
    # An asynchronous completion cancelled while it ran; recorded, never sent as a response.
    status = 409
    code = "cancelled"
