"""Gateway's models, by what they hold. The names old migrations refer to (the timeout and limit
defaults, validate_duration) are kept here as well."""

from gateway.models.backends import (
    Backend,
    BackendHealth,
    ModelRoute,
    RouteTarget,
    default_connect_timeout,
    default_first_token_timeout,
    default_idle_timeout,
    default_max_keep_alive,
    default_max_num_ctx,
    default_max_num_predict,
    default_read_timeout,
    default_total_timeout,
    validate_duration,
)
from gateway.models.completions import Completion
from gateway.models.conversations import ChatMessage, Conversation
from gateway.models.outbox import OtlpBatch

__all__ = [
    "Backend",
    "BackendHealth",
    "ChatMessage",
    "Completion",
    "Conversation",
    "ModelRoute",
    "OtlpBatch",
    "RouteTarget",
    "default_connect_timeout",
    "default_first_token_timeout",
    "default_idle_timeout",
    "default_max_keep_alive",
    "default_max_num_ctx",
    "default_max_num_predict",
    "default_read_timeout",
    "default_total_timeout",
    "validate_duration",
]
