"""Talking to Ollama servers with the official client, and turning its failures into domain errors."""

import json
import threading

import httpx
import ollama
from django.conf import settings

from gateway.errors import (
    GatewayError,
    InvalidRequest,
    ModelNotFound,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gateway.models import Backend

_clients: dict[tuple, ollama.Client] = {}
_clients_lock = threading.Lock()


def client_for(backend: Backend) -> ollama.Client:
    """One pooled client per backend configuration and process (keep-alive connections are reused)."""
    key = (backend.pk, backend.base_url, backend.connect_timeout, backend.read_timeout)
    client = _clients.get(key)
    if client is None:
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                client = ollama.Client(
                    host=backend.base_url,
                    timeout=httpx.Timeout(
                        connect=backend.connect_timeout,
                        # httpx's read timeout bounds each wait for bytes: the time to the first
                        # token and the idle time between two chunks.
                        read=backend.read_timeout,
                        write=backend.read_timeout,
                        pool=backend.connect_timeout,
                    ),
                    limits=httpx.Limits(
                        max_connections=settings.CORRAL_UPSTREAM_MAX_CONNECTIONS,
                        max_keepalive_connections=64,
                    ),
                )
                _clients[key] = client
    return client


def translate_error(exc: BaseException, backend: Backend, upstream_model: str) -> GatewayError:
    """Map what the ollama client raised to the contract's error; keeps Ollama's own words."""
    where = f"backend '{backend.name}'"
    if isinstance(exc, GatewayError):
        return exc
    if isinstance(exc, ollama.ResponseError):
        detail = exc.error
        status = exc.status_code
        if status == 404:
            return ModelNotFound(
                f"model '{upstream_model}' is not available on {where} (Ollama said: {detail})"
            )
        if status == 400:
            return InvalidRequest(f"Ollama rejected the request: {detail}")
        if status in (429, 503):
            return UpstreamUnavailable(f"{where} is busy (Ollama said: {detail})", retry_after=1)
        if status == -1:
            return UpstreamError(f"{where} failed while answering: {detail}")
        return UpstreamError(f"{where} answered {status}: {detail}")
    if isinstance(exc, httpx.TimeoutException):
        kind = "connecting to" if isinstance(exc, httpx.ConnectTimeout) else "waiting for"
        return UpstreamTimeout(f"timed out {kind} {where}")
    if isinstance(exc, ConnectionError | httpx.ConnectError):
        return UpstreamUnavailable(f"cannot connect to {where}")
    if isinstance(exc, httpx.TransportError):
        return UpstreamError(f"connection to {where} failed: {exc.__class__.__name__}")
    if isinstance(exc, json.JSONDecodeError | ValueError):
        return UpstreamError(f"{where} sent a malformed response")
    return UpstreamError(f"{where} failed: {exc.__class__.__name__}")
