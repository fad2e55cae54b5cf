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


def redact_value(value: Any) -> Any:
    """Every string inside a JSON value (tool-call arguments, metadata) redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: redact_value(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redact_value(item) for item in value]
    return value


def redact_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    kept = []
    for message in messages:
        if message.get("content"):
            message = {**message, "content": redact(message["content"])}
        if message.get("tool_calls"):
            message = {**message, "tool_calls": redact_value(message["tool_calls"])}
        kept.append(message)
    return kept
