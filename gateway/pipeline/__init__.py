from gateway.pipeline.chat import chat_complete, chat_stream
from gateway.pipeline.types import Caller, ChatRequest, ChatResult, Delta, Usage

__all__ = ["Caller", "ChatRequest", "ChatResult", "Delta", "Usage", "chat_complete", "chat_stream"]
