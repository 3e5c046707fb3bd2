"""runbooks: journal entries, target locks and approvals

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import controlplane.store.models

revision = "0006"


down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "runbook_journal",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("phase", sa.String(length=24), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("started_at", controlplane.store.models.UTCDateTime(), nullable=False),
        sa.Column("finished_at", controlplane.store.models.UTCDateTime(), nullable=True),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("output", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("runbook_journal", schema=None) as batch_op:
        batch_op.create_index("ix_runbook_journal_run_seq", ["run_id", "seq"], unique=True)
    op.create_table(
        "runbook_locks",
        sa.Column("target", sa.String(length=255), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("runbook", sa.String(length=64), nullable=False),
        sa.Column("actor", sa.String(length=64), nullable=False),
        sa.Column("acquired_at", controlplane.store.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("target"),
    )
    op.create_table(
        "runbook_approvals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("runbook", sa.String(length=64), nullable=False),
        sa.Column("params_hash", sa.String(length=64), nullable=False),
        sa.Column("approver", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("created_at", controlplane.store.models.UTCDateTime(), nullable=False),
        sa.Column("expires_at", controlplane.store.models.UTCDateTime(), nullable=False),
        sa.Column("used_by_run_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["used_by_run_id"], ["runs.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("runbook_approvals", schema=None) as batch_op:
        batch_op.create_index("ix_runbook_approvals_runbook", ["runbook", "params_hash"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("runbook_approvals", schema=None) as batch_op:
        batch_op.drop_index("ix_runbook_approvals_runbook")
    op.drop_table("runbook_approvals")
    op.drop_table("runbook_locks")
    with op.batch_alter_table("runbook_journal", schema=None) as batch_op:
        batch_op.drop_index("ix_runbook_journal_run_seq")
    op.drop_table("runbook_journal")
