"""Embeddings through the pipeline: the same admission, route, audit record and span as a chat."""

from collections.abc import Iterator
from typing import Any

from audit.models import AuditRecord
from common.errors import GatewayError
from gateway.backends.routing import Target
from gateway.pipeline.call import PipelineCall
from gateway.pipeline.types import Caller, CallMeta, EmbedRequest, EmbedResult, Usage
from gateway.upstream import client_for

FINAL_FIELDS = ("total_duration", "load_duration")


def embed(*, caller: Caller, request: EmbedRequest, meta: CallMeta | None = None) -> EmbedResult:
    call = PipelineCall(caller=caller, asked=request.asked(), meta=meta).begin()

    def attempt(target: Target) -> Iterator[Any]:
        yield client_for(target.backend, target.timeouts).embed(
            model=target.upstream_model,
            input=request.input,
            truncate=request.truncate,
            dimensions=request.dimensions,
            options=call.options or None,
            keep_alive=call.keep_alive,
        )

    try:
        (response,) = call.first_answer(attempt)
    except GatewayError as error:
        call.finish(AuditRecord.Status.FAILED, usage=Usage(), error=error)
        raise
    usage = Usage(response.prompt_eval_count or 0, 0)
    call.finish(AuditRecord.Status.SUCCEEDED, usage=usage, response_model=response.model or "")
    return EmbedResult(
        id=str(call.record_id),
        model=request.model,
        embeddings=[list(vector) for vector in response.embeddings],
        prompt_tokens=usage.prompt_tokens,
        latency_ms=call.elapsed_ms(),
        trace_id=call.trace_id,
        upstream_final={key: getattr(response, key, None) for key in FINAL_FIELDS},
    )
