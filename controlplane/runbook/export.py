"""Exports of a runbook journal: JSON, Markdown and a self-contained HTML page.

All three are built from :func:`controlplane.runbook.journal.read_journal`;
HTML escapes every value (outputs come from remote hosts and may hold
anything) and loads nothing from outside.
"""

from __future__ import annotations

import html
import json
from typing import Any

FORMATS = ("json", "md", "html")


def to_json(journal: dict[str, Any]) -> str:
    """Return the journal as indented JSON text."""
    return json.dumps(journal, indent=2, ensure_ascii=False, default=str) + "\n"


def _seconds(value: Any) -> str:
    return f"{value:.2f} s" if isinstance(value, int | float) else "-"


def _headline(journal: dict[str, Any]) -> list[tuple[str, str]]:
    run = journal["run"]
    figures = journal.get("figures") or {}
    rows = [
        ("runbook", str(journal.get("runbook"))),
        ("mode", str(journal.get("mode"))),
        ("status", str(run["status"])),
        ("actor", str(run["actor"])),
        ("trigger", str(run["trigger"])),
        ("targets", ", ".join(journal.get("targets") or [])),
        ("parameters", ", ".join(f"{k}={v}" for k, v in (journal.get("params") or {}).items())),
        ("started (UTC)", str(run.get("started_at"))),
        ("finished (UTC)", str(run.get("finished_at"))),
        ("duration", _seconds(run.get("duration_seconds"))),
    ]
    if "rto_seconds" in figures or "rto_objective_seconds" in figures:
        met = figures.get("rto_met")
        verdict = "met" if met else ("missed" if met is False else "not measured")
        rto, objective = _seconds(figures.get("rto_seconds")), _seconds(figures.get("rto_objective_seconds"))
        rows.append(("RTO", f"{rto} (objective {objective}, {verdict})"))
    return rows


def to_markdown(journal: dict[str, Any]) -> str:
    """Return the journal as a Markdown report (headline table, one section per entry)."""
    run = journal["run"]
    lines = [f"# Runbook journal: {journal.get('runbook')} (run {run['id']})", ""]
    lines += ["| | |", "|---|---|"]
    lines += [f"| {key} | {value.replace('|', '/')} |" for key, value in _headline(journal)]
    lines += ["", "## Activities", "", "| # | phase | activity | attempt | status | duration |"]
    lines.append("|---|---|---|---|---|---|")
    for entry in journal["entries"]:
        name = entry["name"].replace("|", "/")
        lines.append(
            f"| {entry['seq']} | {entry['phase']} | {name} | {entry['attempt']} | {entry['status']} | "
            f"{_seconds(entry['duration_seconds'])} |"
        )
    for entry in journal["entries"]:
        if not entry["output"]:
            continue
        lines += ["", f"### {entry['seq']}. {entry['phase']}: {entry['name']}", "", "```text"]
        lines += [line.replace("```", "'''") for line in entry["output"]]
        lines.append("```")
    return "\n".join(lines) + "\n"


STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem;color:#222}
table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.3rem .6rem;text-align:left}
.succeeded{color:#176f2c}.failed,.interrupted{color:#b00020}.running{color:#0055aa}
pre{background:#f5f5f5;padding:.6rem;overflow-x:auto;white-space:pre-wrap}
"""


def to_html(journal: dict[str, Any]) -> str:
    """Return the journal as one self-contained, escaped HTML page."""
    esc = html.escape
    run = journal["run"]
    head = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in _headline(journal))
    rows = "".join(
        f"<tr><td>{entry['seq']}</td><td>{esc(entry['phase'])}</td><td>{esc(entry['name'])}</td>"
        f'<td>{entry["attempt"]}</td><td class="{esc(entry["status"])}">{esc(entry["status"])}</td>'
        f"<td>{esc(_seconds(entry['duration_seconds']))}</td></tr>"
        for entry in journal["entries"]
    )
    outputs = "".join(
        f"<h3>{entry['seq']}. {esc(entry['phase'])}: {esc(entry['name'])}</h3>"
        f"<pre>{esc(chr(10).join(entry['output']))}</pre>"
        for entry in journal["entries"]
        if entry["output"]
    )
    title = esc(f"Runbook journal: {journal.get('runbook')} (run {run['id']})")
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{STYLE}</style></head><body><h1>{title}</h1><table>{head}</table>"
        "<h2>Activities</h2><table><tr><th>#</th><th>phase</th><th>activity</th><th>attempt</th>"
        f"<th>status</th><th>duration</th></tr>{rows}</table>{outputs}</body></html>\n"
    )


def export(journal: dict[str, Any], fmt: str) -> str:
    """Return the journal in ``fmt`` (json, md or html); raise ValueError for another format."""
    if fmt == "json":
        return to_json(journal)
    if fmt == "md":
        return to_markdown(journal)
    if fmt == "html":
        return to_html(journal)
    raise ValueError(f"unknown journal format {fmt!r}: use {', '.join(FORMATS)}")
