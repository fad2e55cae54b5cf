"""The usage rollups: calls, errors and tokens per day, person, team and model, and latency
histograms per day and team, folded from finalized records as the sealer seals them.

Counting at sealing time, in the sealing transaction, counts each record exactly once (a record is
sealed once, by one sealer at a time) and costs the request path nothing. What is not sealed yet
(running calls, the last seconds' records) is folded the same way when read (audit.usage), so the
figures are exact whether the sealer is on time or not.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from django.db import transaction
from django.utils import timezone

from audit.locks import hold_sealing_lock
from audit.models import AuditRecord, LatencyRollup, UsageRollup

FAILED = ("failed", "interrupted")

# What a record contributes, in the order fold() reads it (values_list and the sealer's instances).
ROLLED_FIELDS = (
    "started_at",
    "user_id",
    "username",
    "team_id",
    "team_slug",
    "model",
    "status",
    "prompt_tokens",
    "completion_tokens",
    "latency_ms",
    "ttft_ms",
)

# A latency is kept to its 6 most significant bits: exact below 64 ms, then 32 buckets per doubling
# (each under 3.2 % wide), so a day's histogram is a few hundred numbers whatever the traffic.
SIGNIFICANT_BITS = 6


def bucket(ms: int) -> int:
    """The lower bound of the histogram bucket that holds `ms`."""
    shift = max(ms.bit_length() - SIGNIFICANT_BITS, 0)
    return (ms >> shift) << shift


def bucket_middle(key: int) -> float:
    width = 1 << max(key.bit_length() - SIGNIFICANT_BITS, 0)
    return key + (width - 1) / 2


def model_folded(model: str) -> str:
    """`llama3.2` and `llama3.2:latest` are one model."""
    return model.removesuffix(":latest")


# What a rollup row counts: Usage's fields and UsageRollup's counting columns.
COUNTS = ("calls", "errors", "prompt_tokens", "completion_tokens")


@dataclass
class Usage:
    calls: int = 0
    errors: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def __iadd__(self, other: Usage) -> Usage:
        for name in COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        return self

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


# A usage key: (day, user_id, username, team_id, team_slug, model); a latency key: (day, team_id).
USAGE_KEY = ("day", "user_id", "username", "team_id", "team_slug", "model")


@dataclass
class Fold:
    usage: dict[tuple, Usage] = field(default_factory=dict)
    latency: dict[tuple[date, int | None], tuple[Counter, Counter]] = field(default_factory=dict)

    def add(self, row: tuple) -> None:
        (started_at, user_id, username, team_id, team_slug, model, status, prompt, completion,
         latency_ms, ttft_ms) = row  # fmt: skip
        day = timezone.localtime(started_at).date()
        key = (day, user_id, username, team_id, team_slug, model_folded(model))
        usage = self.usage.get(key)
        if usage is None:
            usage = self.usage[key] = Usage()
        usage.calls += 1
        usage.errors += status in FAILED
        usage.prompt_tokens += prompt
        usage.completion_tokens += completion
        if latency_ms is not None:
            histograms = self.latency.get((day, team_id))
            if histograms is None:
                histograms = self.latency[(day, team_id)] = (Counter(), Counter())
            histograms[0][bucket(latency_ms)] += 1
            if ttft_ms is not None:
                histograms[1][bucket(ttft_ms)] += 1


def fold(rows: Iterable[tuple]) -> Fold:
    folded = Fold()
    for row in rows:
        folded.add(row)
    return folded


def _merged(stored: dict, added: Counter) -> dict:
    merged = Counter({int(key): count for key, count in stored.items()})
    merged.update(added)
    return {str(key): count for key, count in sorted(merged.items())}


def rollups_add(folded: Fold, *, usage_model=UsageRollup, latency_model=LatencyRollup) -> None:
    """Add a fold to the stored rollups. Called by the sealer inside its transaction; sealers are
    serialized (audit.locks), so no two of these run at once."""
    if folded.usage:
        days = {key[0] for key in folded.usage}
        users = {key[1] for key in folded.usage}
        stored = {
            tuple(getattr(row, name) for name in USAGE_KEY): row
            for row in usage_model.objects.filter(day__in=days, user_id__in=users)
        }
        created, changed = [], []
        for key, usage in folded.usage.items():
            row = stored.get(key)
            if row is None:
                created.append(
                    usage_model(**dict(zip(USAGE_KEY, key, strict=True)), **usage.__dict__)
                )
                continue
            for name in COUNTS:
                setattr(row, name, getattr(row, name) + getattr(usage, name))
            changed.append(row)
        usage_model.objects.bulk_create(created, batch_size=1000)
        usage_model.objects.bulk_update(changed, COUNTS, batch_size=1000)
    if folded.latency:
        stored = {
            (row.day, row.team_id): row
            for row in latency_model.objects.filter(day__in={day for day, _ in folded.latency})
        }
        created, changed = [], []
        for (day, team_id), (latency, ttft) in folded.latency.items():
            row = stored.get((day, team_id))
            if row is None:
                row = latency_model(day=day, team_id=team_id)
                created.append(row)
            else:
                changed.append(row)
            row.latency = _merged(row.latency or {}, latency)
            row.ttft = _merged(row.ttft or {}, ttft)
        latency_model.objects.bulk_create(created, batch_size=1000)
        latency_model.objects.bulk_update(changed, ["latency", "ttft"], batch_size=1000)


def rollups_rebuild(
    *, record_model=AuditRecord, usage_model=UsageRollup, latency_model=LatencyRollup
) -> int:
    """Count every sealed record again (after an upgrade, or if the rollups are in doubt); returns
    how many records were counted. Holds the sealing lock, so no sealer runs meanwhile.

    The models are parameters so the migration that creates the rollups can fill them."""
    with transaction.atomic():
        hold_sealing_lock()
        usage_model.objects.all().delete()
        latency_model.objects.all().delete()
        sealed = (
            record_model.objects.filter(chain_seq__isnull=False)
            .order_by()
            .values_list(*ROLLED_FIELDS)
        )
        folded = fold(sealed.iterator(chunk_size=10_000))
        rollups_add(folded, usage_model=usage_model, latency_model=latency_model)
        return sum(usage.calls for usage in folded.usage.values())
