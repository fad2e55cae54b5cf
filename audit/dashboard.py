"""The usage dashboard's figures (reads over the audit trail) and its charts, drawn as SVG by Corral."""

from datetime import date, timedelta

from django.db import connection
from django.db.models import Aggregate, Count, F, FloatField, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from audit.models import AuditRecord
from audit.selectors import model_name_folded

FAILED = ("failed", "interrupted")


def _window(records: QuerySet[AuditRecord], days: int) -> QuerySet[AuditRecord]:
    return records.order_by().filter(started_at__gte=timezone.now() - timedelta(days=days))


class _Percentiles(Aggregate):
    """PostgreSQL's p50, p95 and p99 of a column, in one pass."""

    function = "percentile_cont"
    template = "percentile_cont(ARRAY[0.5, 0.95, 0.99]) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def convert_value(self, value, expression, connection):
        return value  # the array as PostgreSQL sent it


def _totals(records: QuerySet[AuditRecord]) -> dict:
    return records.aggregate(
        calls=Count("id"),
        tokens=Sum(F("prompt_tokens") + F("completion_tokens")),
        errors=Count("id", filter=Q(status__in=FAILED)),
    )


def per_day(records: QuerySet[AuditRecord], days: int) -> list[dict]:
    rows = {
        row["day"]: row
        for row in _window(records, days)
        .annotate(day=TruncDate("started_at"))
        .values("day")
        .annotate(
            calls=Count("id"),
            tokens=Sum(F("prompt_tokens") + F("completion_tokens")),
            errors=Count("id", filter=Q(status__in=FAILED)),
        )
    }
    today = timezone.now().date()
    series = []
    for offset in range(days - 1, -1, -1):
        day = today - timedelta(days=offset)
        row = rows.get(day, {})
        series.append(
            {
                "day": day,
                "calls": row.get("calls", 0),
                "tokens": row.get("tokens") or 0,
                "errors": row.get("errors", 0),
            }
        )
    return series


def top(records: QuerySet[AuditRecord], days: int, field: str, limit: int = 10) -> list[dict]:
    key = model_name_folded() if field == "model" else F(field)
    rows = (
        _window(records, days)
        .annotate(grouped_by=key)
        .values("grouped_by")
        .annotate(
            calls=Count("id"),
            tokens=Sum(F("prompt_tokens") + F("completion_tokens")),
            errors=Count("id", filter=Q(status__in=FAILED)),
        )
        .order_by("-calls")[:limit]
    )
    return [{field: row.pop("grouped_by"), **row} for row in rows]


def latency_percentiles(records: QuerySet[AuditRecord], days: int) -> dict:
    """p50/p95/p99 of latency and time to first token over the window's finished calls."""
    records = _window(records, days).filter(latency_ms__isnull=False)
    if connection.vendor == "postgresql":
        figures = records.aggregate(
            latency=_Percentiles("latency_ms"), ttft=_Percentiles("ttft_ms")
        )
        latency, ttft = figures["latency"], figures["ttft"]
    else:
        latency = _percentiles(
            list(records.order_by("latency_ms").values_list("latency_ms", flat=True))
        )
        ttft = _percentiles(
            list(
                records.filter(ttft_ms__isnull=False)
                .order_by("ttft_ms")
                .values_list("ttft_ms", flat=True)
            )
        )
    names = ("p50", "p95", "p99")
    return {
        "latency": dict(zip(names, latency or (None,) * 3, strict=True)),
        "ttft": dict(zip(names, ttft or (None,) * 3, strict=True)),
    }


def _percentiles(ordered: list[int]) -> tuple | None:
    if not ordered:
        return None
    return tuple(
        ordered[min(len(ordered) - 1, int(q * (len(ordered) - 1)))] for q in (0.5, 0.95, 0.99)
    )


def dashboard(records: QuerySet[AuditRecord], days: int) -> dict:
    """The figures over `records` (what the reader may see) of the last `days` days."""
    return {
        "days": days,
        "totals": _totals(_window(records, days)),
        "per_day": per_day(records, days),
        "teams": top(records, days, "team_slug"),
        "users": top(records, days, "username"),
        "models": top(records, days, "model"),
        "percentiles": latency_percentiles(records, days),
    }


def _axis_label(x: float, y: float, text: str) -> str:
    return (
        f'<text x="{x}" y="{y}" text-anchor="end" font-size="11" fill="currentColor" '
        f'fill-opacity="0.75">{escape(text)}</text>'
    )


def bar_chart(
    series: list[dict], key: str, *, title: str, width: int = 720, height: int = 180
) -> SafeString:
    """A bar chart of series[i][key] per day, as inline SVG (no script, no external asset)."""
    values = [row[key] or 0 for row in series]
    peak = max(values) or 1
    left, bottom, top_pad = 48, 22, 10
    plot_w, plot_h = width - left - 8, height - bottom - top_pad
    bar_w = plot_w / max(len(values), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" class="corral-chart">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{width - 8}" y2="{top_pad + plot_h}" '
        'stroke="currentColor" stroke-opacity="0.5"/>',
        _axis_label(left - 6, top_pad + 8, f"{peak:,}"),
        _axis_label(left - 6, top_pad + plot_h, "0"),
    ]
    for index, (row, value) in enumerate(zip(series, values, strict=True)):
        bar_h = plot_h * value / peak
        x = left + index * bar_w + 1
        day: date = row["day"]
        parts.append(
            f'<rect x="{x:.1f}" y="{top_pad + plot_h - bar_h:.1f}" width="{max(bar_w - 2, 1):.1f}" '
            f'height="{bar_h:.1f}" fill="#3f8f68"><title>{day.isoformat()}: {value:,}</title></rect>'
        )
        if len(series) <= 31 and (index % max(len(series) // 7, 1) == 0):
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{height - 6}" text-anchor="middle" font-size="10" '
                f'fill="currentColor" fill-opacity="0.75">{day.strftime("%m-%d")}</text>'
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - numbers and escaped text only
