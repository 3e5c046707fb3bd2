"""Probe results: samples in, latest value and bounded history out.

A result is one check on one host at one moment: success, duration, a short
message and named samples (``host_disk_used_ratio{mount="/"}`` and the like),
whose names follow Prometheus rules (base units, ``_ratio``, ``_seconds``)
so the same sample becomes ``egov_<name>`` on ``/metrics`` unchanged.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from controlplane.monitoring.models import ProbeHistory, ProbeLatest
from controlplane.store.models import utcnow

MAX_MESSAGE = 500


@dataclass(frozen=True)
class Sample:
    """One measured value: a metric name, extra labels (mount, service...) and the value."""

    name: str
    value: float
    labels: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form stored with the result."""
        return {"name": self.name, "value": self.value, "labels": dict(self.labels)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Sample:
        """Inverse of :meth:`as_dict`."""
        return cls(str(data["name"]), float(data["value"]), dict(data.get("labels") or {}))


@dataclass
class ProbeResult:
    """The outcome of one check on one host."""

    check: str
    type: str
    host: str
    site: str
    role: str
    success: bool
    duration: float
    message: str = ""
    samples: list[Sample] = field(default_factory=list)
    at: dt.datetime = field(default_factory=utcnow)

    def all_samples(self) -> list[Sample]:
        """The result's samples plus ``probe_success`` and ``probe_duration_seconds``."""
        return [
            Sample("probe_success", 1.0 if self.success else 0.0),
            Sample("probe_duration_seconds", round(self.duration, 6)),
            *self.samples,
        ]

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form (for ``egov monitor once --json`` and the console)."""
        return {
            "check": self.check,
            "type": self.type,
            "host": self.host,
            "site": self.site,
            "role": self.role,
            "success": self.success,
            "duration_seconds": round(self.duration, 6),
            "message": self.message,
            "samples": [s.as_dict() for s in self.samples],
            "at": self.at.isoformat(),
        }


def clip(text: str, limit: int = MAX_MESSAGE) -> str:
    """Return a one-paragraph message at most ``limit`` characters long."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def save_results(session: Session, results: Iterable[ProbeResult], history: int = 100) -> None:
    """Store results as the latest per (check, host) and append them to the bounded history.

    ``history`` is how many rows to keep per (check, host): older ones are
    deleted in the same transaction, so the table stays bounded.
    """
    touched: set[tuple[str, str]] = set()
    for result in results:
        samples = [s.as_dict() for s in result.samples]
        row = session.get(ProbeLatest, (result.check, result.host))
        if row is None:
            row = ProbeLatest(check=result.check, host=result.host)
            session.add(row)
        row.site, row.role, row.type = result.site, result.role, result.type
        row.success, row.duration, row.message = result.success, result.duration, clip(result.message)
        row.samples, row.at = samples, result.at
        session.add(
            ProbeHistory(
                check=result.check,
                host=result.host,
                success=result.success,
                duration=result.duration,
                message=clip(result.message),
                samples=samples,
                at=result.at,
            )
        )
        touched.add((result.check, result.host))
    session.flush()
    for check, host in touched:
        keep = select(ProbeHistory.id).where(ProbeHistory.check == check, ProbeHistory.host == host)
        cutoff = session.scalars(keep.order_by(ProbeHistory.id.desc()).offset(history).limit(1)).first()
        if cutoff is not None:
            session.execute(
                delete(ProbeHistory).where(
                    ProbeHistory.check == check, ProbeHistory.host == host, ProbeHistory.id <= cutoff
                )
            )


def latest_results(session: Session) -> list[ProbeResult]:
    """Return the latest stored result of every (check, host), ordered by check then host."""
    rows = session.scalars(select(ProbeLatest).order_by(ProbeLatest.check, ProbeLatest.host))
    return [
        ProbeResult(
            check=row.check,
            type=row.type,
            host=row.host,
            site=row.site,
            role=row.role,
            success=row.success,
            duration=row.duration,
            message=row.message,
            samples=[Sample.from_dict(s) for s in row.samples or []],
            at=row.at,
        )
        for row in rows
    ]


def history(session: Session, check: str, host: str, limit: int = 100) -> list[dict[str, Any]]:
    """Return the newest ``limit`` results of one (check, host), oldest first (for charts)."""
    rows = session.scalars(
        select(ProbeHistory)
        .where(ProbeHistory.check == check, ProbeHistory.host == host)
        .order_by(ProbeHistory.id.desc())
        .limit(limit)
    ).all()
    return [
        {"at": r.at.isoformat(), "success": r.success, "duration_seconds": r.duration, "message": r.message,
         "samples": r.samples}
        for r in reversed(rows)
    ]  # fmt: skip
