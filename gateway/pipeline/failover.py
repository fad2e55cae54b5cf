"""Trying a call's backends in turn: each target of the route's plan is asked until one answers,
and a target that fails hands the call on only while nothing has reached the caller and only for
what another backend may not share."""

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from common.errors import (
    GatewayError,
    ModelNotFound,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gateway.backends.circuit import failure_record, inflight_enter, inflight_leave
from gateway.backends.routing import Target
from gateway.tracing import genai
from gateway.upstream import translate_error

T = TypeVar("T")


def failed_attempt(target: Target, error: GatewayError, at_ms: int) -> dict[str, Any]:
    return {
        "backend": target.backend.name,
        "outcome": "failed",
        "error_code": error.code,
        "error": error.message,
        "at_ms": at_ms,
    }


def count_failure(target: Target, error: GatewayError) -> None:
    # Only the backend's own faults (see gateway.upstream.backend_fault): busy, a missing model and
    # a bad request are the backend answering.
    if getattr(error, "backend_fault", False):
        backend = target.backend
        failure_record(backend_id=backend.pk, backend_name=backend.name, reason=error.message)


class Failover:
    """The part of a PipelineCall that walks its plan (`plan`, `target`, `attempts`, `span` and
    `elapsed_ms()` are the call's)."""

    plan: list[Target]
    target: Target | None
    attempts: list[dict[str, Any]]
    _inflight_on: int | None

    def first_answer(
        self,
        attempt: Callable[[Target], Iterator[T]],
        *,
        reached_caller: Callable[[], bool] = lambda: False,
    ) -> Iterator[T]:
        """What `attempt(target)` yields, from the first target that answers. When a target
        fails, the call goes on to the next one if fails_over() allows; otherwise the error, in
        the contract's terms, is raised (the caller records it)."""
        for target in self.targets():
            try:
                yield from attempt(target)
                return
            except Exception as exc:
                error = translate_error(
                    exc, target.backend, target.upstream_model, timeouts=target.timeouts
                )
                if self.fails_over(error, answered_caller=reached_caller()):
                    continue
                if error is exc:
                    raise
                raise error from exc

    def targets(self) -> Iterator[Target]:
        """The backends to try in order; each one becomes the call's target while it is tried."""
        for target in self.plan:
            self._leave_backend()
            self.target = target
            self.server_address, self.server_port = target.backend.address
            inflight_enter(backend_id=target.backend.pk)
            self._inflight_on = target.backend.pk
            yield target

    def _leave_backend(self) -> None:
        if self._inflight_on is not None:
            inflight_leave(backend_id=self._inflight_on)
            self._inflight_on = None

    def fails_over(self, error: GatewayError, *, answered_caller: bool = False) -> bool:
        """After the target failed: True when the call goes on to the next target, the failure
        noted for the record, the span and the breaker; False when the error is the call's. Only
        before anything reached the caller, and only for what another backend may not share:
        unreachable, busy, timed out, failing, or without the model."""
        if (
            answered_caller
            or self.target is self.plan[-1]
            or not isinstance(
                error, UpstreamUnavailable | UpstreamTimeout | UpstreamError | ModelNotFound
            )
        ):
            return False
        self.attempts.append(failed_attempt(self.target, error, self.elapsed_ms()))
        genai.record_failover(
            self.span,
            backend=self.target.backend.name,
            error_type=error.code,
            error_message=error.message,
        )
        count_failure(self.target, error)
        return True
