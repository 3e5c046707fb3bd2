"""Stored scans: saving one, reading it back as a Scan, and the queries reports and the console need.

Scans are kept whole (results per scan, never overwritten) so a report of any
past scan can be rebuilt and two scans compared. "Current" compliance of a
host is the result set of the newest scan that included that host: a scan of
one site does not make the other sites' results disappear.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from controlplane.compliance.evaluate import HostContext, Result
from controlplane.compliance.models import ComplianceResult, ComplianceScan
from controlplane.compliance.scanner import HostScan, Scan
from controlplane.compliance.scoring import by_severity, by_site, score
from controlplane.compliance.waivers import Waiver


@dataclass
class StoredScan:
    """A scan read back from the store: its row's facts, the Scan and the waivers it used."""

    id: int
    run_id: int | None
    scope: str
    site: str | None
    trigger: str
    actor: str
    scan: Scan
    waivers: list[Waiver] = field(default_factory=list)

    @property
    def oscal_id(self) -> str:
        """A scan id for stable OSCAL UUIDs: the row id and start time (ids repeat across databases)."""
        return f"{self.id}@{self.scan.started.isoformat()}"


def _result_values(scan_id: int, result: Result) -> dict[str, Any]:
    return {
        "scan_id": scan_id,
        "host": result.host,
        "site": result.site,
        "control_id": result.control_id,
        "severity": result.severity,
        "status": result.status,
        "original_status": result.original_status,
        "found": result.found,
        "expected": result.expected,
        "message": result.message,
        "remediation": dict(result.remediation),
        "waiver": result.waiver,
    }


def _result(row: ComplianceResult) -> Result:
    return Result(
        control_id=row.control_id,
        host=row.host,
        site=row.site,
        severity=row.severity,
        status=row.status,
        found=row.found,
        expected=row.expected,
        message=row.message,
        remediation=dict(row.remediation or {}),
        waiver=row.waiver,
        original_status=row.original_status,
    )


def results_digest(results: Iterable[Result], algorithm: str) -> str:
    """The labelled digest (``sm3:<hex>`` or ``sha256:<hex>``) of a scan's results as stored.

    Over the canonical JSON of every result (evidence found and expected,
    verdict, waiver) sorted by host and control, so the same results give the
    same digest whatever order the hosts answered in. The scan's audit record
    keeps it: a stored result edited afterwards no longer matches the chain.
    """
    from controlplane.audit import canonical_json, evidence_digest

    values = sorted(
        (_result_values(0, result) for result in results), key=lambda value: (value["host"], value["control_id"])
    )
    for value in values:
        del value["scan_id"]
    return evidence_digest(canonical_json(values).encode("utf-8"), algorithm)


def summary_of(results: Iterable[Result]) -> dict[str, Any]:
    """The scores kept on the scan row: overall, per site and per severity (JSON-ready)."""
    items = list(results)
    return {
        "overall": score(items).to_dict(),
        "by_site": {name: value.to_dict() for name, value in by_site(items).items()},
        "by_severity": {name: value.to_dict() for name, value in by_severity(items).items()},
    }


def save_scan(
    session: Session,
    scan: Scan,
    *,
    run_id: int | None,
    scope: str,
    site: str | None,
    trigger: str,
    actor: str,
    waivers: Iterable[Waiver] = (),
) -> ComplianceScan:
    """Store a finished scan and every result; return the flushed scan row (its id set)."""
    row = ComplianceScan(
        run_id=run_id,
        started_at=scan.started,
        finished_at=scan.finished,
        catalog_version=scan.catalog_version,
        scope=scope[:255],
        site=site,
        trigger=trigger,
        actor=actor[:128],
        hosts={
            host.host.name: {
                "site": host.host.site,
                "roles": list(host.host.roles),
                "reachable": host.reachable,
                "reason": host.evidence.get("unreachable") or "",
                "seconds": round(host.seconds, 3),
            }
            for host in scan.hosts
        },
        summary=summary_of(scan.results),
        waivers=[waiver.to_dict() for waiver in waivers],
    )
    session.add(row)
    session.flush()
    values = [_result_values(row.id, result) for result in scan.results]
    if values:
        # One executemany: a scan of a few hundred hosts is tens of thousands of rows.
        session.execute(insert(ComplianceResult), values)
    return row


def _waiver(data: dict[str, Any]) -> Waiver:
    return Waiver(
        control=data["control"],
        justification=data["justification"],
        approver=data["approver"],
        expires=date.fromisoformat(data["expires"]),
        hosts=tuple(data.get("hosts", [])),
        sites=tuple(data.get("sites", [])),
        source=data.get("source", ""),
    )


def load_scan(session: Session, scan_id: int, hosts: Collection[str] | None = None) -> StoredScan | None:
    """Read a stored scan back (optionally only some hosts); None when there is no such scan."""
    row = session.get(ComplianceScan, scan_id)
    if row is None:
        return None
    query = select(ComplianceResult).where(ComplianceResult.scan_id == scan_id).order_by(ComplianceResult.id)
    if hosts is not None:
        query = query.where(ComplianceResult.host.in_(list(hosts)))
    by_host: dict[str, list[Result]] = {}
    for result_row in session.scalars(query):
        by_host.setdefault(result_row.host, []).append(_result(result_row))
    host_scans = []
    for name, facts in (row.hosts or {}).items():
        if hosts is not None and name not in hosts:
            continue
        context = HostContext(name, facts.get("site", ""), tuple(facts.get("roles", [])))
        evidence = {} if facts.get("reachable", True) else {"unreachable": facts.get("reason") or "unreachable"}
        host_scans.append(HostScan(context, by_host.get(name, []), evidence, float(facts.get("seconds", 0.0))))
    scan = Scan(started=row.started_at, finished=row.finished_at, catalog_version=row.catalog_version, hosts=host_scans)
    return StoredScan(
        id=row.id,
        run_id=row.run_id,
        scope=row.scope,
        site=row.site,
        trigger=row.trigger,
        actor=row.actor,
        scan=scan,
        waivers=[_waiver(item) for item in row.waivers or []],
    )


def latest_scan_id(session: Session, hosts: Collection[str] | None = None, before: int | None = None) -> int | None:
    """The newest scan (optionally older than ``before``) that covered any of ``hosts`` (None: any scan)."""
    if hosts is None:
        query = select(func.max(ComplianceScan.id))
        if before is not None:
            query = query.where(ComplianceScan.id < before)
        return session.scalar(query)
    query = select(func.max(ComplianceResult.scan_id)).where(ComplianceResult.host.in_(list(hosts)))
    if before is not None:
        query = query.where(ComplianceResult.scan_id < before)
    return session.scalar(query)


def previous_results(session: Session, scan_id: int, hosts: Collection[str]) -> list[Result] | None:
    """Results, for the same hosts, of the newest scan before ``scan_id`` that covered them (None: first scan)."""
    previous = latest_scan_id(session, hosts, before=scan_id)
    if previous is None:
        return None
    query = select(ComplianceResult).where(ComplianceResult.scan_id == previous, ComplianceResult.host.in_(list(hosts)))
    return [_result(row) for row in session.scalars(query.order_by(ComplianceResult.id))]


def latest_scan_per_host(session: Session, hosts: Collection[str] | None = None) -> dict[str, int]:
    """For each host ever scanned (or each of ``hosts``), the id of the newest scan that included it."""
    query = select(ComplianceResult.host, func.max(ComplianceResult.scan_id)).group_by(ComplianceResult.host)
    if hosts is not None:
        query = query.where(ComplianceResult.host.in_(list(hosts)))
    return {host: scan_id for host, scan_id in session.execute(query)}


def current_results(session: Session, hosts: Collection[str] | None = None) -> list[Result]:
    """Every host's results from the newest scan that included it (the state shown and exported as metrics)."""
    latest = latest_scan_per_host(session, hosts)
    results: list[Result] = []
    by_scan: dict[int, list[str]] = {}
    for host, scan_id in latest.items():
        by_scan.setdefault(scan_id, []).append(host)
    for scan_id, names in sorted(by_scan.items()):
        query = select(ComplianceResult).where(ComplianceResult.scan_id == scan_id, ComplianceResult.host.in_(names))
        results += [_result(row) for row in session.scalars(query.order_by(ComplianceResult.id))]
    return results


def host_facts(session: Session, latest: dict[str, int]) -> dict[str, dict[str, Any]]:
    """Per host: the facts kept on its newest scan row plus that scan's id and time."""
    facts: dict[str, dict[str, Any]] = {}
    rows = {
        row.id: row
        for row in session.scalars(select(ComplianceScan).where(ComplianceScan.id.in_(set(latest.values()))))
    }
    for host, scan_id in latest.items():
        row = rows[scan_id]
        facts[host] = {**(row.hosts or {}).get(host, {}), "scan_id": scan_id, "finished_at": row.finished_at}
    return facts


def host_trend(session: Session, host: str, limit: int = 20) -> list[dict[str, Any]]:
    """The host's score in each of its last ``limit`` scans, oldest first: ``{scan_id, at, score}``."""
    scan_ids = list(
        session.scalars(
            select(ComplianceResult.scan_id)
            .where(ComplianceResult.host == host)
            .group_by(ComplianceResult.scan_id)
            .order_by(ComplianceResult.scan_id.desc())
            .limit(limit)
        )
    )
    trend = []
    for scan_id in sorted(scan_ids):
        rows = session.scalars(
            select(ComplianceResult).where(ComplianceResult.scan_id == scan_id, ComplianceResult.host == host)
        )
        at = session.get(ComplianceScan, scan_id).finished_at  # type: ignore[union-attr]
        trend.append({"scan_id": scan_id, "at": at, "score": score(_result(row) for row in rows)})
    return trend


def recent_scans(session: Session, limit: int = 20) -> list[ComplianceScan]:
    """The newest scan rows first."""
    return list(session.scalars(select(ComplianceScan).order_by(ComplianceScan.id.desc()).limit(limit)))
