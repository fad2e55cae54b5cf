"""The usage dashboard's charts, drawn as SVG by Corral (the figures: audit.usage)."""

from datetime import date

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe


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
    # room on the left for the peak's label (11 px text: about 7 px a character)
    left, bottom, top_pad = max(48, 12 + 7 * len(f"{peak:,}")), 22, 10
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
