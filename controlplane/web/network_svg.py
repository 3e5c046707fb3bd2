"""The ``/network`` topology picture and the verify history chart, as server-rendered SVG (no script).

Layout, from the model's own structure (the gateways form a tree through
the zones they share): the management network is a bar across the top (the
control plane reaches every host there, so its flows are short arrows into
each zone from above); the first gateway's zones (the ministry) form the top
row with the gateway under them; transit zones (the backbone) are bars below;
every other gateway hangs under the bar with its zones in a row beneath it.
Allowed flows are curves between zone boxes labelled with their ports;
a pair the latest verify found failing, or a path open that no flow allows,
is drawn red (class ``flow-bad``), and so are the zone and host it reached.

Only numbers, fixed words and escaped text (``html.escape``, quotes
included) are joined in; colours are presentation attributes (the console's
CSP blocks style attributes, not these). Elements carry ``data-zone``,
``data-host``, ``data-gateway``, ``data-from``/``data-to`` for tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

from controlplane.web.health_picture import clip

if TYPE_CHECKING:
    from controlplane.web.network_view import Arrow, NetworkView, ZoneBox

MARGIN, BOX_W, GAP, HEADER, LINE = 10, 190, 36, 36, 14
BAR_H, ROW_GAP, GATEWAY_H = 36, 70, 24
INK, MUTED, OK, BAD, FILL, STUB = "#37474f", "#90a4ae", "#1565c0", "#c62828", "#f5f8fa", "#eceff1"
STATE_COLOUR = {"ok": OK, "unknown": MUTED, "bad": BAD}


@dataclass
class Placed:
    """A box on the picture: top-left corner and size."""

    x: float
    y: float
    w: float
    h: float

    @property
    def centre(self) -> float:
        return self.x + self.w / 2


@dataclass
class Layout:
    """Where everything goes: zone boxes, gateway nodes, bars, and the picture's size."""

    width: float = 0
    height: float = 0
    boxes: dict[str, Placed] = field(default_factory=dict)
    gateways: dict[str, Placed] = field(default_factory=dict)
    links: list[tuple[float, float, float, float]] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)  # zone -> row index (0 top); bars: -1


def _height(box: ZoneBox) -> float:
    return HEADER + (LINE * len(box.hosts) + 4 if box.hosts else 0)


def _groups(view: NetworkView) -> list[tuple[str | None, list[ZoneBox]]]:
    """Member zones grouped by the gateway they route through, in gateway order; unrouted zones in the first."""
    members = [box for box in view.zones if box.kind == "zone"]
    order = [node.key for node in view.gateways]
    groups: dict[str | None, list[ZoneBox]] = {key: [] for key in order}
    for box in sorted(members, key=lambda b: not b.external):  # the outside first: the public enters at the left
        groups.setdefault(box.gateway if box.gateway in groups else (order[0] if order else None), []).append(box)
    return [(key, boxes) for key, boxes in groups.items() if boxes]


def layout(view: NetworkView) -> Layout:
    """Place the boxes (see the module docstring); costs one pass over zones and gateways."""
    placed = Layout()
    groups = _groups(view)
    bars = [box for box in view.zones if box.kind == "backbone"]
    y = MARGIN
    if any(box.kind == "management" for box in view.zones):
        placed.boxes["management"] = Placed(MARGIN, y, 0, BAR_H)
        placed.rows["management"] = -1
        y += BAR_H + ROW_GAP
    width = MARGIN
    top, rest = (groups[:1], groups[1:]) if bars else (groups, [])
    for key, boxes in top:
        row_h = max(_height(b) for b in boxes)
        x = width
        for box in boxes:
            placed.boxes[box.name] = Placed(x, y, BOX_W, _height(box))
            placed.rows[box.name] = 0
            x += BOX_W + GAP
        if key is not None:
            gateway = Placed((width + x - GAP) / 2 - 55, y + row_h + ROW_GAP, 110, GATEWAY_H)
            placed.gateways[key] = gateway
            placed.links.extend((placed.boxes[b.name].centre, y + _height(b), gateway.centre, gateway.y) for b in boxes)
        width = x
        y += row_h + ROW_GAP * 1.6 + GATEWAY_H
    for bar in bars:
        placed.boxes[bar.name] = Placed(MARGIN, y, 0, BAR_H)
        placed.rows[bar.name] = -1
        y += BAR_H + ROW_GAP / 2
    x, row_h = MARGIN, 0.0
    for key, boxes in rest:
        group_w = len(boxes) * (BOX_W + GAP) - GAP
        if key is not None:
            placed.gateways[key] = Placed(x + group_w / 2 - 55, y, 110, GATEWAY_H)
        for index, box in enumerate(boxes):
            placed.boxes[box.name] = Placed(x + index * (BOX_W + GAP), y + GATEWAY_H + ROW_GAP / 2, BOX_W, _height(box))
            placed.rows[box.name] = 1
            if key is not None:
                gw = placed.gateways[key]
                placed.links.append(
                    (gw.centre, y + GATEWAY_H, placed.boxes[box.name].centre, y + GATEWAY_H + ROW_GAP / 2)
                )
            row_h = max(row_h, _height(box))
        x += group_w + GAP * 2
    width = max(width, x - GAP) if rest else width
    width = max(width - GAP + MARGIN, 420)
    if rest:
        y += GATEWAY_H + ROW_GAP / 2 + row_h + 70
    for name, row in placed.rows.items():
        if row == -1:
            placed.boxes[name].w = width - 2 * MARGIN
    for node in view.gateways:  # a gateway joins every transit bar it routes
        gw = placed.gateways.get(node.key)
        for zone in node.zones:
            bar = placed.boxes.get(zone)
            if gw is not None and bar is not None and placed.rows.get(zone) == -1 and zone != "management":
                top_end, bottom_end = (gw.y + GATEWAY_H, bar.y) if gw.y < bar.y else (gw.y, bar.y + BAR_H)
                placed.links.append((gw.centre, top_end, gw.centre, bottom_end))
    placed.width, placed.height = width, y
    return placed


def _label(arrow: Arrow) -> str:
    if arrow.allowed:
        return " · ".join(arrow.ports)
    return f"✕ {arrow.violations}"


def _arrows(view: NetworkView, placed: Layout) -> list[str]:
    """The flow curves: anchors spread along each box's edge so arrows into one zone do not overlap."""
    parts: list[str] = []
    slots: dict[tuple[str, str], int] = {}
    counts: dict[tuple[str, str], int] = {}
    plans: list[tuple[Arrow, str, str]] = []
    for arrow in view.arrows:
        source, target = placed.boxes.get(arrow.source), placed.boxes.get(arrow.destination)
        if source is None or target is None:
            continue
        if arrow.source == "management":
            plans.append((arrow, "", "top"))
            counts[(arrow.destination, "top")] = counts.get((arrow.destination, "top"), 0) + 1
            continue
        s_row, t_row = placed.rows[arrow.source], placed.rows[arrow.destination]
        s_edge, t_edge = (
            ("bottom", "bottom") if s_row == t_row else (("top", "bottom") if s_row > t_row else ("bottom", "top"))
        )
        plans.append((arrow, s_edge, t_edge))
        for key in ((arrow.source, s_edge), (arrow.destination, t_edge)):
            counts[key] = counts.get(key, 0) + 1

    def anchor(zone: str, edge: str) -> tuple[float, float]:
        box = placed.boxes[zone]
        index = slots.get((zone, edge), 0)
        slots[(zone, edge)] = index + 1
        if placed.rows.get(zone) == -1:  # a bar: anchors are chosen by the other end
            return (0.0, box.y + (BAR_H if edge == "bottom" else 0))
        step = box.w / (counts[(zone, edge)] + 1)
        return (box.x + step * (index + 1), box.y + (box.h if edge == "bottom" else 0))

    for arrow, s_edge, t_edge in plans:
        colour = STATE_COLOUR[arrow.state]
        marker = "net-arrow-bad" if arrow.state == "bad" else "net-arrow"
        tx, ty = anchor(arrow.destination, t_edge)
        if not s_edge:  # from the management bar: straight down into the zone
            sx, sy = tx, ty - 26
            path = f"M {sx:.1f} {sy:.1f} L {tx:.1f} {ty - 2:.1f}"
            lx, ly = tx + 3, sy + 9
        else:
            sx, sy = anchor(arrow.source, s_edge)
            if placed.rows.get(arrow.source) == -1:
                sx = tx
            if placed.rows.get(arrow.destination) == -1:
                tx = sx
            bend = min(60, 34 + abs(tx - sx) / 8) if s_edge == t_edge else (ty - sy) / 2  # stays inside the margin
            c1y = sy + bend if s_edge == "bottom" else sy - abs(bend)
            c2y = (
                ty + bend
                if t_edge == "bottom" and s_edge == t_edge
                else (ty - bend if t_edge == "top" else ty + abs(bend))
            )
            path = f"M {sx:.1f} {sy:.1f} C {sx:.1f} {c1y:.1f} {tx:.1f} {c2y:.1f} {tx:.1f} {ty:.1f}"
            lx, ly = sx + 3, sy + (14 if s_edge == "bottom" else -6)
        tip = (f"{arrow.source} → {arrow.destination}: {', '.join(arrow.ports) or '—'} "
               f"({', '.join(arrow.flows) or 'no flow allows this'})")  # fmt: skip
        if arrow.violations or arrow.breakages:
            tip += f"; {arrow.violations} violation(s), {arrow.breakages} breakage(s)"
        dash = "" if arrow.allowed else ' stroke-dasharray="5 3"'
        parts.append(
            f'<g class="flow flow-{arrow.state}" data-from="{escape(arrow.source)}" '
            f'data-to="{escape(arrow.destination)}" '
            f'data-flows="{escape(" ".join(arrow.flows))}"><title>{escape(tip)}</title>'
            f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="{2 if arrow.state == "bad" else 1.3}"'
            f'{dash} marker-end="url(#{marker})"/>'
            f'<text x="{lx:.1f}" y="{ly:.1f}" font-size="9" fill="{colour}">{escape(_label(arrow))}</text></g>'
        )
    return parts


def _zone(box: ZoneBox, at: Placed, words: dict[str, str]) -> str:
    classes = ["zone", f"zone-{box.kind}"] + (["zone-stub"] if box.stub else []) + (["zone-bad"] if box.problem else [])
    stroke = BAD if box.problem else (MUTED if box.stub else INK)
    fill = STUB if box.stub or box.kind != "zone" else FILL
    dash = ' stroke-dasharray="4 3"' if box.stub else ""
    second = box.subnet or words["stub"]
    if box.kind == "management":
        second = f"{box.subnet} · {words['management']}"
    parts = [
        f'<g class="{" ".join(classes)}" data-zone="{escape(box.name)}" transform="translate({at.x:.1f},{at.y:.1f})">',
        f"<title>{escape(box.title_zh)} ({escape(box.name)})</title>",
        f'<rect width="{at.w:.1f}" height="{at.h:.1f}" rx="6" fill="{fill}" stroke="{stroke}"'
        f' stroke-width="{2 if box.problem else 1}"{dash}/>',
        f'<text x="8" y="15" font-size="12" font-weight="bold" fill="{INK}">{escape(clip(box.title_zh, 26))}</text>',
        f'<text x="8" y="29" font-size="10" fill="{MUTED}">{escape(box.name)} · {escape(second)}</text>',
    ]
    for index, host in enumerate(box.hosts):
        colour = BAD if host.problem else INK
        mark = " ✕" if host.problem else ""
        parts.append(
            f'<text class="host{" host-bad" if host.problem else ""}" data-host="{escape(host.name)}" x="12" '
            f'y="{HEADER + 10 + index * LINE}" font-size="10" fill="{colour}">{escape(host.name)}'
            f" {escape(host.address or '')}{mark}</text>"
        )
    parts.append("</g>")
    return "".join(parts)


def topology(view: NetworkView, words: dict[str, str]) -> Markup:
    """The whole ``<svg>`` picture of ``view`` (``words``: the translated legend words ``stub``, ``management``,
    ``gateway``, ``summary``)."""
    placed = layout(view)
    parts = [
        f'<svg class="network-map" viewBox="0 0 {placed.width:.0f} {placed.height:.0f}" width="{placed.width:.0f}" '
        f'height="{placed.height:.0f}" role="img" aria-labelledby="network-map-desc" font-family="sans-serif">',
        f'<desc id="network-map-desc">{escape(words["summary"])}</desc>',
        "<defs>",
        *(
            f'<marker id="{name}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
            f'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="{colour}"/></marker>'
            for name, colour in (("net-arrow", OK), ("net-arrow-bad", BAD))
        ),
        "</defs>",
        f'<g class="links" stroke="{MUTED}" stroke-width="1.5">',
        *(f'<line x1="{a:.1f}" y1="{b:.1f}" x2="{c:.1f}" y2="{d:.1f}"/>' for a, b, c, d in placed.links),
        "</g>",
    ]
    for box in view.zones:
        at = placed.boxes.get(box.name)
        if at is not None:
            parts.append(_zone(box, at, words))
    for node in view.gateways:
        at = placed.gateways.get(node.key)
        if at is None:
            continue
        name = node.name or words["gateway"]
        parts.append(
            f'<g class="gateway" data-gateway="{escape(node.name or "")}" transform="translate({at.x:.1f},{at.y:.1f})">'
            f"<title>{escape(name)}</title>"
            f'<rect width="{at.w:.1f}" height="{GATEWAY_H}" rx="12" fill="#fff8e1" stroke="#f9a825"/>'
            f'<text x="{at.w / 2:.1f}" y="16" font-size="11" text-anchor="middle" fill="{INK}">'
            f"⇄ {escape(name)}</text></g>"
        )
    parts.extend(_arrows(view, placed))
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704  (every value above is a number, a fixed word or escaped)


def history_chart(points: Sequence[dict[str, Any]], title: str, width: int = 560, height: int = 110) -> Markup:
    """One bar pair per verify, oldest left: violations (red) over breakages (orange); a green tick for a clean one."""
    left, bottom, top = 30, height - 16, 8
    worst = max([1, *(p["violations"] + p["breakages"] for p in points)])
    step = (width - left - 4) / max(1, len(points))
    body = [f'<line x1="{left}" y1="{bottom}" x2="{width - 2}" y2="{bottom}" stroke="{INK}" stroke-width="1"/>',
            f'<text x="{left - 4}" y="{top + 8}" font-size="9" text-anchor="end" fill="{INK}">{worst}</text>',
            f'<text x="{left - 4}" y="{bottom}" font-size="9" text-anchor="end" fill="{INK}">0</text>']  # fmt: skip
    for index, point in enumerate(points):
        x = left + index * step + 1
        bar = min(24.0, max(2.0, step - 3))  # a few verifies stay bars, not blocks
        tip = escape(f"{point['started_at'][:16].replace('T', ' ')}: {point['violations']} violation(s), "
                     f"{point['breakages']} breakage(s), {point['paths']} paths")  # fmt: skip
        if not point["violations"] and not point["breakages"]:
            body.append(f'<rect class="verify-clean" x="{x:.1f}" y="{bottom - 4}" width="{bar:.1f}" height="4" '
                        f'fill="#2e7d32"><title>{tip}</title></rect>')  # fmt: skip
            continue
        y = float(bottom)
        for key, colour in (("breakages", "#ef6c00"), ("violations", BAD)):
            h = (bottom - top) * point[key] / worst
            if h:
                y -= h
                body.append(f'<rect class="verify-{key}" x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                            f'fill="{colour}"><title>{tip}</title></rect>')  # fmt: skip
    return Markup(  # noqa: S704  (numbers and escaped text only)
        f'<svg class="verify-history" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" font-family="sans-serif"><title>{escape(title)}</title>{"".join(body)}</svg>'
    )
