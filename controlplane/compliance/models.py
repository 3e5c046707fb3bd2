"""Store tables of compliance scans: one row per scan, one row per (host, control) result.

A scan is always a run too (``runs.kind = 'scan'``): the run row carries who
started it, when, its output and its final state; the scan row carries what an
auditor asks for afterwards (catalog version, scope, scores, the waivers in
force) and the results carry the evidence (found and expected values) and
the fix of every control on every host. Results are kept per scan, never
overwritten, so any past report can be rebuilt and two scans compared.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from controlplane.store.models import Base, UTCDateTime, utcnow


class ComplianceScan(Base):
    """One scan: its run, catalog version, scope, hosts and the scores computed when it ended."""

    __tablename__ = "compliance_scans"
    __table_args__ = (Index("ix_compliance_scans_started", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"), nullable=True)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    catalog_version: Mapped[str] = mapped_column(String(64))
    # Human text ("all sites", "site school-gd-1", "hosts mn-*") and the site filter, if any.
    scope: Mapped[str] = mapped_column(String(255))
    site: Mapped[str | None] = mapped_column(String(64), nullable=True)
    trigger: Mapped[str] = mapped_column(String(16), default="cli")
    actor: Mapped[str] = mapped_column(String(128), default="")
    # {host: {"site", "roles", "reachable", "reason", "seconds"}} for every host scanned.
    hosts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The scores at the end of the scan ({"overall", "by_site", "by_severity"}), for fast listings.
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # Every waiver loaded for the scan (active and expired on its day), as dicts.
    waivers: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)


class ComplianceResult(Base):
    """The verdict of one control on one host in one scan, with its evidence and fix."""

    __tablename__ = "compliance_results"
    __table_args__ = (
        Index("ix_compliance_results_scan_host", "scan_id", "host"),
        Index("ix_compliance_results_host_control", "host", "control_id", "scan_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    scan_id: Mapped[int] = mapped_column(ForeignKey("compliance_scans.id", ondelete="CASCADE"))
    host: Mapped[str] = mapped_column(String(64))
    site: Mapped[str] = mapped_column(String(64), default="")
    control_id: Mapped[str] = mapped_column(String(96))
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    original_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    found: Mapped[str] = mapped_column(Text, default="")
    expected: Mapped[str] = mapped_column(Text, default="")
    message: Mapped[str] = mapped_column(Text, default="")
    remediation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    waiver: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
