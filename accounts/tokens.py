"""The token format: crl_<8 visible chars>_<secret>. The first 12 characters are the public prefix."""

import hashlib
import secrets
import string

PREFIX_LENGTH = 12
_ALPHABET = string.ascii_lowercase + string.digits


def generate() -> tuple[str, str]:
    """A new (prefix, full token)."""
    prefix = "crl_" + "".join(secrets.choice(_ALPHABET) for _ in range(PREFIX_LENGTH - 4))
    return prefix, f"{prefix}_{secrets.token_urlsafe(32)}"


def digest(token: str) -> str:
    # The secret has 256 bits of entropy: a fast hash is enough, a slow KDF would only cost latency.
    return hashlib.sha256(token.encode()).hexdigest()


def split_prefix(token: str) -> str | None:
    if len(token) <= PREFIX_LENGTH + 1 or not token.startswith("crl_"):
        return None
    if token[PREFIX_LENGTH] != "_":
        return None
    return token[:PREFIX_LENGTH]
