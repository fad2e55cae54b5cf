"""The audit trail's hash chain: every finalized record is sealed, in order, into a chain where each
link covers the record's fields, the hash of its content and the previous link. Changing, removing
or reordering a sealed record breaks the chain at that record, and `audit_verify` says where.

The chain covers the content's hash, not the content: the retention purge may blank old content and
the chain still verifies.
"""

import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta

from django.db import router, transaction
from django.utils import timezone

from audit.checkpoints import anchors, checkpoint_write, purges
from audit.locks import hold_sealing_lock
from audit.models import AuditCheckpoint, AuditRecord
from audit.rollups import ROLLED_FIELDS, fold, rollups_add
from audit.statements import update_many, update_params

GENESIS = "0" * 64
CONTENT_FIELDS = (
    "messages",
    "completion",
    "tool_calls",
    "tools",
    "options",
    "request_format",
    "metadata",
)
LINK_FIELDS = (
    "id",
    "started_at",
    "finished_at",
    "user_id",
    "username",
    "team_id",
    "team_slug",
    "token_prefix",
    "client_ip",
    "user_agent",
    "surface",
    "operation",
    "model",
    "upstream_model",
    "backend_name",
    "stream",
    "conversation_id",
    "status",
    "error_code",
    "error_message",
    "finish_reason",
    "prompt_tokens",
    "completion_tokens",
    "latency_ms",
    "ttft_ms",
    "trace_id",
    "span_id",
)
BLANK_CONTENT = {
    "messages": [],
    "completion": "",
    "thinking": "",
    "tool_calls": None,
    "tools": None,
    "metadata": {},
}


def _canonical(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str).encode()


# Added after records were already sealed: covered whenever set, so older hashes and links verify.
LATER_CONTENT_FIELDS = ("thinking",)
LATER_LINK_FIELDS = ("upstream_attempts", "think", "keep_alive", "tool_choice")


def content_hash(record: AuditRecord) -> str:
    content = {f: getattr(record, f) for f in CONTENT_FIELDS}
    content.update({f: getattr(record, f) for f in LATER_CONTENT_FIELDS if getattr(record, f)})
    return hashlib.sha256(_canonical(content)).hexdigest()


def link_hash(previous: str, seq: int, record: AuditRecord, content: str) -> str:
    fields = {f: getattr(record, f) for f in LINK_FIELDS}
    fields.update(
        {
            f: getattr(record, f)
            for f in LATER_LINK_FIELDS
            if getattr(record, f) not in (None, "", [])
        }
    )
    fields.update(seq=seq, content_hash=content)
    return hashlib.sha256(previous.encode() + _canonical(fields)).hexdigest()


def _head() -> tuple[int, str]:
    last = (
        AuditRecord.objects.filter(chain_seq__isnull=False)
        .order_by("-chain_seq")
        .values_list("chain_seq", "chain_hash")
        .first()
    )
    return last if last else (0, GENESIS)


# Records sealed per transaction (the sealer loops until none are left). The batch is loaded whole
# and updated in one statement: 1,000 grew a worker by ~17 MB that it kept, 500 by ~8 MB, at the
# same CPU per record (3,000 records sealed in one process on PostgreSQL).
SEAL_BATCH = 500


STAMPED = ("content_hash", "chain_seq", "chain_hash")


def _stamp(records: list[AuditRecord]) -> None:
    """Write the sealed records' hashes and sequence numbers. Not bulk_update: its CASE per column,
    with a branch per record, cost ~0.6 ms of Python per record to compile (most of the sealer's
    CPU, itself most of the Celery worker's under load) and PostgreSQL a branch test per row."""
    if not records:
        return
    alias = router.db_for_write(AuditRecord)
    rows = [
        update_params(AuditRecord, {f: getattr(r, f) for f in STAMPED}, {"id": r.id}, alias)
        for r in records
    ]
    update_many(AuditRecord, rows, alias, STAMPED, ("id",))


def audit_chain_seal(*, batch: int = SEAL_BATCH) -> int:
    """Seal finalized records into the chain in the order they finished, and count them into the
    usage rollups; returns how many.

    One sealer at a time (audit.locks); the unique sequence number would refuse a second anyway."""
    with transaction.atomic():
        hold_sealing_lock()
        seq, previous = _head()
        pending = list(
            AuditRecord.objects.filter(chain_seq__isnull=True)
            .exclude(status=AuditRecord.Status.RUNNING)
            .order_by("finished_at", "id")[:batch]
        )
        for record in pending:
            seq += 1
            record.content_hash = record.content_hash or content_hash(record)
            record.chain_seq = seq
            record.chain_hash = previous = link_hash(previous, seq, record, record.content_hash)
        _stamp(pending)
        # counted into the usage rollups in the same transaction: once, exactly when sealed
        rollups_add(fold(tuple(getattr(r, name) for name in ROLLED_FIELDS) for r in pending))
        if pending:
            checkpoint_write(kind=AuditCheckpoint.Kind.SEAL, seq=seq, head_hash=previous)
    return len(pending)


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    checked: int
    unsealed: int
    first_bad_id: str = ""
    first_bad_seq: int | None = None
    reason: str = ""
    anchored_at: int | None = None  # the newest signed checkpoint the chain was held against


def _purge_problem(record: AuditRecord, purge_runs: dict) -> str:
    if any(getattr(record, field) != blank for field, blank in BLANK_CONTENT.items()):
        return "content was changed after its purge (a purge only blanks it)"
    cutoff = purge_runs.get(record.content_purged_at)
    if cutoff is None or record.started_at >= cutoff:
        return "content was blanked, but no signed purge covers this record"
    return ""


def audit_chain_verify(*, checkpoints: list[str] = ()) -> VerifyReport:
    """Walk the chain from the start; report the first record that does not match, then hold the
    chain's end against the signed checkpoints (a deleted tail or a wiped table shows there)."""
    previous, expected_seq, checked = GENESIS, 1, 0
    purge_runs = purges()
    hashes_at: dict[int, str] = {}
    found, problems = anchors(given=checkpoints)
    wanted = {anchor.seq for anchor in found}
    records = AuditRecord.objects.filter(chain_seq__isnull=False).order_by("chain_seq")
    for record in records.iterator(chunk_size=2000):
        bad = ""
        if record.chain_seq != expected_seq:
            bad = f"sequence gap: expected {expected_seq}, found {record.chain_seq}"
        elif record.content_purged_at is not None:
            bad = _purge_problem(record, purge_runs)
        elif content_hash(record) != record.content_hash:
            bad = "content does not match its hash"
        if not bad and (
            link_hash(previous, record.chain_seq, record, record.content_hash) != record.chain_hash
        ):
            bad = "record does not match its link in the chain"
        if bad:
            return VerifyReport(False, checked, _unsealed(), str(record.id), record.chain_seq, bad)
        if record.chain_seq in wanted:
            hashes_at[record.chain_seq] = record.chain_hash
        previous, expected_seq, checked = record.chain_hash, expected_seq + 1, checked + 1
    if problems:
        return VerifyReport(False, checked, _unsealed(), reason="; ".join(problems))
    for anchor in sorted(found, key=lambda a: a.seq, reverse=True):
        if anchor.seq > checked:
            return VerifyReport(
                False,
                checked,
                _unsealed(),
                first_bad_seq=checked + 1,
                reason=f"records are missing from the end: a signed checkpoint of "
                f"{anchor.at.isoformat()} (from {anchor.source}) says {anchor.seq} records were "
                f"sealed, the chain has {checked}",
            )
        if hashes_at.get(anchor.seq) != anchor.head_hash:
            return VerifyReport(
                False,
                checked,
                _unsealed(),
                first_bad_seq=anchor.seq,
                reason=f"the chain up to position {anchor.seq} is not the one the signed "
                f"checkpoint of {anchor.at.isoformat()} (from {anchor.source}) names",
            )
    anchored = max((anchor.seq for anchor in found), default=None)
    return VerifyReport(True, checked, _unsealed(), anchored_at=anchored)


def _unsealed(cap: int | None = None) -> int:
    pending = (
        AuditRecord.objects.order_by()
        .filter(chain_seq__isnull=True)
        .exclude(status=AuditRecord.Status.RUNNING)
    )
    return (pending[:cap] if cap else pending).count()


def audit_chain_state() -> dict:
    """For the admin's banner: the chain's length and (counted up to 10,000) what waits for sealing."""
    seq, _ = _head()
    return {"sealed": seq, "unsealed": _unsealed(cap=10_000)}


def audit_content_purge(*, older_than_days: int, batch: int = 2000) -> int:
    """Blank the prompt and completion of sealed records older than the retention period; their
    metadata, hashes and chain links stay and still verify. Returns how many were purged."""
    now = timezone.now()
    cutoff = now - timedelta(days=older_than_days)
    purged = 0
    while True:
        ids = list(
            AuditRecord.objects.filter(
                started_at__lt=cutoff, content_purged_at__isnull=True, chain_seq__isnull=False
            ).values_list("id", flat=True)[:batch]
        )
        if not ids:
            break
        purged += AuditRecord.objects.filter(id__in=ids).update(
            content_purged_at=now, **BLANK_CONTENT
        )
    if purged:
        # The signed statement that lets these blanked records verify (see _purge_problem).
        seq, head = _head()
        checkpoint_write(
            kind=AuditCheckpoint.Kind.PURGE,
            seq=seq,
            head_hash=head,
            at=now,
            purge_cutoff=cutoff,
            purged=purged,
        )
    return purged
