"""automation: host locks, per-host task results and run stats

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import controlplane.store.models

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "host_locks",
        sa.Column("host", sa.String(length=64), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("acquired_at", controlplane.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("host"),
    )
    op.create_table(
        "host_task_results",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(length=64), nullable=False),
        sa.Column("task", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("changed", sa.Boolean(), nullable=False),
        sa.Column("controls", sa.JSON(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("created_at", controlplane.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("host_task_results", schema=None) as batch_op:
        batch_op.create_index("ix_host_task_results_run", ["run_id", "host"], unique=False)
        batch_op.create_index("ix_host_task_results_host_created", ["host", "created_at"], unique=False)
    op.create_table(
        "host_run_stats",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(length=64), nullable=False),
        sa.Column("ok", sa.Integer(), nullable=False),
        sa.Column("changed", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("unreachable", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "host"),
    )
    with op.batch_alter_table("host_run_stats", schema=None) as batch_op:
        batch_op.create_index("ix_host_run_stats_host", ["host", "run_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("host_run_stats", schema=None) as batch_op:
        batch_op.drop_index("ix_host_run_stats_host")
    op.drop_table("host_run_stats")
    with op.batch_alter_table("host_task_results", schema=None) as batch_op:
        batch_op.drop_index("ix_host_task_results_host_created")
        batch_op.drop_index("ix_host_task_results_run")
    op.drop_table("host_task_results")
    op.drop_table("host_locks")
