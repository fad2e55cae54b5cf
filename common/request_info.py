import ipaddress
import re
from urllib.parse import parse_qsl, urlencode

from django.conf import settings

# Query parameters whose values are credentials, whatever their value looks like. A value that
# looks like a Corral token is hidden under any name.
_SECRET_NAMES = re.compile(r"(?i)key|token|secret|pass|auth|sig|credential")
_TOKEN_VALUE = re.compile(r"crl_[A-Za-z0-9]")


def client_ip(request) -> str | None:
    """The caller's address. Behind CORRAL_TRUSTED_PROXIES proxies, each of which appends the
    address it saw to X-Forwarded-For, it is the entry that many places from the right: what the
    client itself wrote (the left) is never believed, or it could pick any address (and get past the
    sign-in lockout by changing it)."""
    meta = request.META
    remote = meta.get("REMOTE_ADDR") or None
    proxies = settings.CORRAL_TRUSTED_PROXIES
    if proxies <= 0:
        return remote
    hops = [hop.strip() for hop in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    if len(hops) < proxies:
        return remote
    candidate = hops[-proxies]
    try:
        ipaddress.ip_address(candidate)
    except ValueError:
        return remote
    return candidate


def user_agent(request) -> str:
    return request.META.get("HTTP_USER_AGENT", "")[:512]


def redacted_query(query: str) -> str:
    """The query string with credential values replaced, for logs and spans: a client that puts
    its token in the URL must not have it written down everywhere the URL goes."""
    if not query:
        return query
    pairs = parse_qsl(query, keep_blank_values=True)
    hidden = [
        (name, "REDACTED" if _SECRET_NAMES.search(name) or _TOKEN_VALUE.match(value) else value)
        for name, value in pairs
    ]
    return urlencode(hidden) if hidden != pairs else query
