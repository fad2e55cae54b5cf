"""Usage figures over the last days (today included): read from the rollups the sealer keeps, plus
the records it has not sealed yet, folded the same way — exact at any moment, and as fast at ten
million records as at a thousand (the rollups grow with days, teams, people and models, not calls).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta

from django.db import connection, transaction
from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from audit.models import AuditRecord, LatencyRollup, UsageRollup
from audit.rollups import COUNTS, ROLLED_FIELDS, USAGE_KEY, Fold, Usage, bucket_middle, fold


class UsageScope:
    """Whose calls a reader may count: everyone's, some teams', or one person's."""

    def __init__(self, *, teams: set[int] | None = None, user_id: int | None = None):
        self.teams, self.user_id = teams, user_id

    def q(self) -> Q:
        if self.user_id is not None:
            return Q(user_id=self.user_id)
        if self.teams is not None:
            return Q(team_id__in=self.teams)
        return Q()


@contextlib.contextmanager
def one_snapshot() -> Iterator[None]:
    """Read the records not yet sealed and the rollups as of one moment: a sealing committed between
    the two reads would count its records twice, or not at all. (Inside a transaction begun
    elsewhere, that one decides.)"""
    if connection.in_atomic_block:
        yield
        return
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        # SQLite: a transaction reads one snapshot from its first read on
        yield


class UsageWindow:
    """The last `days` days, today included, in the server's time zone, for `scope`."""

    def __init__(self, *, days: int, scope: UsageScope):
        self.days, self.scope = days, scope
        self.first_day: date = timezone.localdate() - timedelta(days=days - 1)
        self.since = timezone.make_aware(datetime.combine(self.first_day, time.min))
        self.tail: Fold = fold(
            AuditRecord.objects.order_by()
            .filter(scope.q(), chain_seq__isnull=True, started_at__gte=self.since)
            .values_list(*ROLLED_FIELDS)
        )

    def rollups(self) -> QuerySet[UsageRollup]:
        return UsageRollup.objects.order_by().filter(self.scope.q(), day__gte=self.first_day)

    def grouped(self, *names: str) -> dict[tuple, Usage]:
        """Usage per value of the named key fields (of USAGE_KEY), sealed and not yet sealed."""
        grouped: dict[tuple, Usage] = {}
        sums = {name: Sum(name) for name in COUNTS}
        for row in self.rollups().values(*names).annotate(**sums):
            grouped[tuple(row[name] for name in names)] = Usage(**{f: row[f] for f in COUNTS})
        positions = [USAGE_KEY.index(name) for name in names]
        for key, usage in self.tail.usage.items():
            total = grouped.setdefault(tuple(key[p] for p in positions), Usage())
            total += usage
        return grouped

    def histograms(self) -> tuple[Counter, Counter]:
        """The latency and time-to-first-token histograms (kept per team, not per person)."""
        if self.scope.user_id is not None:
            raise ValueError("latency is kept per day and team, not per person")
        latency, ttft = Counter(), Counter()
        stored = LatencyRollup.objects.filter(day__gte=self.first_day)
        if self.scope.teams is not None:
            stored = stored.filter(team_id__in=self.scope.teams)
        for row in stored.values("latency", "ttft"):
            latency.update({int(k): n for k, n in row["latency"].items()})
            ttft.update({int(k): n for k, n in row["ttft"].items()})
        for tail_latency, tail_ttft in self.tail.latency.values():
            latency.update(tail_latency)
            ttft.update(tail_ttft)
        return latency, ttft


def percentiles(histogram: Counter, quantiles=(0.5, 0.95, 0.99)) -> tuple | None:
    """The values at those quantiles (nearest rank), each within 1.6 % of the exact value."""
    count = sum(histogram.values())
    if not count:
        return None
    ranks = [int(q * (count - 1)) for q in quantiles]
    found, seen = [], 0
    for key in sorted(histogram):
        seen += histogram[key]
        while len(found) < len(ranks) and ranks[len(found)] < seen:
            found.append(round(bucket_middle(key)))
    return tuple(found)


def _row(usage: Usage) -> dict:
    return {"calls": usage.calls, "tokens": usage.tokens, "errors": usage.errors}


def usage_dashboard(*, days: int, teams: set[int] | None = None) -> dict:
    """The admin dashboard's figures: totals, per day, the top teams, people and models, and the
    latency percentiles, over every call or those of `teams`."""
    with one_snapshot():
        return _dashboard(UsageWindow(days=days, scope=UsageScope(teams=teams)))


def _dashboard(window: UsageWindow) -> dict:
    days = window.days
    by_day = window.grouped("day")
    totals = Usage()
    for usage in by_day.values():
        totals += usage
    per_day = []
    for offset in range(days):
        day = window.first_day + timedelta(days=offset)
        per_day.append({"day": day, **_row(by_day.get((day,), Usage()))})

    def top(name: str, field: str) -> list[dict]:
        ranked = sorted(window.grouped(name).items(), key=lambda item: (-item[1].calls, item[0]))
        return [{field: key[0], **_row(usage)} for key, usage in ranked[:10]]

    latency, ttft = window.histograms()
    names = ("p50", "p95", "p99")
    return {
        "days": days,
        "totals": _row(totals),
        "per_day": per_day,
        "teams": top("team_slug", "team_slug"),
        "users": top("username", "username"),
        "models": top("model", "model"),
        "percentiles": {
            "latency": dict(zip(names, percentiles(latency) or (None,) * 3, strict=True)),
            "ttft": dict(zip(names, percentiles(ttft) or (None,) * 3, strict=True)),
        },
    }


def usage_by_day_and_model(*, user, days: int) -> list[dict]:
    """A person's calls and tokens per day and model over the last `days` days, newest day first."""
    with one_snapshot():
        window = UsageWindow(days=days, scope=UsageScope(user_id=user.pk))
        grouped = window.grouped("day", "model")
    rows = [
        {
            "day": day,
            "model": model,
            "calls": usage.calls,
            "prompt_tokens": usage.prompt_tokens,
            "completion_tokens": usage.completion_tokens,
            "total_tokens": usage.tokens,
        }
        for (day, model), usage in grouped.items()
    ]
    rows.sort(key=lambda row: row["model"])
    rows.sort(key=lambda row: row["day"], reverse=True)
    return rows
