"""Tables of service levels: rollups per minute and hour, maintenance windows, incidents, written reports.

Rollups are what every figure is computed from, never the raw probe
results (probe history is bounded and short-lived):

* ``slo_minutes``: one row per service and minute; ``good`` and ``bad`` are
  bit masks of the minute's slices (bit *i* is slice *i*; a slice in neither
  is unknown: nobody was probing). Bits only ever get set, so two writers
  (or one writing again after a restart) merge by OR and never disagree.
* ``slo_hours``: the counts of good and bad slices per service and hour,
  kept in step with the minute rows, so a month is 720 rows per service.

Times are whole epoch seconds (the minute's or hour's start, UTC).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from controlplane.store.models import Base, UTCDateTime, utcnow


class SloMinute(Base):
    """The slices of one service in one minute: which were good, which were bad."""

    __tablename__ = "slo_minutes"
    __table_args__ = (Index("ix_slo_minutes_minute", "minute"),)

    service: Mapped[str] = mapped_column(String(48), primary_key=True)
    minute: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    good: Mapped[int] = mapped_column(BigInteger, default=0)
    bad: Mapped[int] = mapped_column(BigInteger, default=0)
    slice_seconds: Mapped[int] = mapped_column(Integer)


class SloHour(Base):
    """How many slices of one service were good and bad in one hour (the rest were unknown)."""

    __tablename__ = "slo_hours"
    # Covering: a month's report sums a range of hours for every service from the index alone.
    __table_args__ = (Index("ix_slo_hours_hour", "hour", "service", "good", "bad"),)

    service: Mapped[str] = mapped_column(String(48), primary_key=True)
    hour: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    good: Mapped[int] = mapped_column(Integer, default=0)
    bad: Mapped[int] = mapped_column(Integer, default=0)
    slice_seconds: Mapped[int] = mapped_column(Integer)


class MaintenanceWindow(Base):
    """An approved maintenance window of a site (all its services, or the ones named).

    ``kind`` is planned (declared before it ended) or retroactive (declared
    after the fact for an outage, with its reason); reports show which.
    ``silences`` are the ids of the alert silences it made.
    """

    __tablename__ = "slo_maintenance"
    __table_args__ = (Index("ix_slo_maintenance_ends", "ends_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site: Mapped[str] = mapped_column(String(64))
    services: Mapped[list[Any]] = mapped_column(JSON, default=list)
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(16), default="planned")
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    silences: Mapped[list[Any]] = mapped_column(JSON, default=list)


class Incident(Base):
    """A service's incident: from its first alert firing until its last one resolved.

    ``alerts`` lists the episodes it gathered (fingerprint, alert name, host,
    fired, resolved, acknowledged by whom and when); ``runs`` the runbook
    runs started in between.
    """

    __tablename__ = "slo_incidents"
    __table_args__ = (Index("ix_slo_incidents_service_opened", "service", "opened_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    service: Mapped[str] = mapped_column(String(48))
    site: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    opened_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    acked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    acked_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    alerts: Mapped[list[Any]] = mapped_column(JSON, default=list)
    runs: Mapped[list[Any]] = mapped_column(JSON, default=list)


class ReportFile(Base):
    """A written availability report (by the monthly job or on request), listed by the console."""

    __tablename__ = "slo_reports"
    __table_args__ = (UniqueConstraint("month", "site", "lang", "format", name="uq_slo_reports_file"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    month: Mapped[str] = mapped_column(String(7))
    site: Mapped[str] = mapped_column(String(64), default="")
    lang: Mapped[str] = mapped_column(String(8))
    format: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(Text)
    size: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
