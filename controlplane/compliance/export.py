"""Reports of a stored scan: HTML, JSON, CSV and OSCAL, all built from the same data.

``egov report compliance`` and the console's downloads both call
:func:`load_report` (which scan, which hosts, the previous scan for the
change list) and then :func:`render`. The JSON document
(:func:`controlplane.compliance.report.json_report`) is the source of the
HTML and CSV views, so they cannot disagree; OSCAL is built from the same
results. Every format states the catalog version, the scan time and the scope.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controlplane.compliance.catalog import Catalog, load_catalog
from controlplane.compliance.evaluate import Result
from controlplane.compliance.history import StoredScan, latest_scan_id, load_scan, previous_results
from controlplane.compliance.oscal import assessment_results
from controlplane.compliance.report import json_report, restrict_results, waivers_for
from controlplane.compliance.scanner import Scan
from controlplane.compliance.scoring import Score
from controlplane.errors import BadInputError, EgovError

if TYPE_CHECKING:
    from controlplane.config import Config
    from controlplane.inventory import Inventory
    from controlplane.store import Store

FORMATS = ("html", "json", "csv", "oscal")
MEDIA_TYPES = {
    "html": "text/html; charset=utf-8",
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "oscal": "application/json",
}
EXTENSIONS = {"html": "html", "json": "json", "csv": "csv", "oscal": "oscal.json"}
CSV_COLUMNS = (
    "scan_started", "catalog_version", "scope", "site", "host", "control_id", "title_en", "title_zh", "severity",
    "status", "original_status", "found", "expected", "message", "fix_playbook", "fix_role", "fix_tag",
    "cis", "mlps", "nist", "waiver_approver", "waiver_expires", "waiver_justification",
)  # fmt: skip


@dataclass
class ReportData:
    """Everything a report needs: the stored scan (restricted to the scope), catalog, previous results."""

    stored: StoredScan
    catalog: Catalog
    previous: list[Result] | None
    scope: str

    @property
    def document(self) -> dict[str, Any]:
        """The JSON report (see REPORT_SCHEMA)."""
        return json_report(self.stored.scan, self.catalog, self.stored.waivers, self.previous, self.scope)


def site_hosts(stored_hosts: dict[str, dict[str, Any]], site: str, inventory: Inventory | None = None) -> list[str]:
    """Hosts of a stored scan that belong to a site or a site below it (by the inventory, when given)."""
    sites = inventory.site_and_descendants(site) if inventory is not None and site in inventory.sites else {site}
    return [name for name, facts in stored_hosts.items() if facts.get("site") in sites]


def restrict_waivers(stored: StoredScan) -> StoredScan:
    """The stored scan with only the waivers of its (already restricted) hosts, reduced to them.

    Applied to every report restricted to a site or a reader's scope, so
    the JSON, CSV, HTML and OSCAL forms all name no host or site outside it.
    """
    hosts = {host.host.name for host in stored.scan.hosts}
    sites = {host.host.site for host in stored.scan.hosts}
    scan_hosts = [
        dataclasses.replace(host, results=restrict_results(host.results, hosts, sites)) for host in stored.scan.hosts
    ]
    scan = Scan(stored.scan.started, stored.scan.finished, stored.scan.catalog_version, scan_hosts)
    return dataclasses.replace(stored, scan=scan, waivers=waivers_for(stored.waivers, hosts, sites))


def load_report(
    config: Config,
    store: Store,
    *,
    site: str | None = None,
    scan_id: int | None = None,
    inventory: Inventory | None = None,
    allowed: Collection[str] | None = None,
    scope_label: str | None = None,
) -> ReportData:
    """Pick the scan and hosts of a report.

    A ``site`` selects the newest scan that covered it, restricted to its
    hosts and those of the sites below it (the inventory gives the
    hierarchy); ``allowed`` is the reader's scope (None: all hosts). A
    restricted report holds only the waivers of its hosts
    (:func:`restrict_waivers`) and does not repeat the scan's own scope text,
    which may name other hosts. Raises BadInputError for an unknown scan or a
    site no scan covered, EgovError when nothing was scanned yet.
    """
    from sqlalchemy import select

    from controlplane.compliance.models import ComplianceResult, ComplianceScan

    with store.session() as session:
        wanted: set[str] | None = set(allowed) if allowed is not None else None
        if site is not None:
            pairs = session.execute(select(ComplianceResult.host, ComplianceResult.site).distinct())
            in_site = set(site_hosts({host: {"site": where} for host, where in pairs}, site, inventory))
            wanted = in_site if wanted is None else wanted & in_site
            if not wanted:
                raise BadInputError(f"no stored scan covers site {site!r}")
        if scan_id is None:
            scan_id = latest_scan_id(session, wanted)
            if scan_id is None:
                raise EgovError("no scan is stored yet: run `egov scan` first")
        row = session.get(ComplianceScan, scan_id)
        if row is None:
            raise BadInputError(f"no scan {scan_id}")
        hosts = None if wanted is None else [name for name in (row.hosts or {}) if name in wanted]
        if hosts is not None and not hosts:
            raise BadInputError(f"scan {scan_id} did not cover {('site ' + site) if site else 'these hosts'}")
        stored = load_scan(session, scan_id, hosts)
        assert stored is not None  # noqa: S101 - the row exists
        previous = previous_results(session, scan_id, [host.host.name for host in stored.scan.hosts])
    catalog = dataclasses.replace(load_catalog(Path(config.controls)), version=stored.scan.catalog_version)
    if wanted is None:
        return ReportData(stored, catalog, previous, f"{stored.scope} (scan {scan_id})")
    label = f"site {site}" if site else (scope_label or "some hosts")
    return ReportData(restrict_waivers(stored), catalog, previous, f"{label} (from scan {scan_id})")


def report_digest(config: Config, content: bytes) -> str:
    """The labelled digest of a report as handed out (``sm3:<hex>`` under ``audit.hash: sm3``).

    Kept in the report's audit record, so a file an assessor received can be
    matched to the keyed audit chain: recompute it with the hash its label names.
    """
    from controlplane.audit import evidence_digest

    return evidence_digest(content, config.audit_hash)


def render(data: ReportData, fmt: str) -> bytes:
    """The report in one format (html, json, csv, oscal) as bytes. Raises BadInputError for another format."""
    if fmt == "json":
        return _json_bytes(data.document)
    if fmt == "csv":
        return render_csv(data.document).encode("utf-8-sig")  # BOM: spreadsheet software then reads UTF-8 (Chinese)
    if fmt == "oscal":
        scan = data.stored.scan
        return _json_bytes(
            assessment_results(
                scan.results,
                data.catalog,
                [host.host for host in scan.hosts],
                scan_id=data.stored.oscal_id,
                started=scan.started,
                finished=scan.finished,
                scope=data.scope,
            )
        )
    if fmt == "html":
        return render_html(data.document, data.catalog).encode("utf-8")
    raise BadInputError(f"unknown report format {fmt!r} (use one of {', '.join(FORMATS)})")


def filename(data: ReportData, fmt: str) -> str:
    """A download name: ``compliance-scan-ID-YYYYMMDD.EXT`` (the scope is stated inside the file)."""
    stamp = data.stored.scan.started.strftime("%Y%m%d")
    return f"compliance-scan-{data.stored.id}-{stamp}.{EXTENSIONS[fmt]}"


def _json_bytes(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def _cell(value: Any) -> str:
    """A CSV cell that a spreadsheet never runs as a formula (found values come from hosts)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def render_csv(document: dict[str, Any]) -> str:
    """One row per (host, control) result with its evidence, fix, references and waiver."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    controls = document["controls"]
    for result in document["results"]:
        control = controls.get(result["control_id"], {})
        refs = control.get("references", {})
        cis = refs.get("cis")
        fix = result.get("remediation") or {}
        waiver = result.get("waiver") or {}
        row = [
            document["scan"]["started"], document["catalog_version"], document["scope"], result["site"],
            result["host"], result["control_id"], control.get("title_en", ""), control.get("title_zh", ""),
            result["severity"], result["status"], result.get("original_status") or "", result["found"],
            result["expected"], result["message"], fix.get("playbook", ""), fix.get("role", ""), fix.get("tag", ""),
            f"{cis.get('id', '-')} (CIS Debian 12 v{cis['version']})" if cis else "",
            "; ".join(f"{m['clause']} {m['title']}" for m in refs.get("mlps", [])),
            " ".join(refs.get("nist", [])), waiver.get("approver", ""), waiver.get("expires", ""),
            waiver.get("justification", ""),
        ]  # fmt: skip
        writer.writerow([_cell(value) for value in row])
    return out.getvalue()


def _score(data: dict[str, Any]) -> Score:
    return Score(**{key: data[key] for key in ("passed", "failed", "errors", "waived", "not_applicable")})


def mlps_view(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Controls grouped by MLPS 2.0 category: per control its counts and the hosts that do not hold it."""
    groups: dict[str, dict[str, Any]] = {}
    per_control: dict[str, list[dict[str, Any]]] = {}
    for result in document["results"]:
        per_control.setdefault(result["control_id"], []).append(result)
    for control_id, control in document["controls"].items():
        results = per_control.get(control_id, [])
        counts = {status: sum(1 for r in results if r["status"] == status) for status in
                  ("pass", "fail", "waived", "error", "not_applicable")}  # fmt: skip
        failing = sorted(r["host"] for r in results if r["status"] in ("fail", "error"))
        for ref in control["references"].get("mlps", []):
            key = f"{ref['clause']} {ref['title']}"
            group = groups.setdefault(key, {"clause": ref["clause"], "title": ref["title"], "controls": []})
            group["controls"].append({"id": control_id, **control, "counts": counts, "failing": failing,
                                      "item": ref.get("item", "")})  # fmt: skip
    for key, group in groups.items():
        group["score"] = document["scores"]["by_mlps"].get(group["title"])
        group["key"] = key
    return [groups[key] for key in sorted(groups)]


def render_html(document: dict[str, Any], catalog: Catalog) -> str:
    """The printable, self-contained HTML report (inline CSS and SVG, no script, no external link)."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    from controlplane.compliance import charts

    env = Environment(
        loader=PackageLoader("controlplane.compliance", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    scores = document["scores"]
    site_rows = [(name, _score(value)) for name, value in scores["by_site"].items()]
    severity_rows = [(name, _score(scores["by_severity"][name])) for name in
                     ("critical", "high", "medium", "low") if name in scores["by_severity"]]  # fmt: skip
    host_rows = [(name, _score(value)) for name, value in scores["by_host"].items()]
    by_host: dict[str, list[dict[str, Any]]] = {}
    for result in document["results"]:
        by_host.setdefault(result["host"], []).append(result)
    return env.get_template("report.html").render(
        doc=document,
        overall=_score(scores["overall"]),
        donut=charts.donut(_score(scores["overall"]), title="all results by status"),
        site_chart=charts.bars(site_rows, title="score per site"),
        severity_chart=charts.bars(severity_rows, title="score per severity"),
        host_chart=charts.bars(host_rows, title="score per host"),
        mlps=mlps_view(document),
        by_host=by_host,
        hosts_scores={name: _score(value) for name, value in scores["by_host"].items()},
        controls=document["controls"],
        catalog_size=len(catalog),
    )


def write_report(content: bytes, output: str | None) -> None:
    """Write to a file (atomically, 0640) or to stdout when ``output`` is None or ``-``."""
    import os
    import sys
    import tempfile

    if output in (None, "-"):
        sys.stdout.buffer.write(content)
        sys.stdout.buffer.flush()
        return
    target = Path(str(output))
    with tempfile.NamedTemporaryFile("wb", dir=target.parent if str(target.parent) else ".", delete=False) as out:
        out.write(content)
    os.chmod(out.name, 0o640)
    Path(out.name).replace(target)
