from gateway.pipeline.chat import chat_complete, chat_stream
from gateway.pipeline.types import Caller, CallMeta, ChatRequest, ChatResult, Delta, Usage

__all__ = [
    "CallMeta",
    "Caller",
    "ChatRequest",
    "ChatResult",
    "Delta",
    "Usage",
    "chat_complete",
    "chat_stream",
]
