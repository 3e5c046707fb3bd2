"""Inline SVG charts for the self-contained HTML report (no script, no external file, prints as is).

Every text that reaches the SVG is XML-escaped: site names and control ids
come from operator-edited files.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from controlplane.compliance.scoring import Score

# Status colours, chosen to stay distinguishable in greyscale print (dark to light).
COLOURS = {"passed": "#2e7d32", "waived": "#7cb342", "failed": "#c62828", "errors": "#6a1b9a"}
LABELS = {"passed": "pass", "waived": "waived", "failed": "fail", "errors": "error"}


def donut(value: Score, size: int = 160, title: str = "") -> str:
    """A donut of the applicable results by status, the after-waivers score in the middle."""
    radius, width = size / 2 - 12, 22
    centre = size / 2
    total = value.applicable
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{size}" height="{size}" '
        f'viewBox="0 0 {size} {size}" role="img">'
    ]
    parts.append(f"<title>{escape(title or 'results by status')}</title>")
    if not total:
        parts.append(
            f'<circle cx="{centre}" cy="{centre}" r="{radius}" fill="none" stroke="#bbb" stroke-width="{width}"/>'
        )
    start = -math.pi / 2
    for name in ("passed", "waived", "failed", "errors"):
        count = getattr(value, name)
        if not count:
            continue
        if count == total:  # a full circle cannot be drawn as one arc
            parts.append(
                f'<circle cx="{centre}" cy="{centre}" r="{radius}" fill="none" stroke="{COLOURS[name]}" '
                f'stroke-width="{width}"><title>{LABELS[name]}: {count}</title></circle>'
            )
            break
        angle = 2 * math.pi * count / total
        end = start + angle
        x1, y1 = centre + radius * math.cos(start), centre + radius * math.sin(start)
        x2, y2 = centre + radius * math.cos(end), centre + radius * math.sin(end)
        large = 1 if angle > math.pi else 0
        parts.append(
            f'<path d="M {x1:.2f} {y1:.2f} A {radius:.2f} {radius:.2f} 0 {large} 1 {x2:.2f} {y2:.2f}" fill="none" '
            f'stroke="{COLOURS[name]}" stroke-width="{width}"><title>{LABELS[name]}: {count}</title></path>'
        )
        start = end
    text = "n/a" if value.after_waivers is None else f"{value.after_waivers:g}%"
    parts.append(
        f'<text x="{centre}" y="{centre + 7}" text-anchor="middle" font-size="20" '
        f'font-family="sans-serif">{text}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)


def bars(rows: Sequence[tuple[str, Score]], width: int = 560, title: str = "") -> str:
    """Horizontal bars per row: after waivers (light) behind before waivers (dark), percent at the end."""
    label_width, row_height, bar_width = 170, 24, width - 170 - 110
    height = row_height * max(1, len(rows)) + 8
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" font-family="sans-serif" font-size="12">',
        f"<title>{escape(title or 'scores')}</title>",
    ]
    for index, (label, value) in enumerate(rows):
        y = 4 + index * row_height
        before = value.before_waivers or 0.0
        after = value.after_waivers or 0.0
        shown = "n/a" if value.after_waivers is None else f"{value.before_waivers:g}% / {value.after_waivers:g}%"
        parts.append(f'<text x="0" y="{y + 15}">{escape(label[:28])}</text>')
        parts.append(f'<rect x="{label_width}" y="{y + 3}" width="{bar_width}" height="14" fill="#eee"/>')
        parts.append(
            f'<rect x="{label_width}" y="{y + 3}" width="{bar_width * after / 100:.1f}" height="14" fill="#a5d6a7">'
            f"<title>after waivers {after:g}%</title></rect>"
        )
        parts.append(
            f'<rect x="{label_width}" y="{y + 3}" width="{bar_width * before / 100:.1f}" height="14" fill="#2e7d32">'
            f"<title>before waivers {before:g}%</title></rect>"
        )
        parts.append(f'<text x="{label_width + bar_width + 4}" y="{y + 15}" font-size="10">{shown}</text>')
    parts.append("</svg>")
    return "".join(parts)
