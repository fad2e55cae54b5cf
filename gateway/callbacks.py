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

from common.errors import InvalidRequest
from common.tls import tls_context


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


_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses an IPv6 address carries (and reaches, through a translator or tunnel):
    mapped ::ffff:a.b.c.d, compatible ::a.b.c.d, NAT64 64:ff9b::a.b.c.d, 6to4 2002:aabb:ccdd::,
    Teredo."""
    found = []
    if ip.ipv4_mapped:
        found.append(ip.ipv4_mapped)
    if int(ip) >> 32 == 0 and int(ip) > 1:  # ::a.b.c.d (not :: or ::1, which are IPv6's own)
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if any(ip in network for network in _NAT64):
        found.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip.sixtofour:
        found.append(ip.sixtofour)
    if ip.teredo:
        found.extend(ip.teredo)
    return found


def _internal(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if not ip.is_global or ip.is_multicast:
        return True
    return ip.version == 6 and any(_internal(inner) for inner in _embedded_ipv4(ip))


def _checked_address(url: str) -> str | None:
    """Refuse URLs a gateway must not call: other schemes, hosts outside the allow-list, and (unless
    allowed) internal addresses, so a caller cannot make Corral reach its own network. Returns the
    address the check approved (None when internal addresses are allowed and nothing was checked)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequest("callback_url: must be an http(s) URL.")
    host = parts.hostname.lower()
    if not _host_allowed(host):
        raise InvalidRequest(f"callback_url: the host '{host}' is not allowed for callbacks.")
    if settings.CORRAL_CALLBACK_ALLOW_PRIVATE:
        return None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = sorted(_addresses(host, port))
    for address in addresses:
        if _internal(ipaddress.ip_address(address.split("%", 1)[0])):
            raise InvalidRequest(
                f"callback_url: '{host}' resolves to an internal address; callbacks go to public hosts."
            )
    return addresses[0]


def callback_url_check(url: str) -> None:
    _checked_address(url)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={digest.hexdigest()}"


def callback_send(*, url: str, secret: str, payload: dict, completion_id: str) -> int:
    """POST the signed payload once; returns the HTTP status. The URL is checked again right before
    sending (a host may resolve differently by now), and the connection goes to the address that
    check approved: a name that resolves again to an internal address in between (DNS rebinding)
    does not change where the callback goes. TLS still verifies the certificate for the name."""
    address = _checked_address(url)
    body = json.dumps(payload, separators=(",", ":"), default=str).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Corral-Callback/1",
        "X-Corral-Completion-Id": completion_id,
        "X-Corral-Timestamp": timestamp,
        "X-Corral-Signature": sign(secret, timestamp, body),
    }
    extensions = {}
    if address is not None:
        parts = urlsplit(url)
        headers["Host"] = parts.netloc.rsplit("@", 1)[-1]
        extensions["sni_hostname"] = parts.hostname
        literal = f"[{address}]" if ":" in address else address
        port = f":{parts.port}" if parts.port else ""
        userinfo = parts.netloc.rsplit("@", 1)[0] + "@" if "@" in parts.netloc else ""
        url = parts._replace(netloc=f"{userinfo}{literal}{port}").geturl()
    request = httpx.Request("POST", url, content=body, headers=headers, extensions=extensions)
    with httpx.Client(verify=tls_context(), timeout=10.0, follow_redirects=False) as client:
        return client.send(request).status_code
