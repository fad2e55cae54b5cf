"""Ollama's durations (keep_alive): a number of seconds, or a string Go's time.ParseDuration reads
("5m", "1h30m", "-1s", "0"). Negative means "keep the model loaded forever"."""

import math
import re

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
_PART = re.compile(r"(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_WHOLE = re.compile(r"[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+")


def duration_seconds(value: object) -> float:
    """Seconds (math.inf for "forever"), or ValueError for what Ollama would refuse."""
    if isinstance(value, bool):
        raise ValueError("not a duration")
    if isinstance(value, int | float):
        if math.isnan(value):
            raise ValueError("not a duration")
        return math.inf if value < 0 else float(value)
    if not isinstance(value, str):
        raise ValueError("not a duration")
    text = value.strip()
    if text in ("0", "+0", "-0"):
        return 0.0
    if not _WHOLE.fullmatch(text):
        raise ValueError(f'{value!r} is not a duration such as "5m" or "1h30m"')
    seconds = sum(float(number) * _UNITS[unit] for number, unit in _PART.findall(text))
    return math.inf if text.startswith("-") and seconds > 0 else seconds
