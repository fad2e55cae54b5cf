"""Embeddings through the pipeline: the same admission, route, audit record and span as a chat."""

from audit.models import AuditRecord
from gateway.pipeline.call import PipelineCall
from gateway.pipeline.types import Caller, CallMeta, EmbedRequest, EmbedResult, Usage
from gateway.upstream import client_for, translate_error

FINAL_FIELDS = ("total_duration", "load_duration")


def embed(*, caller: Caller, request: EmbedRequest, meta: CallMeta | None = None) -> EmbedResult:
    call = PipelineCall(caller=caller, asked=request.asked(), meta=meta).begin()
    for target in call.targets():
        try:
            response = client_for(target.backend, target.timeouts).embed(
                model=target.upstream_model,
                input=request.input,
                truncate=request.truncate,
                dimensions=request.dimensions,
                options=call.options or None,
                keep_alive=call.keep_alive,
            )
            break
        except Exception as exc:
            error = translate_error(exc, target.backend, target.upstream_model)
            if call.fails_over(error):
                continue
            call.finish(AuditRecord.Status.FAILED, usage=Usage(), error=error)
            raise error from exc
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
