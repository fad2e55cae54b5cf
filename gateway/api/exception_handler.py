"""One place where domain and framework errors become the contract's error shape."""

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response

from common.database_errors import database_error
from common.errors import GatewayError, RequestTooLarge

logger = logging.getLogger(__name__)


def _flatten(detail, path: str = "") -> list[str]:
    """DRF's nested error detail as 'messages[0].role: ...' lines."""
    if isinstance(detail, dict):
        lines = []
        for key, value in detail.items():
            if key == "non_field_errors":
                lines += _flatten(value, path)
            elif isinstance(key, int):
                lines += _flatten(value, f"{path}[{key}]")
            else:
                lines += _flatten(value, f"{path}.{key}" if path else str(key))
        return lines
    if isinstance(detail, list):
        lines = []
        for index, item in enumerate(detail):
            if isinstance(item, dict | list) and item:
                lines += _flatten(item, f"{path}[{index}]")
            elif item:
                lines += _flatten(item, path)
        return lines
    return [f"{path}: {detail}" if path else str(detail)]


def error_response(
    status: int,
    code: str,
    message: str,
    retry_after: int | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    headers = dict(headers or {})
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return Response({"error": {"code": code, "message": message}}, status=status, headers=headers)


def handle_exception(exc, context):
    if isinstance(exc, RequestDataTooBig):
        # Django refuses a declared length over DATA_UPLOAD_MAX_MEMORY_SIZE before DRF's parser runs.
        limit = settings.CORRAL_MAX_REQUEST_BYTES
        exc = RequestTooLarge(f"request body is larger than the limit of {limit} bytes")
    if isinstance(exc, OperationalError | InterfaceError):
        # The database is away (e.g. while authenticating a token that is not cached).
        logger.warning("database unavailable or busy: %s", exc)
        exc = database_error(exc, "the database is unavailable; try again shortly")
    if isinstance(exc, GatewayError):
        return error_response(exc.status, exc.code, exc.message, exc.retry_after, exc.headers)
    if isinstance(exc, Http404):
        return error_response(404, "not_found", "not found")
    if isinstance(exc, DjangoPermissionDenied):
        return error_response(403, "forbidden", "you do not have permission for this")
    if isinstance(exc, exceptions.ValidationError):
        return error_response(400, "invalid_request", " ".join(_flatten(exc.detail)))
    if isinstance(exc, exceptions.ParseError):
        return error_response(400, "invalid_request", f"invalid JSON body: {exc.detail}")
    if isinstance(exc, exceptions.UnsupportedMediaType):
        return error_response(400, "invalid_request", "the body must be JSON (application/json)")
    if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed):
        response = error_response(401, "unauthenticated", str(exc.detail))
        response["WWW-Authenticate"] = 'Bearer realm="corral"'
        return response
    if isinstance(exc, exceptions.PermissionDenied):
        return error_response(403, "forbidden", str(exc.detail))
    if isinstance(exc, exceptions.NotFound):
        return error_response(404, "not_found", str(exc.detail))
    if isinstance(exc, exceptions.MethodNotAllowed):
        return error_response(405, "method_not_allowed", str(exc.detail))
    if isinstance(exc, exceptions.NotAcceptable):
        return error_response(406, "not_acceptable", str(exc.detail))
    if isinstance(exc, exceptions.Throttled):
        return error_response(429, "rate_limited", str(exc.detail), exc.wait and int(exc.wait))
    if isinstance(exc, exceptions.APIException):
        return error_response(exc.status_code, "invalid_request", str(exc.detail))
    logger.exception("unhandled error in %s", context.get("view").__class__.__name__)
    return error_response(500, "internal_error", "internal error")
