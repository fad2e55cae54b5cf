"""The GenAI span of a call, with both attribute generations (legacy/Dynatrace and current semconv)."""

from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings
from opentelemetry import metrics, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

tracer = trace.get_tracer("corral.gateway")
meter = metrics.get_meter("corral.gateway")

# GenAI client metrics (semantic conventions), with their recommended bucket boundaries.
token_usage = meter.create_histogram(
    "gen_ai.client.token.usage",
    unit="{token}",
    description="Tokens used per call, by token type",
    explicit_bucket_boundaries_advisory=[
        1,
        4,
        16,
        64,
        256,
        1024,
        4096,
        16384,
        65536,
        262144,
        1048576,
    ],
)
operation_duration = meter.create_histogram(
    "gen_ai.client.operation.duration",
    unit="s",
    description="Duration of a GenAI call",
    explicit_bucket_boundaries_advisory=[
        0.01,
        0.02,
        0.04,
        0.08,
        0.16,
        0.32,
        0.64,
        1.28,
        2.56,
        5.12,
        10.24,
        20.48,
        40.96,
        81.92,
    ],
)
time_to_first_token = meter.create_histogram(
    "gen_ai.server.time_to_first_token",
    unit="s",
    description="Time from the call's start to its first token",
    explicit_bucket_boundaries_advisory=[
        0.001,
        0.005,
        0.01,
        0.02,
        0.04,
        0.06,
        0.08,
        0.1,
        0.25,
        0.5,
        0.75,
        1.0,
        2.5,
        5.0,
        7.5,
        10.0,
    ],
)

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


def start_span(*, operation: str, model: str, **request: Any) -> Span:
    attributes = request_attributes(operation=operation, model=model, **request)
    return tracer.start_span(f"{operation} {model}", kind=SpanKind.CLIENT, attributes=attributes)


def request_attributes(
    *,
    operation: str,
    model: str,
    stream: bool,
    options: Mapping[str, Any],
    messages: Sequence[Mapping[str, Any]],
    server_address: str,
    server_port: int | None,
    audit_id: str,
    username: str,
    team: str,
    token_prefix: str,
    capture: bool,
    conversation_id: str = "",
) -> dict[str, Any]:
    """What the span of a call says about the call, known before the model answers."""
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
    return {key: value for key, value in attributes.items() if value is not None}


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
    upstream: Mapping[str, Any] | None = None,
) -> None:
    attributes: dict[str, Any] = {
        **(upstream or {}),
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


def record_failover(span: Span, *, backend: str, error_type: str, error_message: str) -> None:
    """A backend failed before anything reached the caller and the call moved on."""
    span.add_event(
        "corral.failover",
        {"corral.backend": backend, "error.type": error_type, "corral.error": error_message},
    )


def record_metrics(
    *,
    operation: str,
    model: str,
    response_model: str,
    server_address: str,
    server_port: int,
    input_tokens: int,
    output_tokens: int,
    duration_s: float,
    ttft_s: float | None,
    error_type: str = "",
) -> None:
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": operation,
        "gen_ai.provider.name": "ollama",
        "gen_ai.request.model": model,
        "server.address": server_address,
        "server.port": server_port,
    }
    if response_model:
        attributes["gen_ai.response.model"] = response_model
    if error_type:
        attributes["error.type"] = error_type
    operation_duration.record(duration_s, attributes)
    if not error_type or input_tokens or output_tokens:
        token_usage.record(input_tokens, {**attributes, "gen_ai.token.type": "input"})
        token_usage.record(output_tokens, {**attributes, "gen_ai.token.type": "output"})
    if ttft_s is not None:
        time_to_first_token.record(ttft_s, attributes)
