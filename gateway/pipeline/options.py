"""A route's own settings applied to a call: default options, the maxima one caller may ask for
(answer length, context size, how long the model stays loaded), a default system prompt."""

import math
from typing import Any

from common.durations import duration_seconds
from gateway.models import ModelRoute


def _clamped(value: Any, cap: int | None) -> Any:
    # Ollama reads -1 as "no limit" and -2 as "fill the context": both exceed any cap.
    if cap and (not isinstance(value, int) or value < 0 or value > cap):
        return cap
    return value


def route_options(route: ModelRoute, options: dict[str, Any]) -> dict[str, Any]:
    """The caller's options over the route's defaults, num_predict and num_ctx clamped to the
    route's maxima (a caller cannot take the GPU's memory or time from the rest of the team)."""
    merged = {**route.default_options, **options}
    if route.max_num_predict:
        merged["num_predict"] = _clamped(merged.get("num_predict"), route.max_num_predict)
    if route.max_num_ctx and "num_ctx" in merged:
        merged["num_ctx"] = _clamped(merged["num_ctx"], route.max_num_ctx)
    return merged


def with_system_prompt(
    route: ModelRoute, operation: str, messages: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The route's system prompt goes first when the caller sent no system message."""
    if not route.system_prompt or operation == "embeddings" or not messages:
        return messages  # (no messages: a call that only loads or unloads the model)
    if any(message.get("role") == "system" for message in messages):
        return messages
    return [{"role": "system", "content": route.system_prompt}, *messages]


def _ollama_form(value: str) -> str | int | float:
    # Ollama wants bare numbers as numbers.
    try:
        number = float(value)
    except ValueError:
        return value
    return int(number) if number.is_integer() else number


def keep_alive_for(route: ModelRoute, asked: str | float | None) -> str | float | None:
    """The caller's keep_alive, else the route's, no longer than the route's maximum ("forever"
    included): one member must not pin the team's model on the GPU."""
    value = asked if asked is not None else (_ollama_form(route.keep_alive.strip()) or None)
    if value is None or not route.max_keep_alive:
        return value
    limit = duration_seconds(route.max_keep_alive)
    if duration_seconds(value) > limit:
        return int(limit) if float(limit).is_integer() and not math.isinf(limit) else limit
    return value
