"""Tables of the backup feature: per-repository locks, snapshots, drills, status.

Every backup, check, prune, restore and drill is a :class:`~controlplane.store.models.Run`
(kinds in :data:`RUN_KINDS`, target ``DATASET@HOST``); these tables keep what
a run row cannot hold in a queryable way:

* ``backup_repo_locks``: the exclusive per-repository lock of *our* runs, so a
  prune or check never runs beside a backup of the same repository, and a
  stale restic lock is only removed when no run of ours holds it;
* ``backup_snapshots``: one row per snapshot a backup made, with the parsed
  summary and the SHA-256 manifest recorded at backup time (restore drills
  verify against it);
* ``backup_drills``: each restore drill with its achieved RPO (data age) and
  RTO (restore and verification time);
* ``backup_status``: one row per dataset and host with the latest figures, so
  the console grid, the DR report and the metrics read one small table.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from controlplane.store.models import Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from controlplane.store import Store

KIND_BACKUP = "backup"
KIND_CHECK = "backup-check"
KIND_PRUNE = "backup-prune"
KIND_RESTORE = "backup-restore"
KIND_DRILL = "backup-drill"
KIND_SETUP = "backup-setup"
KIND_COPY = "backup-copy"
RUN_KINDS = (KIND_BACKUP, KIND_CHECK, KIND_PRUNE, KIND_RESTORE, KIND_DRILL, KIND_SETUP, KIND_COPY)


class RepoLock(Base):
    """The exclusive lock one of our runs holds on a repository."""

    __tablename__ = "backup_repo_locks"

    repository: Mapped[str] = mapped_column(String(512), primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    acquired_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class BackupSnapshot(Base):
    """A snapshot made by one of our backup runs, with its figures and manifest."""

    __tablename__ = "backup_snapshots"
    __table_args__ = (
        Index("ix_backup_snapshots_target_time", "dataset", "host", "snapshot_time"),
        Index("ix_backup_snapshots_snapshot", "snapshot_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"), nullable=True)
    dataset: Mapped[str] = mapped_column(String(64))
    host: Mapped[str] = mapped_column(String(64))
    site: Mapped[str] = mapped_column(String(64))
    snapshot_id: Mapped[str] = mapped_column(String(64))
    snapshot_time: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    files_new: Mapped[int] = mapped_column(Integer, default=0)
    files_changed: Mapped[int] = mapped_column(Integer, default=0)
    files_unmodified: Mapped[int] = mapped_column(Integer, default=0)
    bytes_added: Mapped[int] = mapped_column(Integer, default=0)
    bytes_processed: Mapped[int] = mapped_column(Integer, default=0)
    duration_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    partial: Mapped[bool] = mapped_column(Boolean, default=False)
    forgotten: Mapped[bool] = mapped_column(Boolean, default=False)
    manifest: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class BackupDrill(Base):
    """One restore drill: what was restored where, how old it was, how long it took."""

    __tablename__ = "backup_drills"
    __table_args__ = (Index("ix_backup_drills_target_started", "dataset", "host", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"), nullable=True)
    dataset: Mapped[str] = mapped_column(String(64))
    host: Mapped[str] = mapped_column(String(64))
    drill_host: Mapped[str] = mapped_column(String(64))
    snapshot_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    snapshot_time: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    passed: Mapped[bool] = mapped_column(Boolean, default=False)
    # Achieved RPO: how old the restored data was when the drill started.
    data_age_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    # Achieved RTO: restore plus verification, what a real recovery would take.
    rto_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    restore_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    files_checked: Mapped[int] = mapped_column(Integer, default=0)
    message: Mapped[str] = mapped_column(Text, default="")


class BackupStatus(Base):
    """The latest figures of one dataset on one host (one row, updated by every run)."""

    __tablename__ = "backup_status"

    dataset: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(64), primary_key=True)
    site: Mapped[str] = mapped_column(String(64))
    last_run_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    last_message: Mapped[str] = mapped_column(Text, default="")
    last_run_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_success_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_snapshot_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    last_duration_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_bytes_added: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_check_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_check_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    last_prune_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_drill_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_drill_passed: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    last_drill_rpo_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    last_drill_rto_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    # Off-site copy to the secondary center (restic copy): when it last ran,
    # how it ended, and the time of the newest snapshot known to be there.
    last_copy_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_copy_status: Mapped[str | None] = mapped_column(String(16), nullable=True)
    last_copy_success_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_copy_snapshot_time: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


BACKUP_TABLES = (RepoLock.__table__, BackupSnapshot.__table__, BackupDrill.__table__, BackupStatus.__table__)


def require_tables(store: Store) -> None:
    """Make sure the store has the backup tables of the current schema (Alembic 0005 and 0008).

    The tables are created by the store's migrations only (``open_store``
    upgrades); this only checks, so a store opened without upgrading fails
    with the fix instead of a SQL error deep inside a backup. Raises
    EgovError naming the missing table or column.
    """
    from sqlalchemy import inspect

    from controlplane.errors import EgovError

    inspector = inspect(store.engine)
    for table in BACKUP_TABLES:
        if not inspector.has_table(table.name):
            raise EgovError(f"the store has no table {table.name}: open it with migrations")
    present = {column["name"] for column in inspector.get_columns(BackupStatus.__tablename__)}
    missing = sorted({column.name for column in BackupStatus.__table__.columns} - present)
    if missing:
        raise EgovError(f"backup_status lacks {', '.join(missing)}: open the store with migrations")
