"""Tables of the monitoring engine: probe results, alerts, groups, silences, deliveries.

Everything the alert engine needs to survive a restart lives here: alerts
with their lifecycle timestamps, the notification state of each group (what
was last sent, when, to which escalation level), silences made by people,
and the outbox of notifications with their delivery attempts. Probe results
keep the latest value per (check, host) plus a bounded history.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from controlplane.store.models import Base, UTCDateTime, utcnow


class ProbeLatest(Base):
    """The newest result of one check on one host (one row per pair)."""

    __tablename__ = "monitor_probe_latest"

    check: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(64), primary_key=True)
    site: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(32))
    type: Mapped[str] = mapped_column(String(16))
    success: Mapped[bool] = mapped_column(Boolean)
    duration: Mapped[float] = mapped_column(Float)
    message: Mapped[str] = mapped_column(Text, default="")
    samples: Mapped[list[Any]] = mapped_column(JSON, default=list)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ProbeHistory(Base):
    """One past result; trimmed to a bounded number of rows per (check, host)."""

    __tablename__ = "monitor_probe_history"
    __table_args__ = (
        Index("ix_monitor_probe_history_check_host_at", "check", "host", "at"),
        # Retention deletes by age alone (controlplane.retention): without it every batch scans the table.
        Index("ix_monitor_probe_history_at", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    check: Mapped[str] = mapped_column(String(64))
    host: Mapped[str] = mapped_column(String(64))
    success: Mapped[bool] = mapped_column(Boolean)
    duration: Mapped[float] = mapped_column(Float)
    message: Mapped[str] = mapped_column(Text, default="")
    samples: Mapped[list[Any]] = mapped_column(JSON, default=list)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AlertRecord(Base):
    """One alert identity (fingerprint) and its current lifecycle state."""

    __tablename__ = "monitor_alerts"
    __table_args__ = (Index("ix_monitor_alerts_state", "state"),)

    fingerprint: Mapped[str] = mapped_column(String(16), primary_key=True)
    source: Mapped[str] = mapped_column(String(16), default="engine")  # engine | intake
    labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    annotations: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(16))  # pending | firing | resolved
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    active_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    fired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    clearing_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_seen: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    transitions: Mapped[list[Any]] = mapped_column(JSON, default=list)  # ISO times of fire/resolve flips
    acked_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    acked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    ack_comment: Mapped[str | None] = mapped_column(Text, nullable=True)
    generator_url: Mapped[str] = mapped_column(Text, default="")


class AlertGroupState(Base):
    """Notification state of one alert group for one route."""

    __tablename__ = "monitor_alert_groups"

    key: Mapped[str] = mapped_column(String(512), primary_key=True)
    route: Mapped[str] = mapped_column(String(64))
    receiver: Mapped[str] = mapped_column(String(64))
    group_labels: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_flush_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_notified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    notified_firing: Mapped[list[Any]] = mapped_column(JSON, default=list)
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    first_notified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class SilenceRecord(Base):
    """A silence made by a person (silences-as-code are read from files instead)."""

    __tablename__ = "monitor_silences"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    matchers: Mapped[list[Any]] = mapped_column(JSON, default=list)
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    author: Mapped[str] = mapped_column(String(128))
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expired_by: Mapped[str | None] = mapped_column(String(128), nullable=True)


class Delivery(Base):
    """One notification in the outbox and its delivery attempts (the delivery log)."""

    __tablename__ = "monitor_deliveries"
    __table_args__ = (
        Index("ix_monitor_deliveries_status_next", "status", "next_attempt_at"),
        Index("ix_monitor_deliveries_created", "created_at"),  # retention deletes by age
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    receiver: Mapped[str] = mapped_column(String(64))
    group_key: Mapped[str] = mapped_column(String(512))
    kind: Mapped[str] = mapped_column(String(16), default="notify")  # notify | repeat | resolve | escalate
    status: Mapped[str] = mapped_column(String(16), default="pending")  # pending | sent | failed
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


# --------------------------------------------------------------------------- Alertmanager intake
class IntakeToken(Base):
    """A bearer token of one site's Alertmanager: alerts outside that site's scope are refused.

    Only the token's SHA-256 is stored (the clear token is shown once at
    creation); ``prefix`` lets a person tell tokens apart.
    """

    __tablename__ = "alert_intake_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(64))
    site: Mapped[str] = mapped_column(String(64))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(128), default="")
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    alerts_accepted: Mapped[int] = mapped_column(Integer, default=0)
    alerts_refused: Mapped[int] = mapped_column(Integer, default=0)


class IntakeRefusal(Base):
    """How many intake requests or alerts were refused, per reason (``egov_alert_intake_refused_total``)."""

    __tablename__ = "alert_intake_refusals"

    reason: Mapped[str] = mapped_column(String(32), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
    last_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class IntakeBucket(Base):
    """The token bucket of one client address: each bad-token attempt takes a token, time refills them."""

    __tablename__ = "alert_intake_buckets"

    client: Mapped[str] = mapped_column(String(64), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    refilled_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class IntakeWindow(Base):
    """Refused attempts of one (client, reason) in the current window: one audit record per window, with the count."""

    __tablename__ = "alert_intake_windows"

    client: Mapped[str] = mapped_column(String(64), primary_key=True)
    reason: Mapped[str] = mapped_column(String(32), primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    count: Mapped[int] = mapped_column(Integer, default=0)
    reported: Mapped[int] = mapped_column(Integer, default=0)
