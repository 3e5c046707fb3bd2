"""Tables of the automation engine: per-host locks and per-host results.

``host_locks`` holds one row per host while a playbook run touches it, so a
second run on the same host is refused naming the run that holds it.
``host_task_results`` keeps every task's outcome per host (with the
compliance control ids the task satisfies), which is the drift report of a
``--check`` run and the history of a host. ``host_run_stats`` keeps the
per-host tally (ok, changed, failed, unreachable, skipped) of each run.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from controlplane.store.models import Base, UTCDateTime, utcnow


class HostLock(Base):
    """A host taken by an active run; released when the run ends."""

    __tablename__ = "host_locks"

    host: Mapped[str] = mapped_column(String(64), primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    acquired_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class HostTaskResult(Base):
    """The outcome of one task on one host in one run."""

    __tablename__ = "host_task_results"
    __table_args__ = (
        Index("ix_host_task_results_run", "run_id", "host"),
        Index("ix_host_task_results_host_created", "host", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    host: Mapped[str] = mapped_column(String(64))
    task: Mapped[str] = mapped_column(String(255))
    role: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # ok, changed, failed, skipped, unreachable, ignored
    status: Mapped[str] = mapped_column(String(16))
    changed: Mapped[bool] = mapped_column(Boolean, default=False)
    controls: Mapped[list[str]] = mapped_column(JSON, default=list)
    message: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    def as_dict(self) -> dict[str, object]:
        """Return the result as JSON-safe data."""
        return {
            "run_id": self.run_id,
            "host": self.host,
            "task": self.task,
            "role": self.role,
            "status": self.status,
            "changed": self.changed,
            "controls": list(self.controls or []),
            "message": self.message,
            "created_at": self.created_at.isoformat() if self.created_at else None,
        }


class HostRunStats(Base):
    """The per-host tally of one run (what ``ansible-playbook`` prints as PLAY RECAP)."""

    __tablename__ = "host_run_stats"
    __table_args__ = (Index("ix_host_run_stats_host", "host", "run_id"),)

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    host: Mapped[str] = mapped_column(String(64), primary_key=True)
    ok: Mapped[int] = mapped_column(Integer, default=0)
    changed: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    unreachable: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    # ok, changed, failed, unreachable: the host's overall outcome in the run
    outcome: Mapped[str] = mapped_column(String(16))
