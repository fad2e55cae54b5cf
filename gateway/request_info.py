import re
from urllib.parse import parse_qsl, urlencode

from django.conf import settings

# Query parameters whose values are credentials, whatever their value looks like. A value that
# looks like a Corral token is hidden under any name.
_SECRET_NAMES = re.compile(r"(?i)key|token|secret|pass|auth|sig|credential")
_TOKEN_VALUE = re.compile(r"crl_[A-Za-z0-9]")


def client_ip(request) -> str | None:
    """The caller's address; X-Forwarded-For is believed only behind a configured proxy."""
    meta = request.META
    if settings.CORRAL_TRUST_X_FORWARDED_FOR:
        forwarded = meta.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[0].strip() or None
    return meta.get("REMOTE_ADDR") or None


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
