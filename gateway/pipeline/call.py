"""The lifecycle every call shares, whatever its operation and door: admit (limits), resolve the
route, open the audit record and the GenAI span, and finalize both exactly once."""

import contextlib
import hashlib
import logging
import time
from typing import Any

from django.db import InterfaceError, OperationalError, connection
from django.utils import timezone

from accounts.limits import Admission, limits_acquire, limits_check, limits_settle, scopes_for
from audit.models import AuditRecord
from audit.services import audit_record_finalize, audit_record_open
from audit.spool import finalization_spool
from common.database_errors import database_error
from common.errors import (
    Cancelled,
    ClientDisconnected,
    DatabaseBusy,
    DatabaseUnavailable,
    GatewayError,
    LimitsUnavailable,
    ModelForbidden,
    ModelNotFound,
    QuotaExceeded,
    RateLimited,
    UpstreamUnavailable,
)
from common.ids import uuid7
from common.redaction import redact, redact_messages, redact_value
from gateway.backends.routing import Target, route_plan
from gateway.models import ModelRoute
from gateway.pipeline.budget import output_tokens_cap, prompt_tokens_estimate
from gateway.pipeline.failover import Failover, count_failure, failed_attempt
from gateway.pipeline.options import keep_alive_for, route_options, with_system_prompt
from gateway.pipeline.types import Asked, Caller, CallMeta, Usage
from gateway.services import route_for_call
from gateway.tracing import genai

logger = logging.getLogger(__name__)


def release_db_connection() -> None:
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


def _duration_text(value: str | float | None) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 0.0 as clients' JSON has it: "0", as Ollama's docs write it
    return "" if value is None else str(value)


# Refused before any model is asked: written as a final `refused` record, never served.
REFUSALS = (ModelNotFound, ModelForbidden, RateLimited, QuotaExceeded, LimitsUnavailable)


class PipelineCall(Failover):
    """One call's bookkeeping. `begin()` runs steps 1-4 of the pipeline; `finish()` step 6."""

    def __init__(self, *, caller: Caller, asked: Asked, meta: CallMeta | None = None) -> None:
        self.caller = caller
        self.asked = asked
        self.meta = meta
        self.record_id = uuid7()
        self.started = time.monotonic()
        self.finished = False
        # What the route makes of the request (its options, system prompt and keep-alive cap);
        # until begin() resolves the route, what was asked: a refused call is recorded with it.
        self.route: ModelRoute | None = None
        self.options = asked.options
        self.messages = asked.messages
        self.keep_alive = asked.keep_alive
        self.scopes: list = []
        self.prompt_estimate = 0
        self.admission = Admission()
        # The backends to try, the one being tried, and what each failed attempt said.
        self.plan: list[Target] = []
        self.target: Target | None = None
        self.attempts: list[dict[str, Any]] = []
        self.server_address, self.server_port = "", 0
        self._inflight_on: int | None = None
        # The span and the record's trace, from the moment the record is opened.
        self.span = None
        self.trace_id = ""
        self.capture = False

    def begin(self) -> "PipelineCall":
        caller = self.caller
        asked = self.asked
        self.scopes = scopes_for(user=caller.user, token=caller.token, team=caller.team)
        self.prompt_estimate = prompt_tokens_estimate(asked.messages, asked.tools)
        try:
            self.route = route_for_call(team=caller.team, model=asked.model)
            self.options = route_options(self.route, asked.options)
            self.messages = with_system_prompt(self.route, asked.operation, asked.messages)
            self.keep_alive = keep_alive_for(self.route, asked.keep_alive)
            reserve = self.prompt_estimate + output_tokens_cap(
                self.route, self.options, asked.operation
            )
            self.admission = limits_acquire(scopes=self.scopes, reserve=reserve)
        except (*REFUSALS, UpstreamUnavailable) as refusal:  # (no backend answers a first start)
            self.refuse(refusal)
            raise
        if self.meta is not None:
            self.meta.rate = self.admission.rate
        unroutable = None
        try:
            self.plan = route_plan(self.route)
        except UpstreamUnavailable as exc:  # every backend is out: still a call, still audited
            self.plan, unroutable = [], exc
        self.target = self.plan[0] if self.plan else None
        self.server_address, self.server_port = (
            self.target.backend.address if self.target else ("", 0)
        )
        self._open_record()
        if self.meta is not None and self.meta.on_open is not None:
            self.meta.on_open(str(self.record_id))
        if unroutable is not None:
            self.finish(AuditRecord.Status.FAILED, usage=Usage(), error=unroutable)
            raise unroutable
        release_db_connection()
        return self

    def _open_record(self, refused: GatewayError | None = None) -> None:
        """Start the span and write the audit record (final at once for a refused call)."""
        caller = self.caller
        self.capture = genai.capture_content(caller.team)
        # What is stored and exported is redacted; what goes to the model is what the caller sent.
        kept_messages = redact_messages(self.messages)
        asked = self.asked
        # The call as the span and the record both describe it, said once.
        described = {
            "operation": asked.operation,
            "model": asked.model,
            "stream": asked.stream,
            "options": self.options,
            "token_prefix": caller.token_prefix,
            "conversation_id": asked.conversation_id,
        }
        self.span = genai.start_span(
            **described,
            messages=kept_messages,
            capture=self.capture,
            server_address=self.server_address,
            server_port=self.server_port,
            audit_id=str(self.record_id),
            username=caller.user.get_username(),
            team=caller.team.slug if caller.team else "",
        )
        context = self.span.get_span_context()
        self.trace_id = format(context.trace_id, "032x") if context.is_valid else ""
        target = self.target
        try:
            audit_record_open(
                **described,
                messages=_audit_messages(kept_messages),
                record_id=self.record_id,
                started_at=timezone.now(),
                user=caller.user,
                team=caller.team,
                client_ip=caller.client_ip,
                user_agent=redact(caller.user_agent),
                surface=caller.surface,
                upstream_model=target.upstream_model if target else "",
                backend_id=target.backend.pk if target else None,
                backend_name=target.backend.name if target else "",
                think=asked.think,
                keep_alive=_duration_text(self.keep_alive),
                tool_choice=asked.tool_choice,
                request_format=asked.format,
                tools=asked.tools,
                metadata=redact_value(asked.metadata),
                trace_id=self.trace_id,
                span_id=format(context.span_id, "016x") if context.is_valid else "",
                refused=(refused.code, refused.message) if refused else None,
            )
        except (OperationalError, InterfaceError) as exc:
            # Never serve a call that has no audit record.
            error = database_error(
                exc,
                "the audit trail cannot be written right now (database unavailable); "
                "the call was not made, try again shortly",
            )
            genai.end_span(self.span, error_type=error.code, error_message=error.message)
            raise error from exc
        except BaseException as exc:
            genai.end_span(self.span, error_type=type(exc).__name__, exception=exc)
            raise

    def vet(self) -> None:
        """Make the refusals begin() would make, counting nothing: for work accepted now and run
        later (each run is admitted on its own). A refusal is recorded like begin()'s."""
        caller = self.caller
        try:
            route_for_call(team=caller.team, model=self.asked.model)
            limits_check(scopes=scopes_for(user=caller.user, token=caller.token, team=caller.team))
        except (*REFUSALS, UpstreamUnavailable) as refusal:
            self.refuse(refusal)
            raise

    def refuse(self, refusal: GatewayError) -> None:
        """A call refused before any model was asked: one final record and its span, so an auditor
        sees who tried what; nothing is charged."""
        self.finished = True
        try:
            self._open_record(refused=refusal)
        except (DatabaseUnavailable, DatabaseBusy):
            # The refusal stands; only its record could not be written (logged, span exported).
            logger.error("the refused call %s has no audit record: database away", self.record_id)
            return
        genai.end_span(
            self.span,
            error_type=refusal.code,
            error_message=refusal.message,
            exception=refusal,
        )
        release_db_connection()

    @property
    def upstream_model(self) -> str:
        return self.target.upstream_model

    def elapsed_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)

    def finish(
        self,
        status: str,
        *,
        usage: Usage,
        completion: str = "",
        thinking: str = "",
        tool_calls: list | None = None,
        finish_reason: str = "",
        response_model: str = "",
        ttft_ms: int | None = None,
        error: GatewayError | None = None,
    ) -> None:
        """Record the outcome once: quota, audit record, metrics and span (the span ends even when
        the database does not answer: a span is never left open)."""
        if self.finished:
            return
        self.finished = True
        self._leave_backend()
        text = redact(completion)
        target = self.target
        response_model = response_model or (target.upstream_model if target else "")
        if target is not None:
            if error is None or isinstance(error, ClientDisconnected | Cancelled):
                self.attempts.append({"backend": target.backend.name, "outcome": "served"})
            else:
                self.attempts.append(failed_attempt(target, error, self.elapsed_ms()))
                count_failure(target, error)
        limits_settle(scopes=self.scopes, admission=self.admission, tokens=usage.total_tokens)
        try:
            written = self._record_outcome(
                {
                    "status": status,
                    "completion": text,
                    "thinking": redact(thinking),
                    "tool_calls": redact_value(tool_calls) or None,
                    "finish_reason": finish_reason,
                    "error_code": error.code if error else "",
                    "error_message": error.message if error else "",
                    "prompt_tokens": usage.prompt_tokens,
                    "completion_tokens": usage.completion_tokens,
                    "latency_ms": self.elapsed_ms(),
                    "ttft_ms": ttft_ms,
                    "upstream_model": target.upstream_model if target else "",
                    "upstream_attempts": self.attempts,
                }
            )
            if written and self.meta is not None and self.meta.on_finish is not None:
                try:
                    self.meta.on_finish(status, completion, error, thinking)
                except Exception:  # the audit record is final; a side copy must not fail the call
                    logger.exception("on_finish of call %s failed", self.record_id)
            if written:
                release_db_connection()
        finally:
            genai.record_metrics(
                operation=self.asked.operation,
                model=self.asked.model,
                response_model=response_model,
                server_address=self.server_address,
                server_port=self.server_port,
                input_tokens=usage.prompt_tokens,
                output_tokens=usage.completion_tokens,
                duration_s=time.monotonic() - self.started,
                ttft_s=ttft_ms / 1000 if ttft_ms is not None else None,
                error_type=error.code if error else "",
            )
            genai.end_span(
                self.span,
                response_model=response_model,
                completion=text if self.asked.operation != "embeddings" else None,
                capture=self.capture,
                finish_reason=finish_reason,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                error_type=error.code if error else "",
                error_message=error.message if error else "",
                exception=error,
                upstream=self._upstream_attributes(),
            )

    def _record_outcome(self, outcome: dict[str, Any]) -> bool:
        """Finalize the audit record. False when the database went away during the call: the
        outcome then waits in Redis for the replay task."""
        backend = self.target.backend if self.target else None
        served = {"backend_id": backend.pk, "backend_name": backend.name} if backend else {}
        try:
            audit_record_finalize(record_id=self.record_id, **served, **outcome)
        except (OperationalError, InterfaceError):
            with contextlib.suppress(OperationalError, InterfaceError):
                connection.close()
            finalization_spool(
                record_id=str(self.record_id), finished_at=timezone.now(), **served, **outcome
            )
            return False
        return True

    def _upstream_attributes(self) -> dict[str, Any]:
        if self.target is None:
            return {}
        return {
            "server.address": self.server_address,
            "server.port": self.server_port,
            "corral.backend": self.target.backend.name,
            "corral.backends_tried": [attempt["backend"] for attempt in self.attempts],
        }
