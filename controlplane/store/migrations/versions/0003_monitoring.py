"""monitoring: probe results, alerts, alert groups, silences, deliveries

Revision ID: 0003
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import controlplane.store.models

revision = "0003"
down_revision = "0006"
branch_labels = None
depends_on = None


def _time(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, controlplane.store.models.UTCDateTime(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "monitor_probe_latest",
        sa.Column("check", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=64), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=32), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("duration", sa.Float(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("samples", sa.JSON(), nullable=False),
        _time("at"),
        sa.PrimaryKeyConstraint("check", "host"),
    )
    op.create_table(
        "monitor_probe_history",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("check", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=64), nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.Column("duration", sa.Float(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("samples", sa.JSON(), nullable=False),
        _time("at"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("monitor_probe_history", schema=None) as batch_op:
        batch_op.create_index("ix_monitor_probe_history_check_host_at", ["check", "host", "at"], unique=False)

    op.create_table(
        "monitor_alerts",
        sa.Column("fingerprint", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("labels", sa.JSON(), nullable=False),
        sa.Column("annotations", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        _time("active_since", True),
        _time("fired_at", True),
        _time("resolved_at", True),
        _time("clearing_since", True),
        _time("last_seen", True),
        sa.Column("transitions", sa.JSON(), nullable=False),
        sa.Column("acked_by", sa.String(length=128), nullable=True),
        _time("acked_at", True),
        sa.Column("ack_comment", sa.Text(), nullable=True),
        sa.Column("generator_url", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("fingerprint"),
    )
    with op.batch_alter_table("monitor_alerts", schema=None) as batch_op:
        batch_op.create_index("ix_monitor_alerts_state", ["state"], unique=False)

    op.create_table(
        "monitor_alert_groups",
        sa.Column("key", sa.String(length=512), nullable=False),
        sa.Column("route", sa.String(length=64), nullable=False),
        sa.Column("receiver", sa.String(length=64), nullable=False),
        sa.Column("group_labels", sa.JSON(), nullable=False),
        _time("created_at"),
        _time("last_flush_at", True),
        _time("last_notified_at", True),
        sa.Column("notified_firing", sa.JSON(), nullable=False),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        _time("first_notified_at", True),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "monitor_silences",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("matchers", sa.JSON(), nullable=False),
        _time("starts_at"),
        _time("ends_at"),
        sa.Column("author", sa.String(length=128), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        _time("created_at"),
        sa.Column("expired_by", sa.String(length=128), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "monitor_deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("receiver", sa.String(length=64), nullable=False),
        sa.Column("group_key", sa.String(length=512), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _time("created_at"),
        _time("next_attempt_at"),
        _time("sent_at", True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("monitor_deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_monitor_deliveries_status_next", ["status", "next_attempt_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("monitor_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_monitor_deliveries_status_next")
    op.drop_table("monitor_deliveries")
    op.drop_table("monitor_silences")
    op.drop_table("monitor_alert_groups")
    with op.batch_alter_table("monitor_alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_monitor_alerts_state")
    op.drop_table("monitor_alerts")
    with op.batch_alter_table("monitor_probe_history", schema=None) as batch_op:
        batch_op.drop_index("ix_monitor_probe_history_check_host_at")
    op.drop_table("monitor_probe_history")
    op.drop_table("monitor_probe_latest")
