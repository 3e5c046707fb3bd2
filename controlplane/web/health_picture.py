"""Where each site of the health picture is drawn: a tree from the ministry down to the schools, as SVG geometry.

Layout: the top site (the ministry, or a province for a provincial user)
sits above a row of its children; each child heads a column in which the
sites below it are stacked, indented by depth, joined by a line down the
column's left edge. More than :data:`MAX_COLUMNS` children wrap into another
band, joined to the top site by a trunk down the left margin. Without one top
site (a scope of several provinces) every visible root heads a column.

Only numbers and the names the template escapes come out of here: the
template (``_health.html``) draws rectangles, lines and text with classes
the stylesheet colours (the console's CSP allows no inline style).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

from controlplane.web.health import SiteHealth

NODE_WIDTH = 166
NODE_HEIGHT = 58
COLUMN_GAP = 14
ROW_GAP = 8
INDENT = 12
BUS_GAP = 16  # from a row of nodes down to the line joining the next row
MAX_COLUMNS = 6
MARGIN = 4
BADGE_WIDTH = 30
BADGE_GAP = 2
TITLE_CELLS = 20  # what fits on a node's first line at its font size (a CJK character is two cells)


@dataclass
class Node:
    """One site's box: its top-left corner, width, and the site's health."""

    site: SiteHealth
    x: int
    y: int
    width: int = NODE_WIDTH

    @property
    def badges(self) -> list[tuple[str, int]]:
        """(dimension, x offset inside the node) of each badge, left to right."""
        start = (self.width - len(self.site.measures) * (BADGE_WIDTH + BADGE_GAP) + BADGE_GAP) // 2
        return [(name, start + i * (BADGE_WIDTH + BADGE_GAP)) for i, name in enumerate(self.site.measures)]


@dataclass
class Picture:
    """The whole drawing: its size, the nodes, and the connecting lines as (x1, y1, x2, y2)."""

    width: int
    height: int
    nodes: list[Node] = field(default_factory=list)
    lines: list[tuple[int, int, int, int]] = field(default_factory=list)


def clip(text: str, cells: int = TITLE_CELLS) -> str:
    """``text`` cut to ``cells`` display cells (CJK characters count two), with "…" when cut."""
    used, kept = 0, []
    for char in text:
        width = 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
        if used + width > cells - (1 if len(kept) < len(text) else 0):
            return "".join(kept) + "…"
        used += width
        kept.append(char)
    return text


def _children(sites: list[SiteHealth]) -> dict[str | None, list[SiteHealth]]:
    below: dict[str | None, list[SiteHealth]] = {}
    for site in sites:
        below.setdefault(site.parent, []).append(site)
    return below


def _stack(head: SiteHealth, below: dict[str | None, list[SiteHealth]]) -> list[tuple[SiteHealth, int]]:
    """The head and every site below it, depth first, with the depth relative to the head."""
    found: list[tuple[SiteHealth, int]] = []

    def visit(site: SiteHealth, depth: int) -> None:
        found.append((site, depth))
        for child in below.get(site.name, []):
            visit(child, depth + 1)

    visit(head, 0)
    return found


def layout(sites: list[SiteHealth]) -> Picture:
    """Place every site (parents before children, as :func:`controlplane.web.health.site_health` lists them)."""
    if not sites:
        return Picture(0, 0)
    below = _children(sites)
    roots = below.get(None, [])
    top = roots[0] if len(roots) == 1 and below.get(roots[0].name) else None
    heads = below[top.name] if top else roots
    pitch = NODE_WIDTH + COLUMN_GAP
    columns = min(MAX_COLUMNS, len(heads))
    width = MARGIN * 2 + columns * pitch - COLUMN_GAP + (INDENT if top else 0)
    picture = Picture(width, 0)
    bands = [heads[start : start + MAX_COLUMNS] for start in range(0, len(heads), MAX_COLUMNS)]
    left = MARGIN + (INDENT if top else 0)  # room for the trunk that joins the bands
    trunk_x = MARGIN + INDENT // 2
    y = MARGIN
    if top is not None:
        span = len(bands[0]) * pitch - COLUMN_GAP
        top_x = left + (span - NODE_WIDTH) // 2
        picture.nodes.append(Node(top, top_x, y))
        y += NODE_HEIGHT + BUS_GAP
        picture.lines.append((top_x + NODE_WIDTH // 2, MARGIN + NODE_HEIGHT, top_x + NODE_WIDTH // 2, y - BUS_GAP // 2))
    previous_bus: int | None = None
    for band in bands:
        bus_y = y - BUS_GAP // 2
        if top is not None:
            # The bus over the band's heads; with several bands it starts at the trunk, which joins it to the first.
            first_x = trunk_x if len(bands) > 1 else left + NODE_WIDTH // 2
            picture.lines.append((first_x, bus_y, left + (len(band) - 1) * pitch + NODE_WIDTH // 2, bus_y))
            if previous_bus is not None:
                picture.lines.append((trunk_x, previous_bus, trunk_x, bus_y))
            previous_bus = bus_y
        band_height = 0
        for index, head in enumerate(band):
            x = left + index * pitch
            if top is not None:
                picture.lines.append((x + NODE_WIDTH // 2, bus_y, x + NODE_WIDTH // 2, y))
            row_y = y
            placed: dict[str, Node] = {}
            for site, depth in _stack(head, below):
                indent = min(depth, 4) * INDENT
                node = Node(site, x + indent, row_y, NODE_WIDTH - indent)
                parent = placed.get(site.parent or "")
                if depth and parent is not None:  # an elbow from the parent's bottom edge to this node's side
                    spine, middle = parent.x + INDENT // 2, row_y + NODE_HEIGHT // 2
                    picture.lines.append((spine, parent.y + NODE_HEIGHT, spine, middle))
                    picture.lines.append((spine, middle, node.x, middle))
                placed[site.name] = node
                picture.nodes.append(node)
                row_y += NODE_HEIGHT + ROW_GAP
            band_height = max(band_height, row_y - ROW_GAP - y)
        y += band_height + BUS_GAP
    picture.height = y - BUS_GAP + MARGIN
    return picture
