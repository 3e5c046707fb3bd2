"""Tables of the runbook engine: the journal, target locks and approvals.

A runbook execution is a :class:`~controlplane.store.models.Run` (kind
``runbook``); these tables hold what a run row cannot:

* ``runbook_journal``: one row per journal entry (a steady-state probe, a
  step attempt, a rollback, a figure). A row is inserted when the activity
  starts and updated when it ends, each in its own committed transaction, so
  a control plane killed mid-run leaves a readable journal whose last entry
  says what was in progress.
* ``runbook_locks``: one row per target host while a runbook works on it;
  the primary key makes a second runbook on the same host fail to insert,
  and the row names the run (and actor) that holds it.
* ``runbook_approvals``: a second person's approval of a critical runbook
  with given parameters, consumed by the run that uses it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from controlplane.store.models import Base, UTCDateTime, utcnow


class JournalEntry(Base):
    """One activity of a runbook run: its phase, outcome, timing and output."""

    __tablename__ = "runbook_journal"
    __table_args__ = (Index("ix_runbook_journal_run_seq", "run_id", "seq", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(Integer)
    # plan, hypothesis-before, method, verify, rollback, drill-restore,
    # hypothesis-after, figure, note
    phase: Mapped[str] = mapped_column(String(24))
    name: Mapped[str] = mapped_column(String(128))
    # running, succeeded, failed, skipped, planned, cancelled
    status: Mapped[str] = mapped_column(String(16))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    duration_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    output: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    def as_dict(self) -> dict[str, Any]:
        """Return the entry as JSON-safe data (timestamps in ISO 8601)."""
        return {
            "seq": self.seq,
            "phase": self.phase,
            "name": self.name,
            "status": self.status,
            "attempt": self.attempt,
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "duration_seconds": self.duration_seconds,
            "output": self.output.splitlines() if self.output else [],
            "data": self.data or {},
        }


class RunbookLock(Base):
    """A target host held by an active runbook run; released when the run ends."""

    __tablename__ = "runbook_locks"

    target: Mapped[str] = mapped_column(String(255), primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    runbook: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(64))
    acquired_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class RunbookApproval(Base):
    """A second person's approval to run a critical runbook with given parameters."""

    __tablename__ = "runbook_approvals"
    __table_args__ = (Index("ix_runbook_approvals_runbook", "runbook", "params_hash"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    runbook: Mapped[str] = mapped_column(String(64))
    params_hash: Mapped[str] = mapped_column(String(64))
    approver: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    used_by_run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"), nullable=True)
