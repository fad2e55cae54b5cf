from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser

from accounts.models import ApiToken, Team


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


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: list[dict[str, Any]]
    stream: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    format: str | dict | None = None
    tools: list[dict[str, Any]] | None = None
    keep_alive: str | float | None = None
    conversation_id: str = ""
    metadata: dict[str, str] = field(default_factory=dict)


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


@dataclass
class CallMeta:
    """What the pipeline tells the surface besides the answer (filled in as the call proceeds)."""

    rate: Any = None  # accounts.limits.RateState of the tightest rate limit, for X-RateLimit-*
    # Called with the audit record's id as soon as it is opened (async jobs keep it per attempt).
    on_open: Callable[[str], None] | None = None
    # Asked between chunks; True stops the call (an async job was cancelled).
    cancelled: Callable[[], bool] | None = None
