"""The one pipeline every chat call goes through, whatever door it came in by.

authorize -> resolve the route -> open the audit record and the GenAI span -> call Ollama (always
streamed upstream, so time to first token, idle and total timeouts mean the same for every call)
-> finalize the record and the span, whatever happened, exactly once.
"""

import hashlib
import time
from collections.abc import Iterator
from typing import Any

from django.db import connection
from django.utils import timezone

from accounts.limits import limits_acquire, limits_charge, scopes_for
from audit.models import AuditRecord, uuid7
from audit.services import audit_record_finalize, audit_record_open
from gateway.errors import (
    Cancelled,
    ClientDisconnected,
    GatewayError,
    UpstreamError,
    UpstreamTimeout,
)
from gateway.pipeline.types import Caller, CallMeta, ChatRequest, ChatResult, Delta, Usage
from gateway.redaction import redact, redact_messages
from gateway.selectors import route_get_for_team
from gateway.tracing import genai
from gateway.upstream import client_for, translate_error


def _release_db_connection() -> None:
    # Give the connection back (to the pool on PostgreSQL) while we wait on the model: a stream can
    # last minutes and hundreds of them must not hold hundreds of database connections.
    if not connection.in_atomic_block:
        connection.close()


def _audit_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Messages as the audit trail keeps them: images by digest and size, not their bytes."""
    kept = []
    for message in messages:
        images = message.get("images")
        if images:
            message = {
                **message,
                "images": [
                    f"sha256:{hashlib.sha256(image.encode()).hexdigest()} ({len(image)} b64 chars)"
                    for image in images
                ],
            }
        kept.append(message)
    return kept


def _elapsed_ms(since: float) -> int:
    return int((time.monotonic() - since) * 1000)


def _tool_calls(message: Any) -> list[dict[str, Any]]:
    return [call.model_dump(exclude_none=True) for call in message.tool_calls or []]


def chat_stream(
    *, caller: Caller, request: ChatRequest, meta: CallMeta | None = None
) -> Iterator[Delta | ChatResult]:
    """Run one chat call. Yields Deltas as the answer arrives, then exactly one ChatResult.

    Errors raise GatewayError. Nothing runs until the first next(), so a surface primes the
    generator to turn errors that happen before the first byte into a plain HTTP error; closing
    the generator early (client gone) stops the upstream request and records the disconnect.
    """
    scopes = scopes_for(user=caller.user, token=caller.token, team=caller.team)
    rate = limits_acquire(scopes=scopes)
    if meta is not None:
        meta.rate = rate
    route = route_get_for_team(team=caller.team, model=request.model)
    backend = route.backend
    options = {**route.default_options, **request.options}
    record_id = uuid7()
    server_address, server_port = backend.address
    capture = genai.capture_content(caller.team)
    # What is stored and exported is redacted; what goes to the model is what the caller sent.
    kept_messages = redact_messages(request.messages)
    span = genai.start_span(
        operation="chat",
        model=request.model,
        stream=request.stream,
        options=options,
        messages=kept_messages,
        capture=capture,
        server_address=server_address,
        server_port=server_port,
        audit_id=str(record_id),
        username=caller.user.get_username(),
        team=caller.team.slug if caller.team else "",
        token_prefix=caller.token_prefix,
        conversation_id=request.conversation_id,
    )
    span_context = span.get_span_context()
    trace_id = format(span_context.trace_id, "032x") if span_context.is_valid else ""
    started = time.monotonic()
    try:
        audit_record_open(
            record_id=record_id,
            started_at=timezone.now(),
            user=caller.user,
            team=caller.team,
            token_prefix=caller.token_prefix,
            client_ip=caller.client_ip,
            user_agent=caller.user_agent,
            surface=caller.surface,
            operation=AuditRecord.Operation.CHAT,
            model=request.model,
            upstream_model=route.upstream_model,
            backend=backend,
            stream=request.stream,
            options=options,
            request_format=request.format,
            tools=request.tools,
            messages=_audit_messages(kept_messages),
            metadata=request.metadata,
            conversation_id=request.conversation_id,
            trace_id=trace_id,
            span_id=format(span_context.span_id, "016x") if span_context.is_valid else "",
        )
    except BaseException as exc:
        genai.end_span(span, error_type=type(exc).__name__, exception=exc)
        raise
    if meta is not None and meta.on_open is not None:
        meta.on_open(str(record_id))
    _release_db_connection()

    content: list[str] = []
    thinking: list[str] = []
    tool_calls: list[dict[str, Any]] = []
    chunks_seen = 0
    ttft_ms: int | None = None
    finished = False
    upstream = None

    def finish(status: str, *, error: GatewayError | None = None, final: Any = None) -> Usage:
        nonlocal finished
        finished = True
        if final is not None:
            usage = Usage(final.prompt_eval_count or 0, final.eval_count or 0)
        else:
            # Ollama reports counts only in its final chunk; until then each chunk is one token.
            usage = Usage(0, chunks_seen)
        finish_reason = (final.done_reason or "stop") if final is not None else ""
        text = redact("".join(content))
        limits_charge(scopes=scopes, tokens=usage.total_tokens)
        try:
            audit_record_finalize(
                record_id=record_id,
                status=status,
                completion=text,
                tool_calls=tool_calls or None,
                finish_reason=finish_reason,
                error_code=error.code if error else "",
                error_message=error.message if error else "",
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                latency_ms=_elapsed_ms(started),
                ttft_ms=ttft_ms,
            )
            _release_db_connection()
        finally:
            response_model = (final.model if final is not None else "") or route.upstream_model
            genai.record_metrics(
                operation="chat",
                model=request.model,
                response_model=response_model,
                server_address=server_address,
                server_port=server_port,
                input_tokens=usage.prompt_tokens,
                output_tokens=usage.completion_tokens,
                duration_s=time.monotonic() - started,
                ttft_s=ttft_ms / 1000 if ttft_ms is not None else None,
                error_type=error.code if error else "",
            )
            # The span ends even when the database does not answer: a span is never left open.
            genai.end_span(
                span,
                response_model=response_model,
                completion=text,
                capture=capture,
                finish_reason=finish_reason,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                error_type=error.code if error else "",
                error_message=error.message if error else "",
                exception=error,
            )
        return usage

    try:
        final = None
        try:
            upstream = client_for(backend).chat(
                model=route.upstream_model,
                messages=request.messages,
                tools=request.tools,
                stream=True,
                format=request.format,
                options=options or None,
                keep_alive=request.keep_alive,
            )
            for part in upstream:
                if meta is not None and meta.cancelled is not None and meta.cancelled():
                    raise Cancelled("the completion was cancelled while it ran")
                if time.monotonic() - started > backend.total_timeout:
                    raise UpstreamTimeout(
                        f"backend '{backend.name}' did not finish within {backend.total_timeout:g} s"
                    )
                message = part.message
                delta = Delta(
                    content=message.content or "",
                    thinking=message.thinking or "",
                    tool_calls=_tool_calls(message) or None,
                )
                if delta.content or delta.thinking or delta.tool_calls:
                    if ttft_ms is None:
                        ttft_ms = _elapsed_ms(started)
                    chunks_seen += 1
                    content.append(delta.content)
                    thinking.append(delta.thinking)
                    tool_calls.extend(delta.tool_calls or [])
                    yield delta
                if part.done:
                    final = part
                    break
            if final is None:
                raise UpstreamError(f"backend '{backend.name}' ended the answer before it was done")
        except GeneratorExit:
            raise
        except Exception as exc:
            error = translate_error(exc, backend, route.upstream_model)
            status = AuditRecord.Status.FAILED
            if isinstance(error, Cancelled):
                status = AuditRecord.Status.CANCELLED
            finish(status, error=error)
            raise error from exc

        usage = finish(AuditRecord.Status.SUCCEEDED, final=final)
        yield ChatResult(
            id=str(record_id),
            model=request.model,
            upstream_model=final.model or route.upstream_model,
            content="".join(content),
            thinking="".join(thinking),
            tool_calls=tool_calls or None,
            done_reason=final.done_reason or "stop",
            usage=usage,
            latency_ms=_elapsed_ms(started),
            ttft_ms=ttft_ms,
            trace_id=trace_id,
        )
    except GeneratorExit:
        if not finished:
            finish(
                AuditRecord.Status.CLIENT_DISCONNECTED,
                error=ClientDisconnected("the client went away before the answer was complete"),
            )
        raise
    finally:
        if upstream is not None:
            # Closing the client's generator closes the HTTP response: Ollama stops generating.
            upstream.close()


def chat_complete(
    *, caller: Caller, request: ChatRequest, meta: CallMeta | None = None
) -> ChatResult:
    """The non-streaming form: run the same pipeline to its end and return the result."""
    events = chat_stream(caller=caller, request=request, meta=meta)
    try:
        for event in events:
            if isinstance(event, ChatResult):
                return event
    finally:
        events.close()
    raise UpstreamError(
        "the call ended without a result"
    )  # pragma: no cover - chat_stream yields one
