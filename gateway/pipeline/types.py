import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser

from accounts.models import ApiToken, Team
from audit.models import AuditRecord


@dataclass(frozen=True)
class Caller:
    """Who is calling and through which door; built by the surface from its authenticated request."""

    user: AbstractBaseUser
    surface: str
    team: Team | None = None
    token: ApiToken | None = None
    client_ip: str | None = None
    user_agent: str = ""

    @property
    def token_prefix(self) -> str:
        return self.token.prefix if self.token else ""


@dataclass(frozen=True, kw_only=True)
class Asked:
    """What one call asks for, whichever door it came through: described once, by its request,
    and read from here by the pipeline, the span and the audit record."""

    operation: str
    model: str
    messages: list[dict[str, Any]]
    stream: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    format: str | dict | None = None
    tools: list[dict[str, Any]] | None = None
    keep_alive: str | float | None = None
    think: bool | str | None = None
    tool_choice: str | dict | None = None  # as the caller asked it (recorded; the door applies it)
    conversation_id: str = ""
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class ChatRequest(Asked):
    """A chat call as a door hands it to the pipeline: exactly what it asks for."""

    operation: str = AuditRecord.Operation.CHAT

    @classmethod
    def from_data(cls, data: dict) -> "ChatRequest":
        """From the native API's validated body (a call, or a job kept for later); empty image
        lists and nulls left out of the messages, as Ollama's client leaves them."""
        messages = [
            {key: value for key, value in message.items() if value not in (None, [])}
            for message in data["messages"]
        ]
        return cls(
            model=data["model"],
            messages=messages,
            stream=data["stream"],
            options=dict(data.get("options") or {}),
            format=data.get("format"),
            tools=data.get("tools"),
            keep_alive=data.get("keep_alive"),
            think=data.get("think"),
            conversation_id=data.get("conversation_id", ""),
            metadata=dict(data.get("metadata") or {}),
        )

    def asked(self) -> Asked:
        return self


@dataclass(frozen=True)
class GenerateRequest:
    model: str
    prompt: str
    stream: bool = False
    system: str | None = None
    suffix: str | None = None
    images: list[str] | None = None
    raw: bool | None = None
    template: str | None = None
    think: bool | None = None
    format: str | dict | None = None
    options: dict[str, Any] = field(default_factory=dict)
    keep_alive: str | float | None = None

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The prompt as the audit trail and the span record it."""
        messages = [{"role": "system", "content": self.system}] if self.system else []
        prompt: dict[str, Any] = {"role": "user", "content": self.prompt}
        if self.images:
            prompt["images"] = self.images
        return [*messages, prompt]

    def asked(self) -> Asked:
        return Asked(
            operation=AuditRecord.Operation.GENERATE,
            model=self.model,
            messages=self.messages,
            stream=self.stream,
            options=self.options,
            format=self.format,
            keep_alive=self.keep_alive,
            think=self.think,
        )


@dataclass(frozen=True)
class EmbedRequest:
    model: str
    input: list[str]
    truncate: bool | None = None
    dimensions: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    keep_alive: str | float | None = None

    def asked(self) -> Asked:
        return Asked(
            operation=AuditRecord.Operation.EMBEDDINGS,
            model=self.model,
            messages=[{"role": "user", "content": text} for text in self.input],
            options=self.options,
            keep_alive=self.keep_alive,
        )


@dataclass(frozen=True)
class EmbedResult:
    id: str
    model: str
    embeddings: list[list[float]]
    prompt_tokens: int
    latency_ms: int
    trace_id: str
    upstream_final: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class Delta:
    """A piece of the answer as it streams."""

    content: str = ""
    thinking: str = ""
    tool_calls: list[dict[str, Any]] | None = None


@dataclass(frozen=True)
class ChatResult:
    id: str
    model: str
    upstream_model: str
    content: str
    done_reason: str
    usage: Usage
    latency_ms: int
    ttft_ms: int | None
    trace_id: str
    tool_calls: list[dict[str, Any]] | None = None
    thinking: str = ""
    # Ollama's own final-chunk fields (created_at, total_duration, load_duration,
    # prompt_eval_duration, eval_duration), for the doors that speak Ollama's format.
    upstream_final: dict[str, Any] = field(default_factory=dict)

    def payload(self) -> dict:
        """The native API's answer: the non-stream body, a stream's `done` event, a job's result."""
        message: dict = {"role": "assistant", "content": self.content}
        if self.tool_calls:
            message["tool_calls"] = self.tool_calls
        if self.thinking:
            message["thinking"] = self.thinking
        return {
            "id": self.id,
            "model": self.model,
            "message": message,
            "done_reason": self.done_reason,
            "usage": {
                "prompt_tokens": self.usage.prompt_tokens,
                "completion_tokens": self.usage.completion_tokens,
                "total_tokens": self.usage.total_tokens,
            },
            "latency_ms": self.latency_ms,
            "trace_id": self.trace_id,
        }


def every_so_often(check: Callable[[], bool], seconds: float) -> Callable[[], bool]:
    """A question asked between an answer's chunks (was it cancelled? stopped?) answered by a
    database or Redis read at most every `seconds`; once it says yes, it stays yes."""
    last = {"at": float("-inf"), "value": False}

    def probe() -> bool:
        now = time.monotonic()
        if not last["value"] and now - last["at"] >= seconds:
            last["at"], last["value"] = now, check()
        return last["value"]

    return probe


@dataclass
class CallMeta:
    """What the pipeline tells the surface besides the answer (filled in as the call proceeds)."""

    rate: Any = None  # accounts.limits.RateState of the tightest rate limit, for X-RateLimit-*
    # Called with the audit record's id as soon as it is opened (async jobs keep it per attempt).
    on_open: Callable[[str], None] | None = None
    # Asked between chunks; True stops the call (an async job was cancelled).
    cancelled: Callable[[], bool] | None = None
    # Asked between chunks; True ends the answer where it is, as the person asked (Stop).
    stopped: Callable[[], bool] | None = None
    # The answer is finished on the server if the caller goes away (the web chat: a person who
    # opens another chat finds the answer complete when they come back).
    keep_going: bool = False
    # Called once the call is finalized with (status, completion, error, thinking): the web chat
    # keeps the answer in its conversation, however the call ended.
    on_finish: Callable[[str, str, Any, str], None] | None = None
