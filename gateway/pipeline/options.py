"""A route's own settings applied to a call: default options, the most tokens an answer may
take, a default system prompt and how long Ollama keeps the model loaded."""

import re
from typing import Any

from gateway.models import ModelRoute

_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def route_options(route: ModelRoute, options: dict[str, Any]) -> dict[str, Any]:
    """The caller's options over the route's defaults, with num_predict capped by the route."""
    merged = {**route.default_options, **options}
    cap = route.max_num_predict
    if cap:
        asked = merged.get("num_predict")
        # Ollama reads -1 as "no limit" and -2 as "fill the context": both exceed any cap.
        if not isinstance(asked, int) or asked < 0 or asked > cap:
            merged["num_predict"] = cap
    return merged


def with_system_prompt(
    route: ModelRoute, operation: str, messages: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The route's system prompt goes first when the caller sent no system message."""
    if not route.system_prompt or operation == "embeddings":
        return messages
    if any(message.get("role") == "system" for message in messages):
        return messages
    return [{"role": "system", "content": route.system_prompt}, *messages]


def keep_alive_for(route: ModelRoute, asked: str | float | None) -> str | float | None:
    """The caller's keep_alive, else the route's; Ollama wants bare numbers as numbers."""
    if asked is not None or not route.keep_alive:
        return asked
    value = route.keep_alive.strip()
    if _NUMBER.fullmatch(value):
        return float(value) if "." in value else int(value)
    return value
