"""Talking to Ollama servers with the official client, and turning its failures into domain errors."""

import json
import threading

import httpcore
import httpx
import ollama
from django.conf import settings

from common.errors import (
    GatewayError,
    InvalidRequest,
    ModelNotFound,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from common.sockets import readable_now
from common.tls import tls_context
from gateway.backends.routing import Timeouts, timeouts_for
from gateway.models import Backend

_clients: dict[tuple, ollama.Client] = {}
_clients_lock = threading.Lock()


class _Stream(httpcore.NetworkStream):
    """httpcore's stream, with two changes. It tells whether an idle connection's server spoke
    (or hung up) with a peek rather than a poll (common.sockets): the pool asks it of every idle
    connection each time a request starts or ends. And it sends a request's head and body
    together: httpcore writes them one after the other, and each send on loopback wakes the
    server for a partial request (two sends were ~6 % of a web worker's CPU)."""

    # Held back at most this much: a larger body goes out as it is written.
    HOLD = 65536

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream
        self._held = b""
        self._held_timeout: float | None = None

    def _send_held(self) -> None:
        if self._held:
            held, self._held = self._held, b""
            self._stream.write(held, self._held_timeout)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        # httpcore reads once the request is written: what is held goes out first.
        self._send_held()
        return self._stream.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._held += buffer
        self._held_timeout = timeout
        if len(self._held) > self.HOLD:
            self._send_held()

    def close(self) -> None:
        self._held = b""
        self._stream.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None) -> "_Stream":
        self._send_held()
        return _Stream(self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str):
        if info == "is_readable":
            return readable_now(self._stream.get_extra_info("socket").fileno())
        return self._stream.get_extra_info(info)


class _Backend(httpcore.SyncBackend):
    def connect_tcp(self, *args, **kwargs) -> _Stream:
        return _Stream(super().connect_tcp(*args, **kwargs))


class _Transport(httpx.HTTPTransport):
    """httpx's transport over httpcore's pool with the backend above. httpx 0.28 takes no network
    backend (encode/httpx#3749 would add one), so the pool it made is replaced by one that has it."""

    def __init__(self, limits: httpx.Limits) -> None:
        super().__init__(verify=tls_context(), limits=limits)
        self._pool = httpcore.ConnectionPool(
            ssl_context=tls_context(),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_Backend(),
        )


def _idle_after_headers(idle: float):
    """Ollama sends its headers with the first chunk, so the wait for them is the time to the
    first token. Once they are in, every further read may wait only the idle timeout: httpcore
    reads the request's timeout again when the body starts."""

    def hook(response: httpx.Response) -> None:
        timeouts = response.request.extensions.get("timeout")
        if isinstance(timeouts, dict):
            timeouts["read"] = idle

    return hook


def client_for(backend: Backend, timeouts: Timeouts | None = None) -> ollama.Client:
    """One pooled client per backend, timeouts and process (keep-alive connections are reused)."""
    timeouts = timeouts or timeouts_for(None, backend)
    key = (backend.pk, backend.base_url, timeouts.connect, timeouts.first_token, timeouts.idle)
    client = _clients.get(key)
    if client is None:
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                client = ollama.Client(
                    host=backend.base_url,
                    timeout=httpx.Timeout(
                        connect=timeouts.connect,
                        read=timeouts.first_token,
                        write=timeouts.idle,
                        pool=timeouts.connect,
                    ),
                    transport=_Transport(
                        httpx.Limits(
                            max_connections=settings.CORRAL_UPSTREAM_MAX_CONNECTIONS,
                            max_keepalive_connections=64,
                        )
                    ),
                    event_hooks={"response": [_idle_after_headers(timeouts.idle)]},
                )
                _clients[key] = client
    return client


def translate_error(
    exc: BaseException,
    backend: Backend,
    upstream_model: str,
    *,
    timeouts: Timeouts | None = None,
    answering: bool = False,
) -> GatewayError:
    """Map what the ollama client raised to the contract's error; keeps Ollama's own words.
    `answering`: the backend had begun its answer (a read timeout is then the idle one)."""
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
        if status in (429, 503):
            return UpstreamUnavailable(f"{where} is busy (Ollama said: {detail})", retry_after=1)
        if 400 <= status < 500:
            # Ollama refused what it was asked: the request's fault, not the backend's.
            return InvalidRequest(f"Ollama rejected the request: {detail}")
        if status == -1:
            return backend_fault(UpstreamError(f"{where} failed while answering: {detail}"))
        return backend_fault(UpstreamError(f"{where} answered {status}: {detail}"))
    if isinstance(exc, httpx.TimeoutException):
        limits = timeouts or timeouts_for(None, backend)
        if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
            error = UpstreamTimeout(f"timed out connecting to {where} ({limits.connect:g} s)")
        elif answering:
            error = UpstreamTimeout(f"{where} sent nothing for {limits.idle:g} s")
        else:
            error = UpstreamTimeout(f"no first token from {where} within {limits.first_token:g} s")
        return backend_fault(error)
    if isinstance(exc, ConnectionError | httpx.ConnectError):
        return backend_fault(UpstreamUnavailable(f"cannot connect to {where}"))
    if isinstance(exc, httpx.TransportError):
        return backend_fault(
            UpstreamError(f"connection to {where} failed: {exc.__class__.__name__}")
        )
    if isinstance(exc, json.JSONDecodeError | ValueError):
        return backend_fault(UpstreamError(f"{where} sent a malformed response"))
    return backend_fault(UpstreamError(f"{where} failed: {exc.__class__.__name__}"))


def backend_fault(error: GatewayError) -> GatewayError:
    """Mark what counts toward a backend's circuit: it could not be reached, timed out, failed
    (5xx) or broke its answer. What Corral or Ollama could tell was wrong with the request is
    never the backend's fault, or a few bad requests would take it out for everyone."""
    error.backend_fault = True
    return error
