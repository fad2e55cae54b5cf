"""The only write paths of the audit trail: open a record when a call starts, finalize it once;
and the verifications of its chain asked for in the admin."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.db import OperationalError, connections, router, transaction
from django.utils import timezone

from audit.chain import audit_chain_verify
from audit.grouped import Grouped
from audit.models import AuditRecord, ChainVerification
from audit.statements import insert_rows, row_params, update_many, update_params, update_rows

logger = logging.getLogger(__name__)

_COLUMNS = len(AuditRecord._meta.concrete_fields)


def _insert_records(alias: str, rows: list[list]) -> list[None]:
    insert_rows(AuditRecord, rows, alias)
    return [None] * len(rows)


_opening = Grouped(_insert_records, width=_COLUMNS)
# The finalizing UPDATEs, one queue per set of columns (a call that reached a backend names it).
_finalizing: dict[tuple[str, ...], Grouped] = {}
_FINAL_WHERE = ("id", "status")

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser

    from accounts.models import Team


def audit_record_open(
    *,
    record_id: uuid.UUID,
    started_at: datetime,
    user: AbstractBaseUser,
    team: Team | None,
    token_prefix: str,
    client_ip: str | None,
    user_agent: str,
    surface: str,
    operation: str,
    model: str,
    upstream_model: str,
    backend_id: int | None,
    backend_name: str,
    stream: bool,
    options: dict,
    think: bool | str | None = None,
    keep_alive: str = "",
    tool_choice: str | dict | None = None,
    request_format: str | dict | None,
    tools: list | None,
    messages: list,
    metadata: dict,
    conversation_id: str,
    trace_id: str,
    span_id: str,
    refused: tuple[str, str] | None = None,
) -> None:
    """The record of a call as it starts; `refused` (error code, message) writes instead the final
    record of a call refused before it reached a model. One INSERT built once (audit.statements),
    shared with the calls of this process opening theirs at the same moment (audit.grouped):
    this runs on every call."""
    outcome = {}
    if refused is not None:
        outcome = {
            "status": AuditRecord.Status.REFUSED,
            "finished_at": started_at,
            "error_code": refused[0],
            "error_message": refused[1][:4000],
            "latency_ms": 0,
        }
    alias = router.db_for_write(AuditRecord)
    values = {
        **outcome,
        "id": record_id,
        "started_at": started_at,
        "user_id": user.pk,
        "username": user.get_username(),
        "team_id": team.pk if team else None,
        "team_slug": team.slug if team else "",
        "token_prefix": token_prefix,
        "client_ip": client_ip,
        "user_agent": user_agent[:512],
        "surface": surface,
        "operation": operation,
        # the doors bound it; a refused call's record must never fail on it
        "model": model[:200],
        "upstream_model": upstream_model[:200],
        "backend_id": backend_id,
        "backend_name": backend_name,
        "stream": stream,
        "options": options,
        "think": think,
        "keep_alive": keep_alive[:32],
        "tool_choice": tool_choice,
        "request_format": request_format,
        "tools": tools,
        "messages": messages,
        "metadata": metadata,
        "conversation_id": conversation_id,
        "trace_id": trace_id,
        "span_id": span_id,
    }
    _opening.submit(alias, row_params(AuditRecord, values, alias))


def audit_record_finalize(
    *,
    record_id: uuid.UUID,
    status: str,
    completion: str = "",
    thinking: str = "",
    tool_calls: list | None = None,
    finish_reason: str = "",
    error_code: str = "",
    error_message: str = "",
    prompt_tokens: int = 0,
    completion_tokens: int = 0,
    latency_ms: int | None = None,
    ttft_ms: int | None = None,
    backend_id: int | None = None,
    backend_name: str = "",
    upstream_model: str = "",
    upstream_attempts: list[dict] | None = None,
    finished_at: datetime | None = None,
) -> bool:
    """Finalize a running record. A record that is already final is never touched again.

    The backend is the one that served (or failed last): after a failover it is not the one the
    record was opened with. One UPDATE built once (audit.statements); on PostgreSQL, shared with
    the calls of this process finalizing theirs at the same moment (audit.grouped): this runs on
    every call."""
    served = {}
    if backend_id is not None:
        served = {
            "backend_id": backend_id,
            "backend_name": backend_name,
            "upstream_model": upstream_model,
        }
    values = {
        **served,
        "upstream_attempts": upstream_attempts or [],
        "status": status,
        "finished_at": finished_at or timezone.now(),
        "completion": completion,
        "thinking": thinking,
        "tool_calls": tool_calls,
        "finish_reason": finish_reason,
        "error_code": error_code,
        "error_message": error_message[:4000],
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "latency_ms": latency_ms,
        "ttft_ms": ttft_ms,
    }
    where = {"id": record_id, "status": AuditRecord.Status.RUNNING}
    alias = router.db_for_write(AuditRecord)
    if connections[alias].vendor != "postgresql":
        return update_rows(AuditRecord, values, where) == 1
    columns = tuple(values)
    group = _finalizing.get(columns)
    if group is None:
        group = _finalizing.setdefault(
            columns, Grouped(_finalizer(columns), width=len(columns) + len(_FINAL_WHERE))
        )
    return group.submit(alias, update_params(AuditRecord, values, where, alias))


def _finalizer(columns: tuple[str, ...]):
    def finalize(alias: str, rows: list[list]) -> list[bool]:
        changed = update_many(AuditRecord, rows, alias, columns, _FINAL_WHERE)
        key = len(columns)  # each row's id follows its values
        return [row[key] in changed for row in rows]

    return finalize


@transaction.atomic
def audit_record_mark_interrupted(*, older_than: timedelta) -> list[uuid.UUID]:
    """Close rows a crashed process left running; returns their ids."""
    cutoff = timezone.now() - older_than
    # Locked, so a call that finishes meanwhile is either finalized by its process or marked here.
    ids = list(
        AuditRecord.objects.select_for_update(skip_locked=True)
        .filter(status=AuditRecord.Status.RUNNING, started_at__lt=cutoff)
        .values_list("id", flat=True)
    )
    AuditRecord.objects.filter(id__in=ids).update(
        status=AuditRecord.Status.INTERRUPTED,
        finished_at=timezone.now(),
        error_code="interrupted",
        error_message="the process handling this call ended before the call finished",
    )
    return ids


# A verification asked for while another is waiting or running joins it: pressing the button
# twice, or by two auditors, verifies once.
VERIFICATION_JOIN_WINDOW = timedelta(minutes=10)


@transaction.atomic
def chain_verification_request(*, user) -> tuple[ChainVerification, bool]:
    """A verification for the queue (the caller sends it: tasks.verify_chain), or the one already
    waiting or running, joined; True when it is new."""
    pending = ChainVerification.objects.filter(
        state__in=[ChainVerification.State.QUEUED, ChainVerification.State.RUNNING],
        requested_at__gte=timezone.now() - VERIFICATION_JOIN_WINDOW,
    ).first()
    if pending is not None:
        return pending, False
    verification = ChainVerification.objects.create(
        requested_at=timezone.now(), requested_by=user.get_username()
    )
    return verification, True


def chain_verification_run(*, verification_id: int) -> ChainVerification | None:
    """Run a queued verification (once: a redelivered task finds it no longer queued)."""
    claimed = ChainVerification.objects.filter(
        pk=verification_id, state=ChainVerification.State.QUEUED
    ).update(state=ChainVerification.State.RUNNING)
    if not claimed:
        return None
    try:
        report = audit_chain_verify()
    except OperationalError:
        # the database went away: queued again for the task's retry
        ChainVerification.objects.filter(pk=verification_id).update(
            state=ChainVerification.State.QUEUED
        )
        raise
    except Exception as exc:
        logger.exception("chain verification %s could not run", verification_id)
        ChainVerification.objects.filter(pk=verification_id).update(
            state=ChainVerification.State.FAILED,
            finished_at=timezone.now(),
            reason=f"the verification could not run: {exc}",
        )
        return None
    ChainVerification.objects.filter(pk=verification_id).update(
        state=ChainVerification.State.DONE,
        finished_at=timezone.now(),
        ok=report.ok,
        checked=report.checked,
        unsealed=report.unsealed,
        anchored_at=report.anchored_at,
        first_bad_id=report.first_bad_id or "",
        first_bad_seq=report.first_bad_seq,
        reason=report.reason,
    )
    return ChainVerification.objects.get(pk=verification_id)
