"""The GenAI span of a call, with both attribute generations (legacy/Dynatrace and current semconv)."""

from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

tracer = trace.get_tracer("corral.gateway")

_REQUEST_TYPES = {"chat": "chat", "generate": "completion", "embeddings": "embedding"}

# Ollama option -> current semconv request attribute.
_OPTION_ATTRIBUTES = {
    "temperature": "gen_ai.request.temperature",
    "top_p": "gen_ai.request.top_p",
    "top_k": "gen_ai.request.top_k",
    "seed": "gen_ai.request.seed",
    "num_predict": "gen_ai.request.max_tokens",
}


def capture_content(team) -> bool:
    """One switch for prompt and completion text on spans, which a team may override."""
    if team is not None and team.capture_content is not None:
        return team.capture_content
    return settings.CORRAL_CAPTURE_MESSAGE_CONTENT


def start_span(
    *,
    operation: str,
    model: str,
    stream: bool,
    options: Mapping[str, Any],
    messages: Sequence[Mapping[str, Any]],
    server_address: str,
    server_port: int,
    audit_id: str,
    username: str,
    team: str,
    token_prefix: str,
    capture: bool,
    conversation_id: str = "",
) -> Span:
    attributes: dict[str, Any] = {
        # legacy generation, as Dynatrace's Ollama view and OpenLLMetry <= 0.47 read it
        "gen_ai.system": "Ollama",
        "llm.request.type": _REQUEST_TYPES[operation],
        "gen_ai.request.model": model,
        "llm.is_streaming": stream,
        # current semconv
        "gen_ai.operation.name": operation,
        "gen_ai.provider.name": "ollama",
        "gen_ai.request.stream": stream,
        "gen_ai.response.id": audit_id,
        "server.address": server_address,
        "server.port": server_port,
        "corral.user": username,
        "corral.team": team,
        "corral.token_prefix": token_prefix,
        "corral.audit_id": audit_id,
    }
    if conversation_id:
        attributes["gen_ai.conversation.id"] = conversation_id
    for option, attribute in _OPTION_ATTRIBUTES.items():
        if options.get(option) is not None:
            attributes[attribute] = options[option]
    stop = options.get("stop")
    if stop:
        attributes["gen_ai.request.stop_sequences"] = (
            [stop] if isinstance(stop, str) else list(stop)
        )
    if capture:
        for index, message in enumerate(messages):
            attributes[f"gen_ai.prompt.{index}.role"] = message.get("role", "")
            attributes[f"gen_ai.prompt.{index}.content"] = message.get("content") or ""
    return tracer.start_span(f"{operation} {model}", kind=SpanKind.CLIENT, attributes=attributes)


def end_span(
    span: Span,
    *,
    response_model: str = "",
    completion: str | None = None,
    capture: bool = False,
    finish_reason: str = "",
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    error_type: str = "",
    error_message: str = "",
    exception: BaseException | None = None,
) -> None:
    attributes: dict[str, Any] = {
        "gen_ai.usage.prompt_tokens": prompt_tokens,
        "gen_ai.usage.completion_tokens": completion_tokens,
        "llm.usage.total_tokens": prompt_tokens + completion_tokens,
        "gen_ai.usage.input_tokens": prompt_tokens,
        "gen_ai.usage.output_tokens": completion_tokens,
    }
    if response_model:
        attributes["gen_ai.response.model"] = response_model
    if finish_reason:
        attributes["gen_ai.response.finish_reasons"] = [finish_reason]
    if completion is not None and capture:
        attributes["gen_ai.completion.0.role"] = "assistant"
        attributes["gen_ai.completion.0.content"] = completion
    if error_type:
        attributes["error.type"] = error_type
        if exception is not None:
            span.record_exception(exception)
        span.set_status(Status(StatusCode.ERROR, error_message or error_type))
    span.set_attributes(attributes)
    span.end()
