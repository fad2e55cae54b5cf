"""What a call may cost before it is made, counted locally: the prompt (Ollama reports its count
only in the final chunk, which a call that stops early never gets) and the most its answer may take.
Quotas reserve this at admission and settle with the real usage at the end."""

import json
import math
from typing import Any

from django.conf import settings

from gateway.models import ModelRoute

CHARS_PER_TOKEN = 4  # English text averages about four characters a token
TOKENS_PER_MESSAGE = 4  # the chat template's role markers
TOKENS_PER_IMAGE = 768  # what a vision model's image encoder takes, give or take


def prompt_tokens_estimate(messages: list[dict[str, Any]], tools: list | None = None) -> int:
    chars, images = 0, 0
    for message in messages:
        chars += len(message.get("content") or "")
        if message.get("tool_calls"):
            chars += len(json.dumps(message["tool_calls"]))
        images += len(message.get("images") or [])
    if tools:
        chars += len(json.dumps(tools))
    return (
        math.ceil(chars / CHARS_PER_TOKEN)
        + TOKENS_PER_MESSAGE * len(messages)
        + TOKENS_PER_IMAGE * images
    )


def output_tokens_cap(route: ModelRoute, options: dict[str, Any], operation: str) -> int:
    """The most tokens the answer may take (options are already clamped to the route's maxima)."""
    if operation == "embeddings":
        return 0
    asked = options.get("num_predict")
    if isinstance(asked, int) and asked > 0:
        return asked
    return route.max_num_predict or settings.CORRAL_ROUTE_MAX_NUM_PREDICT
