"""Generation through the pipeline: chat and generate, streamed upstream always (so time to first
token, idle and total timeouts mean the same for every call), relayed as Deltas, ending in one
ChatResult. Closing the generator early (client gone) stops the upstream request."""

import base64
import binascii
import time
from collections.abc import Callable, Iterator
from typing import Any

import pydantic

from audit.models import AuditRecord
from common.errors import (
    Cancelled,
    ClientDisconnected,
    GatewayError,
    InvalidRequest,
    UpstreamError,
    UpstreamTimeout,
)
from gateway.backends.routing import Target
from gateway.pipeline.call import PipelineCall
from gateway.pipeline.types import (
    Caller,
    CallMeta,
    ChatRequest,
    ChatResult,
    Delta,
    GenerateRequest,
    Usage,
)
from gateway.upstream import backend_fault, client_for, translate_error

FINAL_FIELDS = (
    "created_at",
    "total_duration",
    "load_duration",
    "prompt_eval_duration",
    "eval_duration",
)


def image_bytes(images: list[str]) -> list[bytes]:
    """Images as bytes for Ollama's client: it would read a string that names a file on this
    machine as that file (the doors check that images are base64)."""
    try:
        return [base64.b64decode(image, validate=True) for image in images]
    except (binascii.Error, ValueError):
        raise InvalidRequest("images: must be base64 data.") from None


def _wire_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {**message, "images": image_bytes(message["images"])} if message.get("images") else message
        for message in messages
    ]


def _tool_calls(message: Any) -> list[dict[str, Any]]:
    return [call.model_dump(exclude_none=True) for call in message.tool_calls or []]


def _chat_delta(part: Any) -> Delta:
    message = part.message
    return Delta(
        content=message.content or "",
        thinking=message.thinking or "",
        tool_calls=_tool_calls(message) or None,
    )


def _generate_delta(part: Any) -> Delta:
    return Delta(content=part.response or "", thinking=part.thinking or "")


class _Answer:
    """What has come of the answer so far, across the backends tried."""

    def __init__(self, call: PipelineCall) -> None:
        self.call = call
        self.content: list[str] = []
        self.thinking: list[str] = []
        self.tool_calls: list[dict[str, Any]] = []
        self.chunks = 0
        self.ttft_ms: int | None = None
        self.final: Any = None
        self.stopped = False

    def add(self, delta: Delta) -> None:
        if self.ttft_ms is None:
            self.ttft_ms = self.call.elapsed_ms()
        self.chunks += 1
        self.content.append(delta.content)
        self.thinking.append(delta.thinking)
        self.tool_calls.extend(delta.tool_calls or [])

    def usage(self) -> Usage:
        if self.final is not None:
            return Usage(self.final.prompt_eval_count or 0, self.final.eval_count or 0)
        # Ollama reports counts only in its final chunk. A call that stops before it is charged
        # the prompt it sent (counted locally) and a token for each chunk it got.
        return Usage(self.call.prompt_estimate if self.chunks else 0, self.chunks)

    def so_far(self) -> dict[str, Any]:
        """The answer as the call's finish() records it."""
        return {
            "usage": self.usage(),
            "completion": "".join(self.content),
            "thinking": "".join(self.thinking),
            "tool_calls": self.tool_calls,
            "ttft_ms": self.ttft_ms,
        }


def _generation(
    call: PipelineCall,
    open_upstream: Callable[[Any, str], Iterator[Any]],
    delta_of: Callable[[Any], Delta],
) -> Iterator[Delta | ChatResult]:
    call.begin()
    meta = call.meta
    answer = _Answer(call)

    def attempt(target: Target) -> Iterator[Delta]:
        backend, limits = target.backend, target.timeouts
        answering = False
        try:
            try:
                upstream = open_upstream(client_for(backend, limits), target.upstream_model)
            except (pydantic.ValidationError, ValueError, TypeError) as exc:
                # Ollama's client refused to build the request: nothing was sent, the backend is
                # not at fault.
                raise InvalidRequest(f"the request cannot be sent to Ollama: {exc}") from exc
            try:
                for part in upstream:
                    answering = True
                    if answer.final is not None:
                        # Read on to the end of the body after the final chunk, so the keep-alive
                        # connection goes back to the pool instead of being closed.
                        continue
                    if meta is not None and meta.cancelled is not None and meta.cancelled():
                        raise Cancelled("the completion was cancelled while it ran")
                    if meta is not None and meta.stopped is not None and meta.stopped():
                        answer.stopped = True
                        return
                    if time.monotonic() - call.started > limits.total:
                        raise backend_fault(
                            UpstreamTimeout(
                                f"backend '{backend.name}' did not finish within {limits.total:g} s"
                            )
                        )
                    delta = delta_of(part)
                    if delta.content or delta.thinking or delta.tool_calls:
                        answer.add(delta)
                        yield delta
                    if part.done:
                        answer.final = part
            finally:
                # Closing the client's generator closes the HTTP response: Ollama stops
                # generating (a stop, a failure, the caller gone).
                upstream.close()
            if answer.final is None:
                raise backend_fault(
                    UpstreamError(f"backend '{backend.name}' ended the answer before it was done")
                )
        except Exception as exc:
            error = translate_error(
                exc, backend, target.upstream_model, timeouts=limits, answering=answering
            )
            if error is exc:
                raise
            raise error from exc

    try:
        try:
            # Once a byte reached the caller the answer is theirs: no silent retry elsewhere.
            yield from call.first_answer(attempt, reached_caller=lambda: answer.chunks > 0)
        except GatewayError as error:
            status = AuditRecord.Status.FAILED
            if isinstance(error, Cancelled):
                status = AuditRecord.Status.CANCELLED
            call.finish(status, **answer.so_far(), error=error)
            raise
        final = answer.final
        # A stopped answer is what came so far, charged as far as it got (no final chunk).
        status = AuditRecord.Status.STOPPED if answer.stopped else AuditRecord.Status.SUCCEEDED
        done_reason = "stopped" if answer.stopped else final.done_reason or "stop"
        response_model = (final.model or "") if final is not None else ""
        recorded = answer.so_far()
        call.finish(status, **recorded, finish_reason=done_reason, response_model=response_model)
        yield ChatResult(
            id=str(call.record_id),
            model=call.asked.model,
            upstream_model=response_model or call.upstream_model,
            content=recorded["completion"],
            thinking=recorded["thinking"],
            tool_calls=recorded["tool_calls"] or None,
            done_reason=done_reason,
            usage=recorded["usage"],
            latency_ms=call.elapsed_ms(),
            ttft_ms=answer.ttft_ms,
            trace_id=call.trace_id,
            upstream_final={key: getattr(final, key, None) for key in FINAL_FIELDS}
            if final is not None
            else {},
        )
    except GeneratorExit:
        if not call.finished:
            call.finish(
                AuditRecord.Status.CLIENT_DISCONNECTED,
                **answer.so_far(),
                error=ClientDisconnected("the client went away before the answer was complete"),
            )
        raise


def chat_call(
    *, caller: Caller, request: ChatRequest, meta: CallMeta | None = None
) -> PipelineCall:
    """The pipeline's bookkeeping of one chat request (made, refused or vetted)."""
    return PipelineCall(caller=caller, asked=request.asked(), meta=meta)


def chat_stream(
    *, caller: Caller, request: ChatRequest, meta: CallMeta | None = None
) -> Iterator[Delta | ChatResult]:
    """Run one chat call. Yields Deltas as the answer arrives, then exactly one ChatResult.

    Errors raise GatewayError. Nothing runs until the first next(), so a surface primes the
    generator to turn errors that happen before the first byte into a plain HTTP error."""
    call = chat_call(caller=caller, request=request, meta=meta)

    def open_upstream(client, upstream_model):
        return client.chat(
            model=upstream_model,
            messages=_wire_messages(call.messages),
            tools=request.tools,
            stream=True,
            format=request.format,
            options=call.options or None,
            keep_alive=call.keep_alive,
            think=request.think,
        )

    return _generation(call, open_upstream, _chat_delta)


def generate_stream(
    *, caller: Caller, request: GenerateRequest, meta: CallMeta | None = None
) -> Iterator[Delta | ChatResult]:
    """Ollama's /api/generate through the pipeline (a completion rather than a chat)."""
    call = PipelineCall(caller=caller, asked=request.asked(), meta=meta)

    def open_upstream(client, upstream_model):
        return client.generate(
            model=upstream_model,
            prompt=request.prompt,
            suffix=request.suffix,
            system=request.system
            if request.system is not None
            else call.route.system_prompt or None,
            template=request.template,
            raw=request.raw,
            images=image_bytes(request.images) if request.images else None,
            think=request.think,
            stream=True,
            format=request.format,
            options=call.options or None,
            keep_alive=call.keep_alive,
        )

    return _generation(call, open_upstream, _generate_delta)


def complete(events: Iterator[Delta | ChatResult]) -> ChatResult:
    """Run a generation to its end and return its result (the non-streaming form)."""
    try:
        for event in events:
            if isinstance(event, ChatResult):
                return event
    finally:
        events.close()
    raise UpstreamError("the call ended without a result")  # pragma: no cover


def chat_complete(
    *, caller: Caller, request: ChatRequest, meta: CallMeta | None = None
) -> ChatResult:
    return complete(chat_stream(caller=caller, request=request, meta=meta))
