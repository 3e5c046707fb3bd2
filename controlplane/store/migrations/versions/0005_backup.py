"""backup: repository locks, snapshots with manifests, restore drills, status per dataset and host

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import controlplane.store.models

revision = "0005"


down_revision = "0004"
branch_labels = None
depends_on = None


def _missing(name: str) -> bool:
    # A store opened by the backup engine before this revision joined the
    # chain already has the tables (controlplane.backup.models.ensure_tables).
    return not sa.inspect(op.get_bind()).has_table(name)


def upgrade() -> None:
    if _missing("backup_repo_locks"):
        op.create_table(
            "backup_repo_locks",
            sa.Column("repository", sa.String(length=512), nullable=False),
            sa.Column("run_id", sa.Integer(), nullable=False),
            sa.Column("kind", sa.String(length=32), nullable=False),
            sa.Column("acquired_at", controlplane.store.models.UTCDateTime(), nullable=False),
            sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE"),
            sa.PrimaryKeyConstraint("repository"),
        )
    if _missing("backup_snapshots"):
        op.create_table(
            "backup_snapshots",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("run_id", sa.Integer(), nullable=True),
            sa.Column("dataset", sa.String(length=64), nullable=False),
            sa.Column("host", sa.String(length=64), nullable=False),
            sa.Column("site", sa.String(length=64), nullable=False),
            sa.Column("snapshot_id", sa.String(length=64), nullable=False),
            sa.Column("snapshot_time", controlplane.store.models.UTCDateTime(), nullable=False),
            sa.Column("files_new", sa.Integer(), nullable=False),
            sa.Column("files_changed", sa.Integer(), nullable=False),
            sa.Column("files_unmodified", sa.Integer(), nullable=False),
            sa.Column("bytes_added", sa.Integer(), nullable=False),
            sa.Column("bytes_processed", sa.Integer(), nullable=False),
            sa.Column("duration_seconds", sa.Float(), nullable=False),
            sa.Column("partial", sa.Boolean(), nullable=False),
            sa.Column("forgotten", sa.Boolean(), nullable=False),
            sa.Column("manifest", sa.JSON(), nullable=True),
            sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="SET NULL"),
            sa.PrimaryKeyConstraint("id"),
        )
        with op.batch_alter_table("backup_snapshots", schema=None) as batch_op:
            batch_op.create_index("ix_backup_snapshots_target_time", ["dataset", "host", "snapshot_time"], unique=False)
            batch_op.create_index("ix_backup_snapshots_snapshot", ["snapshot_id"], unique=False)
    if _missing("backup_drills"):
        op.create_table(
            "backup_drills",
            sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
            sa.Column("run_id", sa.Integer(), nullable=True),
            sa.Column("dataset", sa.String(length=64), nullable=False),
            sa.Column("host", sa.String(length=64), nullable=False),
            sa.Column("drill_host", sa.String(length=64), nullable=False),
            sa.Column("snapshot_id", sa.String(length=64), nullable=True),
            sa.Column("snapshot_time", controlplane.store.models.UTCDateTime(), nullable=True),
            sa.Column("started_at", controlplane.store.models.UTCDateTime(), nullable=False),
            sa.Column("finished_at", controlplane.store.models.UTCDateTime(), nullable=True),
            sa.Column("passed", sa.Boolean(), nullable=False),
            sa.Column("data_age_seconds", sa.Float(), nullable=True),
            sa.Column("rto_seconds", sa.Float(), nullable=True),
            sa.Column("restore_seconds", sa.Float(), nullable=True),
            sa.Column("files_checked", sa.Integer(), nullable=False),
            sa.Column("message", sa.Text(), nullable=False),
            sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="SET NULL"),
            sa.PrimaryKeyConstraint("id"),
        )
        with op.batch_alter_table("backup_drills", schema=None) as batch_op:
            batch_op.create_index("ix_backup_drills_target_started", ["dataset", "host", "started_at"], unique=False)
    if _missing("backup_status"):
        op.create_table(
            "backup_status",
            sa.Column("dataset", sa.String(length=64), nullable=False),
            sa.Column("host", sa.String(length=64), nullable=False),
            sa.Column("site", sa.String(length=64), nullable=False),
            sa.Column("last_run_id", sa.Integer(), nullable=True),
            sa.Column("last_status", sa.String(length=16), nullable=True),
            sa.Column("last_message", sa.Text(), nullable=False),
            sa.Column("last_run_at", controlplane.store.models.UTCDateTime(), nullable=True),
            sa.Column("last_success_at", controlplane.store.models.UTCDateTime(), nullable=True),
            sa.Column("last_snapshot_id", sa.String(length=64), nullable=True),
            sa.Column("last_duration_seconds", sa.Float(), nullable=True),
            sa.Column("last_bytes_added", sa.Integer(), nullable=True),
            sa.Column("last_check_at", controlplane.store.models.UTCDateTime(), nullable=True),
            sa.Column("last_check_status", sa.String(length=16), nullable=True),
            sa.Column("last_prune_at", controlplane.store.models.UTCDateTime(), nullable=True),
            sa.Column("last_drill_at", controlplane.store.models.UTCDateTime(), nullable=True),
            sa.Column("last_drill_passed", sa.Boolean(), nullable=True),
            sa.Column("last_drill_rpo_seconds", sa.Float(), nullable=True),
            sa.Column("last_drill_rto_seconds", sa.Float(), nullable=True),
            sa.PrimaryKeyConstraint("dataset", "host"),
        )


def downgrade() -> None:
    op.drop_table("backup_status")
    with op.batch_alter_table("backup_drills", schema=None) as batch_op:
        batch_op.drop_index("ix_backup_drills_target_started")
    op.drop_table("backup_drills")
    with op.batch_alter_table("backup_snapshots", schema=None) as batch_op:
        batch_op.drop_index("ix_backup_snapshots_snapshot")
        batch_op.drop_index("ix_backup_snapshots_target_time")
    op.drop_table("backup_snapshots")
    op.drop_table("backup_repo_locks")
