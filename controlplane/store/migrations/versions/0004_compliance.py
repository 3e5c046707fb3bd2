"""compliance: scans and their per-host, per-control results

Revision ID: 0004
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import controlplane.store.models

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "compliance_scans",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("started_at", controlplane.store.models.UTCDateTime(), nullable=False),
        sa.Column("finished_at", controlplane.store.models.UTCDateTime(), nullable=False),
        sa.Column("catalog_version", sa.String(length=64), nullable=False),
        sa.Column("scope", sa.String(length=255), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=True),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("hosts", sa.JSON(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("waivers", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("compliance_scans", schema=None) as batch_op:
        batch_op.create_index("ix_compliance_scans_started", ["started_at"], unique=False)
    op.create_table(
        "compliance_results",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("scan_id", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(length=64), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("control_id", sa.String(length=96), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("original_status", sa.String(length=16), nullable=True),
        sa.Column("found", sa.Text(), nullable=False),
        sa.Column("expected", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("remediation", sa.JSON(), nullable=False),
        sa.Column("waiver", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(["scan_id"], ["compliance_scans.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("compliance_results", schema=None) as batch_op:
        batch_op.create_index("ix_compliance_results_scan_host", ["scan_id", "host"], unique=False)
        batch_op.create_index("ix_compliance_results_host_control", ["host", "control_id", "scan_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("compliance_results", schema=None) as batch_op:
        batch_op.drop_index("ix_compliance_results_host_control")
        batch_op.drop_index("ix_compliance_results_scan_host")
    op.drop_table("compliance_results")
    with op.batch_alter_table("compliance_scans", schema=None) as batch_op:
        batch_op.drop_index("ix_compliance_scans_started")
    op.drop_table("compliance_scans")
