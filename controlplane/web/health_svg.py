"""The health picture's SVG markup, written here rather than in a template: a national picture has a hundred
nodes and five hundred badges, and Jinja spends a quarter of a millisecond on each node (Python string
building: a few microseconds).

Every text and attribute value that is not a number is escaped
(``html.escape``, quotes included) before it is joined in; the markup uses
classes only (no style attribute: the console's CSP blocks them), coloured
by console.css. Each node carries ``data-site``
and ``data-health``, each badge ``data-dimension`` and ``data-state``, for
tests and for the lab's browser test.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from html import escape
from urllib.parse import quote

from markupsafe import Markup

from controlplane.web.health import Measure
from controlplane.web.health_picture import BADGE_WIDTH, NODE_HEIGHT, Node, Picture, clip

MARKS = {"ok": "✓", "warn": "!", "bad": "✕", "unknown": "?"}
BADGE_Y = 37
BADGE_HEIGHT = 16


@dataclass(frozen=True)
class Words:
    """The picture's words in the reader's language (translated by the caller), and the pages badges link to."""

    labels: dict[str, str]  # dimension -> "Hosts up"...
    states: dict[str, str]  # state -> "healthy"...
    unknown: dict[str, str]  # dimension -> what an unknown badge says
    counted: str  # "%(good)d of %(total)d"
    scored: str  # "%(score)s after waivers (%(held)d of %(total)d results hold)"
    alerted: str  # "%(firing)d firing, %(handled)d acknowledged or silenced"
    summary: str  # the picture's description for screen readers
    pages: dict[str, str] = field(default_factory=dict)  # dimension -> URL path of its page


def _tooltip(words: Words, dimension: str, measure: Measure) -> str:
    if measure.state == "unknown":
        detail = words.unknown[dimension]
    elif dimension == "compliance":
        detail = words.scored % {"score": measure.shown, "held": measure.good, "total": measure.total}
    elif dimension == "alerts":
        detail = words.alerted % {"firing": measure.total, "handled": measure.good}
    else:
        detail = words.counted % {"good": measure.good, "total": measure.total}
    return f"{words.labels[dimension]}: {detail}"


def node_markup(node: Node, words: Words, title: str) -> str:
    """One site's ``<g>``: its box linking to its hosts, its name, its state mark and one badge per dimension."""
    site = node.site
    query = "?site=" + quote(site.name, safe="")
    state, name = site.state, escape(site.name)
    second = clip(site.name, 26) if title != site.name else site.level
    parts = [
        f'<g class="site-node health-{state}" data-site="{name}" data-health="{state}" '
        f'transform="translate({node.x},{node.y})">',
        f'<a href="{escape(words.pages["hosts"] + query)}"><title>{escape(title)} ({name}): '
        f"{escape(words.states[state])}</title>",
        f'<rect class="node-box" width="{node.width}" height="{NODE_HEIGHT}" rx="5"/>',
        f'<text class="node-title" x="8" y="17">{escape(clip(title))}</text>',
        f'<text class="node-name" x="8" y="30">{escape(second)}</text>',
        f'<text class="node-mark" x="{node.width - 8}" y="17">{MARKS[state]}</text></a>',
    ]
    for dimension, offset in node.badges:
        measure = site.measures[dimension]
        parts.append(
            f'<a class="badge badge-{measure.state}" href="{escape(words.pages[dimension] + query)}" '
            f'data-dimension="{dimension}" data-state="{measure.state}"><title>'
            f"{escape(_tooltip(words, dimension, measure))}</title>"
            f'<rect x="{offset}" y="{BADGE_Y}" width="{BADGE_WIDTH}" height="{BADGE_HEIGHT}" rx="3"/>'
            f'<text x="{offset + BADGE_WIDTH // 2}" y="{BADGE_Y + 12}">{escape(measure.shown)}</text></a>'
        )
    parts.append("</g>")
    return "".join(parts)


def svg(picture: Picture, words: Words, title_of: Callable[[str], str]) -> Markup:
    """The whole ``<svg>`` element of ``picture`` (``title_of``: a site's title in the reader's language)."""
    lines = "".join(f'<line x1="{a}" y1="{b}" x2="{c}" y2="{d}"/>' for a, b, c, d in picture.lines)
    parts = [
        f'<svg class="health-tree" viewBox="0 0 {picture.width} {picture.height}" width="{picture.width}" '
        f'height="{picture.height}" role="img" aria-labelledby="health-title health-summary">',
        f'<desc id="health-summary">{escape(words.summary)}</desc>',
        f'<g class="tree-lines">{lines}</g>',
        *(node_markup(node, words, title_of(node.site.name)) for node in picture.nodes),
        "</svg>",
    ]
    return Markup("\n".join(parts))  # noqa: S704  (every value above is a number, a fixed word or escaped)
