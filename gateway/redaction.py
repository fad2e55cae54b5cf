"""Redaction of stored and exported text: audit content and span attributes alike."""

import re
from functools import lru_cache
from typing import Any

from django.conf import settings

REPLACEMENT = "[REDACTED]"
# A Corral token pasted into a prompt must not end up in the audit trail or a trace.
TOKEN_PATTERN = r"crl_[a-z0-9]{8}_[A-Za-z0-9_-]{20,}"  # noqa: S105 (a regex, not a secret)


@lru_cache(maxsize=8)
def _compiled(patterns: tuple[str, ...]) -> re.Pattern:
    return re.compile("|".join(f"(?:{p})" for p in (TOKEN_PATTERN, *patterns)))


def redact(text: str) -> str:
    if not text:
        return text
    return _compiled(tuple(settings.CORRAL_REDACT_PATTERNS)).sub(REPLACEMENT, text)


def redact_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {**message, "content": redact(message["content"])} if message.get("content") else message
        for message in messages
    ]
