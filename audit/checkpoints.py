"""Signed checkpoints of the audit chain's head, kept in the database and outside it.

The hash chain shows any change to a sealed record, but not records removed from its end, nor a
table wiped: what is left still chains. So whenever records are sealed, a checkpoint says how many
there are and what the last link is, signed (HMAC-SHA256) with a key that is not in the database,
and the same line goes to the log, to the trace (a span event) and to Redis. `audit_verify` holds
the chain against the newest of them. The retention purge writes one too, naming the records it may
blank (started before its cutoff) and the moment it did, so a record blanked by anyone else shows.
"""

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from datetime import datetime

import redis
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from opentelemetry import trace

from audit.models import AuditCheckpoint
from common.redis import get_redis

logger = logging.getLogger("corral.audit.checkpoint")
REDIS_KEY = "corral:audit:checkpoint"


@dataclass(frozen=True)
class Anchor:
    """A seal checkpoint, wherever it was read from."""

    seq: int
    head_hash: str
    at: datetime
    source: str


def _signature(kind: str, at: datetime, seq: int, head_hash: str, cutoff, purged: int) -> str:
    message = json.dumps(
        [kind, at.isoformat(), seq, head_hash, cutoff.isoformat() if cutoff else None, purged],
        separators=(",", ":"),
    ).encode()
    key = settings.CORRAL_AUDIT_SIGNING_KEY.encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def checkpoint_is_genuine(checkpoint: AuditCheckpoint) -> bool:
    expected = _signature(
        checkpoint.kind,
        checkpoint.at,
        checkpoint.seq,
        checkpoint.head_hash,
        checkpoint.purge_cutoff,
        checkpoint.purged,
    )
    return hmac.compare_digest(expected, checkpoint.signature)


def external_form(checkpoint: AuditCheckpoint) -> str:
    """The one line an operator keeps elsewhere and gives `audit_verify --checkpoint`."""
    return f"seal:{checkpoint.seq}:{checkpoint.head_hash}:{checkpoint.at.isoformat()}:{checkpoint.signature}"


def anchor_from_text(text: str, source: str) -> Anchor | None:
    """A seal checkpoint from its external form; None unless its signature holds."""
    try:
        kind, seq, head_hash, rest = text.strip().split(":", 3)
        at_text, signature = rest.rsplit(":", 1)
        at = parse_datetime(at_text)
        seq_number = int(seq)
    except ValueError:
        return None
    if kind != "seal" or at is None:
        return None
    expected = _signature("seal", at, seq_number, head_hash, None, 0)
    if not hmac.compare_digest(expected, signature):
        return None
    return Anchor(seq_number, head_hash, at, source)


def checkpoint_write(
    *,
    kind: str,
    seq: int,
    head_hash: str,
    at: datetime | None = None,
    purge_cutoff: datetime | None = None,
    purged: int = 0,
) -> AuditCheckpoint:
    at = at or timezone.now()
    checkpoint = AuditCheckpoint.objects.create(
        kind=kind,
        at=at,
        seq=seq,
        head_hash=head_hash,
        purge_cutoff=purge_cutoff,
        purged=purged,
        signature=_signature(kind, at, seq, head_hash, purge_cutoff, purged),
    )
    transaction.on_commit(lambda: _emit(checkpoint))
    return checkpoint


def _emit(checkpoint: AuditCheckpoint) -> None:
    """The same checkpoint outside the database: log line, span event and (seals) Redis."""
    fields = {
        "checkpoint_kind": checkpoint.kind,
        "chain_seq": checkpoint.seq,
        "chain_head": checkpoint.head_hash,
        "signature": checkpoint.signature,
    }
    text = external_form(checkpoint) if checkpoint.kind == AuditCheckpoint.Kind.SEAL else ""
    logger.info(
        "audit checkpoint %s %s",
        checkpoint.kind,
        text or f"cutoff={checkpoint.purge_cutoff.isoformat()} purged={checkpoint.purged}",
        extra=fields,
    )
    span = trace.get_current_span()
    event = {f"corral.audit.{key}": value for key, value in fields.items()}
    if span.is_recording():
        span.add_event("corral.audit.checkpoint", event)
    else:
        with trace.get_tracer("corral.audit").start_as_current_span("audit checkpoint") as own:
            own.add_event("corral.audit.checkpoint", event)
    if text:
        try:
            get_redis().set(REDIS_KEY, text)
        except redis.RedisError as exc:
            logger.warning("audit checkpoint not kept in Redis: %s", exc)


def anchors(*, given: list[str] = ()) -> tuple[list[Anchor], list[str]]:
    """Every seal checkpoint to hold the chain against: the table's newest genuine one, Redis's
    and those an operator gives; and what was wrong with any that did not verify."""
    found, problems = [], []
    for checkpoint in AuditCheckpoint.objects.order_by("at").iterator():
        if not checkpoint_is_genuine(checkpoint):
            problems.append(
                f"checkpoint {checkpoint.pk} ({checkpoint}) does not verify: forged, altered or "
                "signed with another key"
            )
    newest = (
        AuditCheckpoint.objects.filter(kind=AuditCheckpoint.Kind.SEAL)
        .order_by("-seq", "-at")
        .first()
    )
    if newest is not None and checkpoint_is_genuine(newest):
        found.append(Anchor(newest.seq, newest.head_hash, newest.at, "the checkpoint table"))
    try:
        kept = get_redis().get(REDIS_KEY)
    except redis.RedisError:
        kept = None
    for text, source in [*[(t, "the given checkpoint") for t in given], (kept, "Redis")]:
        if not text:
            continue
        text = text.decode() if isinstance(text, bytes) else text
        anchor = anchor_from_text(text, source)
        if anchor is None:
            problems.append(f"the checkpoint from {source} does not verify: {text[:80]}")
        else:
            found.append(anchor)
    return found, problems


def purges() -> dict[datetime, datetime]:
    """When each genuine purge ran -> the cutoff it applied."""
    return {
        checkpoint.at: checkpoint.purge_cutoff
        for checkpoint in AuditCheckpoint.objects.filter(kind=AuditCheckpoint.Kind.PURGE)
        if checkpoint_is_genuine(checkpoint)
    }
