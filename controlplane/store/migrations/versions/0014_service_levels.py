"""service levels: rollups per minute and hour, maintenance windows, incidents, written reports

Tables of :mod:`controlplane.slo.models`. Nothing existing changes.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import controlplane.store.models

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def _time(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, controlplane.store.models.UTCDateTime(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "slo_minutes",
        sa.Column("service", sa.String(length=48), nullable=False),
        sa.Column("minute", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("good", sa.BigInteger(), nullable=False),
        sa.Column("bad", sa.BigInteger(), nullable=False),
        sa.Column("slice_seconds", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("service", "minute"),
    )
    with op.batch_alter_table("slo_minutes", schema=None) as batch_op:
        batch_op.create_index("ix_slo_minutes_minute", ["minute"], unique=False)
    op.create_table(
        "slo_hours",
        sa.Column("service", sa.String(length=48), nullable=False),
        sa.Column("hour", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("good", sa.Integer(), nullable=False),
        sa.Column("bad", sa.Integer(), nullable=False),
        sa.Column("slice_seconds", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("service", "hour"),
    )
    with op.batch_alter_table("slo_hours", schema=None) as batch_op:
        batch_op.create_index("ix_slo_hours_hour", ["hour", "service", "good", "bad"], unique=False)
    op.create_table(
        "slo_maintenance",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("services", sa.JSON(), nullable=False),
        _time("starts_at"),
        _time("ends_at"),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        _time("created_at"),
        sa.Column("ended_by", sa.String(length=128), nullable=True),
        _time("ended_at", nullable=True),
        sa.Column("silences", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("slo_maintenance", schema=None) as batch_op:
        batch_op.create_index("ix_slo_maintenance_ends", ["ends_at"], unique=False)
    op.create_table(
        "slo_incidents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("service", sa.String(length=48), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        _time("started_at"),
        _time("opened_at"),
        _time("acked_at", nullable=True),
        sa.Column("acked_by", sa.String(length=128), nullable=True),
        _time("resolved_at", nullable=True),
        sa.Column("alerts", sa.JSON(), nullable=False),
        sa.Column("runs", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("slo_incidents", schema=None) as batch_op:
        batch_op.create_index("ix_slo_incidents_service_opened", ["service", "opened_at"], unique=False)
    op.create_table(
        "slo_reports",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("month", sa.String(length=7), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("lang", sa.String(length=8), nullable=False),
        sa.Column("format", sa.String(length=8), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        _time("created_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("month", "site", "lang", "format", name="uq_slo_reports_file"),
    )


def downgrade() -> None:
    op.drop_table("slo_reports")
    with op.batch_alter_table("slo_incidents", schema=None) as batch_op:
        batch_op.drop_index("ix_slo_incidents_service_opened")
    op.drop_table("slo_incidents")
    with op.batch_alter_table("slo_maintenance", schema=None) as batch_op:
        batch_op.drop_index("ix_slo_maintenance_ends")
    op.drop_table("slo_maintenance")
    with op.batch_alter_table("slo_hours", schema=None) as batch_op:
        batch_op.drop_index("ix_slo_hours_hour")
    op.drop_table("slo_hours")
    with op.batch_alter_table("slo_minutes", schema=None) as batch_op:
        batch_op.drop_index("ix_slo_minutes_minute")
    op.drop_table("slo_minutes")
