from gateway.pipeline.chat import chat_complete, chat_stream, complete, generate_stream
from gateway.pipeline.embed import embed
from gateway.pipeline.types import (
    Caller,
    CallMeta,
    ChatRequest,
    ChatResult,
    Delta,
    EmbedRequest,
    EmbedResult,
    GenerateRequest,
    Usage,
)

__all__ = [
    "CallMeta",
    "Caller",
    "ChatRequest",
    "ChatResult",
    "Delta",
    "EmbedRequest",
    "EmbedResult",
    "GenerateRequest",
    "Usage",
    "chat_complete",
    "chat_stream",
    "complete",
    "embed",
    "generate_stream",
]
