"""The table of stored verifies (``network_verifies``): one row per ``egov network verify``, the report as JSON.

The report itself (every path and finding) is one JSON document in
``result``: it is always read whole (the console's matrix, the compliance
checks, the alert), and a few hundred paths are a few tens of kilobytes.
The counts beside it serve listings and "the latest whole-network verify"
without parsing. Imported by the Alembic environment, so it imports only the
store's base.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from controlplane.store.models import Base, UTCDateTime, utcnow


class NetworkVerify(Base):
    """One verify of the network's reachability matrix, with its run."""

    __tablename__ = "network_verifies"
    __table_args__ = (Index("ix_network_verifies_scope_started", "scope", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"), nullable=True)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # "all" for the whole network, "zone:NAME" for a verify limited to one zone's paths.
    scope: Mapped[str] = mapped_column(String(80), default="all")
    violations: Mapped[int] = mapped_column(Integer, default=0)
    breakages: Mapped[int] = mapped_column(Integer, default=0)
    findings: Mapped[int] = mapped_column(Integer, default=0)
    ok: Mapped[bool] = mapped_column(Boolean, default=False)
    actor: Mapped[str] = mapped_column(String(128), default="")
    # VerifyReport.to_json() of controlplane.network.results.
    result: Mapped[str] = mapped_column(Text)
