"""What a verify found, and where it is kept: the reachability matrix, the hygiene findings, the stored reports.

A :class:`VerifyReport` is the evidence an MLPS assessor asks for under
8.1.3 ("no uncontrolled path"): every path tested from a host in each zone
(:class:`PathResult`: source, destination, port, what was observed, what the
flow file expects, the gateway rule that let it through or dropped it) and
what the gateways' rulesets show (:class:`Finding`). Reports are stored whole
as JSON in ``network_verifies`` (:mod:`.records`), one row per verify, with the
counts beside it for fast listings; the console, the compliance checks and
the alerts read them back through :func:`latest_report` and :func:`list_reports`.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from controlplane.network.records import NetworkVerify

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

# Observed outcomes of one probe; "open" for ICMP means an echo reply came back.
OBSERVED = ("open", "refused", "timeout", "unreachable", "error")
VERDICTS = ("ok", "violation", "breakage")
FINDING_KINDS = (
    "unjustified-rule",  # an accept rule no current flow explains (MLPS 8.1.3: minimal rules)
    "shadowed-rule",  # a rule an earlier rule always decides first: dead, or hiding a mistake
    "unknown-host",  # an address seen on a zone that the inventory does not place there
    "gateway-unreachable",  # no ruleset read from a gateway: no evidence, no hygiene for it
    "source-unreachable",  # a zone's paths were not tested: the matrix is incomplete
    "boundary-missing",  # a gateway without the egov_boundary table forwards everything
)
# Findings that mean the verify could not test or read everything: they make it fail (exit 1).
INCOMPLETE_KINDS = ("source-unreachable", "gateway-unreachable")


@dataclass(frozen=True)
class PathResult:
    """One tested path: from a host (or the control plane) to a host's address on a port, observed vs expected."""

    source: str  # host name, or "controlplane" for the management zone
    source_zone: str
    destination: str
    destination_zone: str
    address: str  # the address probed (zone address; management address for management flows)
    protocol: str  # "tcp" | "icmp"
    port: int | None
    expected: str  # "allow" | "deny"
    flow: str | None  # id of the flow that allows it
    observed: str  # one of OBSERVED
    verdict: str  # one of VERDICTS
    rule: str | None = None  # gateway evidence: "mn-gw-1 flow:public-web +2 packets", "gd-gw-1 dropped (policy)"

    @property
    def where(self) -> str:
        """``source -> destination address:port/proto``: how messages, alerts and the console name a path."""
        port = f":{self.port}" if self.port is not None else ""
        return f"{self.source} -> {self.destination} {self.address}{port}/{self.protocol}"

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "source_zone": self.source_zone,
            "destination": self.destination,
            "destination_zone": self.destination_zone,
            "address": self.address,
            "protocol": self.protocol,
            "port": self.port,
            "expected": self.expected,
            "flow": self.flow,
            "observed": self.observed,
            "verdict": self.verdict,
            "rule": self.rule,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PathResult:
        return cls(**{name: data.get(name) for name in PATH_FIELDS})


PATH_FIELDS = tuple(PathResult.__dataclass_fields__)


@dataclass(frozen=True)
class Finding:
    """One rule-hygiene or coverage finding: its kind, the gateway or zone it is about, and what was seen."""

    kind: str  # one of FINDING_KINDS
    where: str  # gateway or zone (or source host for source-unreachable)
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "where": self.where, "detail": self.detail}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Finding:
        return cls(kind=str(data["kind"]), where=str(data["where"]), detail=str(data.get("detail", "")))


@dataclass(frozen=True)
class VerifyReport:
    """A whole verify: when, every tested path and every finding; stored with its run.

    ``zone`` is None for a verify of the whole network, else the zone its
    paths were limited to (``--zone``, or a runbook verifying one host's
    zone); ``actor`` is who asked for it.
    """

    id: int | None
    run_id: int | None
    started_at: dt.datetime
    finished_at: dt.datetime
    paths: tuple[PathResult, ...]
    findings: tuple[Finding, ...]
    zone: str | None = None
    actor: str = ""
    sources: tuple[str, ...] = field(default=())  # hosts probed from (and "controlplane"), in plan order
    # gateway -> what its boundary looked like (hygiene.gateway_state): table, policy, default_deny, logs_drops...
    gateways: dict[str, dict[str, Any]] = field(default_factory=dict, compare=False, hash=False)

    @property
    def violations(self) -> tuple[PathResult, ...]:
        """Paths open that the flow file says must be closed."""
        return tuple(path for path in self.paths if path.verdict == "violation")

    @property
    def breakages(self) -> tuple[PathResult, ...]:
        """Allowed flows that did not work."""
        return tuple(path for path in self.paths if path.verdict == "breakage")

    @property
    def incomplete(self) -> tuple[Finding, ...]:
        """Findings saying some source or gateway could not be reached (paths untested, evidence missing)."""
        return tuple(finding for finding in self.findings if finding.kind in INCOMPLETE_KINDS)

    @property
    def ok(self) -> bool:
        """No violation, no breakage, and every source and gateway reached (hygiene findings do not count)."""
        return not self.violations and not self.breakages and not self.incomplete

    @property
    def exit_code(self) -> int:
        """0 when :attr:`ok`, else 1 (the CLI's exit code, the run's exit code)."""
        return 0 if self.ok else 1

    def summary(self) -> dict[str, Any]:
        """The counts every listing shows (the run's summary, the API's list)."""
        return {
            "verify_id": self.id,
            "zone": self.zone,
            "paths": len(self.paths),
            "violations": len(self.violations),
            "breakages": len(self.breakages),
            "findings": len(self.findings),
            "unreachable": [finding.where for finding in self.incomplete],
            "ok": self.ok,
            "seconds": round((self.finished_at - self.started_at).total_seconds(), 3),
        }

    def to_json(self) -> dict[str, Any]:
        """The documented JSON form (``egov network verify --json``, the stored result, the API)."""
        return {
            "id": self.id,
            "run_id": self.run_id,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat(),
            "zone": self.zone,
            "actor": self.actor,
            "sources": list(self.sources),
            "gateways": self.gateways,
            "ok": self.ok,
            "counts": {
                "paths": len(self.paths),
                "violations": len(self.violations),
                "breakages": len(self.breakages),
                "findings": len(self.findings),
            },
            "paths": [path.to_json() for path in self.paths],
            "findings": [finding.to_json() for finding in self.findings],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> VerifyReport:
        """Rebuild a report from :meth:`to_json`'s form; raises KeyError/ValueError for another document."""
        return cls(
            id=data.get("id"),
            run_id=data.get("run_id"),
            started_at=dt.datetime.fromisoformat(data["started_at"]),
            finished_at=dt.datetime.fromisoformat(data["finished_at"]),
            paths=tuple(PathResult.from_json(item) for item in data.get("paths", [])),
            findings=tuple(Finding.from_json(item) for item in data.get("findings", [])),
            zone=data.get("zone"),
            actor=str(data.get("actor") or ""),
            sources=tuple(data.get("sources") or ()),
            gateways=dict(data.get("gateways") or {}),
        )

    def with_ids(self, verify_id: int | None, run_id: int | None) -> VerifyReport:
        """The same report carrying its stored id and run id."""
        return VerifyReport(
            verify_id, run_id, self.started_at, self.finished_at, self.paths, self.findings,
            self.zone, self.actor, self.sources, self.gateways,
        )  # fmt: skip


def scope_of(zone: str | None) -> str:
    """The stored scope of a report's ``zone``: ``all``, ``zone:NAME``, or as given for ``host:...`` verifies."""
    if not zone:
        return "all"
    return zone if zone.startswith(("host:", "zone:")) else f"zone:{zone}"


def save_report(session: Session, report: VerifyReport, *, run_id: int | None, actor: str) -> int:
    """Store a report (its JSON and counts) with its run; return the new row's id. Flushes, does not commit."""
    stored = report.with_ids(None, run_id)
    row = NetworkVerify(
        run_id=run_id,
        started_at=report.started_at,
        finished_at=report.finished_at,
        scope=scope_of(report.zone),
        violations=len(report.violations),
        breakages=len(report.breakages),
        findings=len(report.findings),
        ok=report.ok,
        actor=actor[:128],
        result=json.dumps({**stored.to_json(), "actor": actor}, ensure_ascii=False),
    )
    session.add(row)
    session.flush()
    return row.id


def _report(row: NetworkVerify) -> VerifyReport:
    return VerifyReport.from_json(json.loads(row.result)).with_ids(row.id, row.run_id)


def latest_report(session: Session, *, whole_network: bool = True) -> VerifyReport | None:
    """The newest stored verify, or None when there is none.

    By default only verifies of the whole network count (a ``--zone`` verify
    tests a part: taken as "the latest", it would hide a violation elsewhere
    from the compliance checks); ``whole_network=False`` takes any.
    """
    query = select(NetworkVerify).order_by(NetworkVerify.started_at.desc(), NetworkVerify.id.desc()).limit(1)
    if whole_network:
        query = query.where(NetworkVerify.scope == "all")
    row = session.scalars(query).first()
    return _report(row) if row is not None else None


def list_reports(session: Session, limit: int = 20) -> list[VerifyReport]:
    """The newest stored verifies first (whole and partial), at most ``limit``; each parses one JSON document."""
    query = select(NetworkVerify).order_by(NetworkVerify.started_at.desc(), NetworkVerify.id.desc()).limit(limit)
    return [_report(row) for row in session.scalars(query)]


def report_by_id(session: Session, verify_id: int) -> VerifyReport | None:
    """One stored verify by id, or None."""
    row = session.get(NetworkVerify, verify_id)
    return _report(row) if row is not None else None
