"""Server-rendered SVG charts: the daily bars, the budget burn-down and the status page's 90-day strip.

Plain SVG markup with presentation attributes (no script, no style
element, no inline style: the console's CSP allows neither), built from
numbers; the only words are the report's own labels and dates, escaped.
The same markup goes into the console, the report files and the PDF.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from controlplane.slo.labels import percent, text

GOOD, BAD, UNKNOWN, MAINTENANCE, AXIS, IDEAL = "#2e7d32", "#c62828", "#9e9e9e", "#1565c0", "#555555", "#f9a825"


def _svg(width: int, height: int, label: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(label)}"><title>{escape(label)}</title>{"".join(body)}</svg>'
    )


def floor_of(days: Sequence[dict[str, Any]], objective: float) -> float:
    """The bottom of the availability axis: ten budgets below the objective, lower if a day was worse."""
    worst = min((d["availability"] for d in days if d.get("availability") is not None), default=1.0)
    return max(0.0, min(objective - 10 * (1 - objective), worst - (1 - objective)))


def daily_bars(days: Sequence[dict[str, Any]], objective: float, lang: str, width: int = 620, height: int = 150) -> str:
    """One bar per day: its availability on an axis from :func:`floor_of` to 100 %, red below the objective.

    A grey cap shows the share of the day nobody measured, a blue mark a day with maintenance.
    """
    left, bottom, top = 44, height - 18, 8
    plot = bottom - top
    floor = floor_of(days, objective)
    step = (width - left - 4) / max(1, len(days))
    body = [f'<line x1="{left}" y1="{bottom}" x2="{width - 2}" y2="{bottom}" stroke="{AXIS}" stroke-width="1"/>']

    def y_of(ratio: float) -> float:
        return round(bottom - (ratio - floor) / (1 - floor or 1) * plot, 1)

    target = y_of(objective)
    body.append(f'<line x1="{left}" y1="{target}" x2="{width - 2}" y2="{target}" stroke="{IDEAL}" '
                'stroke-width="1" stroke-dasharray="4 3"/>')  # fmt: skip
    for label, ratio in ((percent(1.0, 1), 1.0), (percent(floor, 2), floor)):
        body.append(f'<text x="{left - 3}" y="{y_of(ratio) + 3}" font-size="9" text-anchor="end" fill="{AXIS}">'
                    f"{escape(label)}</text>")  # fmt: skip
    for index, day in enumerate(days):
        x = round(left + index * step + 1, 1)
        bar = max(1.0, round(step - 2, 1))
        seconds = day.get("elapsed_seconds") or 0.0
        if day.get("future") or not seconds:
            continue
        ratio = day.get("availability")
        name = f"{day['date']}: {percent(ratio)}"
        if ratio is None:
            body.append(f'<rect x="{x}" y="{top}" width="{bar}" height="{plot}" fill="{UNKNOWN}" opacity="0.5">'
                        f"<title>{escape(name)}</title></rect>")  # fmt: skip
            continue
        y = y_of(ratio)
        colour = GOOD if ratio >= objective else BAD
        body.append(f'<rect x="{x}" y="{y}" width="{bar}" height="{round(bottom - y, 1)}" fill="{colour}">'
                    f"<title>{escape(name)}</title></rect>")  # fmt: skip
        unknown = (day.get("unknown_seconds") or 0.0) / seconds
        if unknown > 0:
            body.append(f'<rect x="{x}" y="{top}" width="{bar}" height="{round(max(1.0, unknown * plot), 1)}" '
                        f'fill="{UNKNOWN}"/>')  # fmt: skip
        if day.get("maintenance_seconds"):
            body.append(f'<rect x="{x}" y="{bottom + 2}" width="{bar}" height="3" fill="{MAINTENANCE}"/>')
        if index % 5 == 0:
            body.append(f'<text x="{x}" y="{height - 3}" font-size="9" fill="{AXIS}">{escape(day["date"][8:])}</text>')
    return _svg(width, height, text(lang, "daily"), body)


def burn_down(points: Sequence[dict[str, Any]], days: int, lang: str, width: int = 620, height: int = 150) -> str:
    """The budget left at the end of each day (1 = untouched), against even spending over the month."""
    left, bottom, top = 44, height - 18, 8
    values = [p["budget_left"] for p in points if p.get("budget_left") is not None]
    low = min([0.0, *values])
    plot = bottom - top
    step = (width - left - 4) / max(1, days)

    def y_of(ratio: float) -> float:
        return round(bottom - (ratio - low) / (1 - low or 1) * plot, 1)

    body = [
        f'<line x1="{left}" y1="{y_of(0)}" x2="{width - 2}" y2="{y_of(0)}" stroke="{AXIS}" stroke-width="1"/>',
        f'<line x1="{left}" y1="{y_of(1)}" x2="{width - 2}" y2="{y_of(0)}" stroke="{IDEAL}" stroke-width="1" '
        'stroke-dasharray="4 3"/>',
        f'<text x="{left - 3}" y="{y_of(1) + 3}" font-size="9" text-anchor="end" fill="{AXIS}">100 %</text>',
        f'<text x="{left - 3}" y="{y_of(0) + 3}" font-size="9" text-anchor="end" fill="{AXIS}">0 %</text>',
    ]
    coords = [f"{left},{y_of(1)}"]
    for index, point in enumerate(points):
        if point.get("budget_left") is None:
            continue
        coords.append(f"{round(left + (index + 1) * step, 1)},{y_of(point['budget_left'])}")
    colour = BAD if values and values[-1] < 0 else GOOD
    body.append(f'<polyline points="{" ".join(coords)}" fill="none" stroke="{colour}" stroke-width="2"/>')
    if values:
        body.append(f'<text x="{width - 4}" y="{top + 9}" font-size="10" text-anchor="end" fill="{colour}">'
                    f"{escape(percent(values[-1], 1))}</text>")  # fmt: skip
    return _svg(width, height, text(lang, "burn_down"), body)


def status_strip(
    days: Sequence[dict[str, Any]], objective: float, lang: str, width: int = 450, height: int = 28
) -> str:
    """The public page's 90 small bars: green met, red missed, blue maintenance only, grey no data."""
    step = width / max(1, len(days))
    body = []
    for index, day in enumerate(days):
        ratio = day.get("availability")
        if ratio is None:
            colour = MAINTENANCE if day.get("maintenance_seconds") else UNKNOWN
        else:
            colour = GOOD if ratio >= objective else BAD
        x = round(index * step, 1)
        name = f"{day['date']}: {percent(ratio)}"
        body.append(f'<rect x="{x}" y="2" width="{max(1.0, round(step - 1, 1))}" height="{height - 4}" '
                    f'fill="{colour}"><title>{escape(name)}</title></rect>')  # fmt: skip
    return _svg(width, height, text(lang, "last_90"), body)
