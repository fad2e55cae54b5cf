"""Completion callbacks: where they may go, how they are signed, how they are sent.

The receiver verifies `X-Corral-Signature: sha256=<hex>`, an HMAC-SHA256 with the token's webhook
secret over `<X-Corral-Timestamp>.<raw body>`, and may refuse timestamps older than a few minutes.
"""

import hashlib
import hmac
import ipaddress
import json
import socket
import time
from urllib.parse import urlsplit

import httpx
from django.conf import settings

from gateway.errors import InvalidRequest


def _host_allowed(host: str) -> bool:
    allowed = settings.CORRAL_CALLBACK_ALLOWED_HOSTS
    if not allowed:
        return True
    return any(
        host == entry or (entry.startswith(".") and host.endswith(entry)) for entry in allowed
    )


def _addresses(host: str, port: int) -> set[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InvalidRequest(f"callback_url: the host '{host}' cannot be resolved.") from exc
    return {info[4][0] for info in infos}


def callback_url_check(url: str) -> None:
    """Refuse URLs a gateway must not call: other schemes, hosts outside the allow-list, and (unless
    allowed) internal addresses, so a caller cannot make Corral reach its own network."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequest("callback_url: must be an http(s) URL.")
    host = parts.hostname.lower()
    if not _host_allowed(host):
        raise InvalidRequest(f"callback_url: the host '{host}' is not allowed for callbacks.")
    if settings.CORRAL_CALLBACK_ALLOW_PRIVATE:
        return
    port = parts.port or (443 if parts.scheme == "https" else 80)
    for address in _addresses(host, port):
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if not ip.is_global or ip.is_multicast:
            raise InvalidRequest(
                f"callback_url: '{host}' resolves to an internal address; callbacks go to public hosts."
            )


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def callback_send(*, url: str, secret: str, payload: dict, completion_id: str) -> int:
    """POST the signed payload once; returns the HTTP status. The URL is checked again right before
    sending (a host may resolve differently by now)."""
    callback_url_check(url)
    body = json.dumps(payload, separators=(",", ":"), default=str).encode()
    timestamp = str(int(time.time()))
    response = httpx.post(
        url,
        content=body,
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Corral-Callback/1",
            "X-Corral-Completion-Id": completion_id,
            "X-Corral-Timestamp": timestamp,
            "X-Corral-Signature": sign(secret, timestamp, body),
        },
        timeout=10.0,
        follow_redirects=False,
    )
    return response.status_code
