"""Asynchronous completions: keep a job, run it (in a Celery task, through the same pipeline),
cancel it, call back.

A job is run at least once by Celery (acks_late) and finished exactly once: its row is locked while
an attempt claims it, a finished job is never run again, and an attempt that finds its predecessor's
audit record still open records that predecessor as interrupted.
"""

from collections.abc import Callable
from dataclasses import dataclass

import httpx
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import ApiToken
from accounts.selectors import token_standing
from audit.models import AuditRecord
from audit.services import audit_record_finalize
from common.errors import (
    GatewayError,
    InvalidRequest,
    LimitsUnavailable,
    RateLimited,
    Unauthenticated,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from gateway.callbacks import callback_send, callback_url_check
from gateway.completions.payloads import completion_payload
from gateway.models import Completion
from gateway.pipeline import Caller, CallMeta, ChatRequest, chat_complete
from gateway.pipeline.call import PipelineCall
from gateway.pipeline.chat import chat_call
from gateway.pipeline.types import every_so_often
from gateway.tracing.interrupted import export_interrupted_spans

# Worth another attempt later: the backend or a shared service was away or busy.
TRANSIENT = (UpstreamUnavailable, UpstreamTimeout, UpstreamError, RateLimited, LimitsUnavailable)
CANCEL_CHECK_SECONDS = 0.5


@dataclass(frozen=True)
class RunOutcome:
    completion: Completion
    transient_error: GatewayError | None = None


def completion_submit(
    *,
    caller: Caller,
    request_data: dict,
    idempotency_key: str = "",
    callback_url: str = "",
) -> tuple[Completion, bool]:
    """Keep a job for the queue (the caller sends it there: tasks.completion_enqueue); with an
    Idempotency-Key already used by this user, return that job instead.

    What would refuse the call now refuses the job now: a model the team may not use, an unknown
    model, a rate limit reached or a quota used up. Each attempt is admitted again when it runs."""
    if idempotency_key:
        existing = Completion.objects.filter(
            user=caller.user, idempotency_key=idempotency_key
        ).first()
        if existing is not None:
            return existing, False
    _pipeline_call(caller, request_data).vet()
    if callback_url:
        callback_url_check(callback_url)
        if caller.token is None or not caller.token.webhook_secret:
            raise InvalidRequest(
                "callback_url: callbacks are signed with the token's webhook secret, and this token "
                "has none; create a new token."
            )
    try:
        with transaction.atomic():
            completion = Completion.objects.create(
                user=caller.user,
                token=caller.token,
                team=caller.team,
                client_ip=caller.client_ip,
                user_agent=caller.user_agent,
                request=request_data,
                idempotency_key=idempotency_key,
                callback_url=callback_url,
            )
    except IntegrityError:
        # The same key arrived twice at once: the other request created the job.
        return Completion.objects.get(user=caller.user, idempotency_key=idempotency_key), False
    return completion, True


@transaction.atomic
def completion_cancel(*, completion: Completion) -> Completion:
    """A queued job is cancelled at once; a running one stops at its next chunk."""
    completion = Completion.objects.select_for_update().get(pk=completion.pk)
    if completion.status == Completion.Status.QUEUED:
        completion.status = Completion.Status.CANCELLED
        completion.cancel_requested = True
        completion.finished_at = timezone.now()
        completion.error = {"code": "cancelled", "message": "cancelled before it ran"}
        completion.save()
    elif completion.status == Completion.Status.RUNNING:
        completion.cancel_requested = True
        completion.save(update_fields=["cancel_requested"])
    return completion


def _claim(completion_id: str) -> Completion | None:
    """Mark the job running for this attempt, or None if there is nothing (left) to do."""
    with transaction.atomic():
        completion = Completion.objects.select_for_update().filter(id=completion_id).first()
        if completion is None or completion.status in Completion.FINAL:
            return None
        if completion.cancel_requested:
            completion.status = Completion.Status.CANCELLED
            completion.finished_at = timezone.now()
            completion.error = {"code": "cancelled", "message": "cancelled before it ran"}
            completion.save()
            return None
        if completion.audit_record_id:
            # A previous attempt opened its record and never closed it: its worker died.
            interrupted = completion.audit_record_id
            if audit_record_finalize(
                record_id=interrupted,
                status=AuditRecord.Status.INTERRUPTED,
                error_code="interrupted",
                error_message="the worker running this attempt stopped; the job was run again",
            ):
                transaction.on_commit(lambda: export_interrupted_spans([interrupted]))
        completion.status = Completion.Status.RUNNING
        completion.attempts += 1
        completion.started_at = completion.started_at or timezone.now()
        completion.audit_record_id = None
        completion.save()
        return completion


def _cancel_probe(completion_id) -> Callable[[], bool]:
    return every_so_often(
        lambda: Completion.objects.filter(id=completion_id, cancel_requested=True).exists(),
        CANCEL_CHECK_SECONDS,
    )


def _finish(completion: Completion, **fields) -> Completion:
    Completion.objects.filter(id=completion.id).update(finished_at=timezone.now(), **fields)
    completion.refresh_from_db()
    return completion


def _pipeline_call(caller: Caller, request_data: dict) -> PipelineCall:
    """The job's call as the pipeline sees it, for the refusals made outside a run."""
    return chat_call(
        caller=caller, request=ChatRequest.from_data({**request_data, "stream": False})
    )


def _standing_problem(completion: Completion, token: ApiToken | None) -> str | None:
    """Why the job's owner may not make this call now (read afresh before every attempt)."""
    if token is not None:
        return token_standing(token=token).problem(token)
    return None if completion.user.is_active else "the job's user is deactivated"


def completion_run(*, completion_id: str, final_attempt: bool) -> RunOutcome | None:
    """One attempt at a job. A transient failure with attempts left puts the job back in the queue
    and reports it, so the task can retry it later."""
    completion = _claim(completion_id)
    if completion is None:
        return None
    token = ApiToken.objects.select_related("user", "team").filter(pk=completion.token_id).first()
    caller = Caller(
        user=completion.user,
        surface=AuditRecord.Surface.ASYNC,
        team=completion.team,
        token=token,
        client_ip=completion.client_ip,
        user_agent=completion.user_agent,
    )
    problem = _standing_problem(completion, token)
    if problem:
        # Revoked, expired, deactivated or out of the team since it was queued: never run.
        refusal = Unauthenticated(f"the job was not run: {problem}")
        _pipeline_call(caller, completion.request).refuse(refusal)
        error = refusal.as_dict()["error"]
        return RunOutcome(_finish(completion, status=Completion.Status.FAILED, error=error))
    request: ChatRequest = ChatRequest.from_data({**completion.request, "stream": False})

    def remember(audit_id: str) -> None:
        Completion.objects.filter(id=completion.id).update(audit_record_id=audit_id)

    meta = CallMeta(on_open=remember, cancelled=_cancel_probe(completion.id))
    try:
        result = chat_complete(caller=caller, request=request, meta=meta)
    except GatewayError as error:
        if error.code == "cancelled":
            return RunOutcome(
                _finish(
                    completion, status=Completion.Status.CANCELLED, error=error.as_dict()["error"]
                )
            )
        if isinstance(error, TRANSIENT) and not final_attempt:
            Completion.objects.filter(id=completion.id).update(
                status=Completion.Status.QUEUED, error=error.as_dict()["error"]
            )
            completion.refresh_from_db()
            return RunOutcome(completion, transient_error=error)
        return RunOutcome(
            _finish(completion, status=Completion.Status.FAILED, error=error.as_dict()["error"])
        )
    return RunOutcome(
        _finish(
            completion,
            status=Completion.Status.SUCCEEDED,
            result=result.payload(),
            error=None,
        )
    )


def completion_callback_deliver(*, completion_id: str) -> bool:
    """POST the finished job to its callback URL; True when the receiver took it (2xx)."""
    completion = Completion.objects.select_related("token").filter(id=completion_id).first()
    if (
        completion is None
        or not completion.callback_url
        or completion.status not in Completion.FINAL
    ):
        return True
    try:
        status = callback_send(
            url=completion.callback_url,
            secret=completion.token.webhook_secret,
            payload=completion_payload(completion),
            completion_id=str(completion.id),
        )
    except (httpx.HTTPError, GatewayError) as exc:
        outcome = f"failed: {exc.__class__.__name__}"
        delivered = False
    else:
        delivered = 200 <= status < 300
        outcome = f"HTTP {status}"
    Completion.objects.filter(id=completion.id).update(
        callback_status=f"{'delivered' if delivered else outcome} at {timezone.now().isoformat()}"
    )
    return delivered
