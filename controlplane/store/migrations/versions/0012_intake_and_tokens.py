"""alert intake tokens per site, bounded refusals; token lifetimes

Per-site Alertmanager intake tokens (hashed), refusal counters per reason, a
token bucket per client address for bad-token attempts and the per-window
counters that keep their audit records bounded. API tokens already carry
``expires_at``; tokens made before this revision have none and are held to
the configured maximum lifetime from their creation when they authenticate.
Two indexes let retention delete old probe history and deliveries by age.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import controlplane.store.models

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _time(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, controlplane.store.models.UTCDateTime(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "alert_intake_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("site", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        _time("created_at"),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        _time("last_used_at", nullable=True),
        _time("revoked_at", nullable=True),
        sa.Column("alerts_accepted", sa.Integer(), nullable=False),
        sa.Column("alerts_refused", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_table(
        "alert_intake_refusals",
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        _time("last_at", nullable=True),
        sa.PrimaryKeyConstraint("reason"),
    )
    op.create_table(
        "alert_intake_buckets",
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        _time("refilled_at"),
        sa.PrimaryKeyConstraint("client"),
    )
    op.create_table(
        "alert_intake_windows",
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        _time("started_at"),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("reported", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("client", "reason"),
    )
    with op.batch_alter_table("monitor_probe_history", schema=None) as batch_op:
        batch_op.create_index("ix_monitor_probe_history_at", ["at"], unique=False)
    with op.batch_alter_table("monitor_deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_monitor_deliveries_created", ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("monitor_deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_monitor_deliveries_created")
    with op.batch_alter_table("monitor_probe_history", schema=None) as batch_op:
        batch_op.drop_index("ix_monitor_probe_history_at")
    op.drop_table("alert_intake_windows")
    op.drop_table("alert_intake_buckets")
    op.drop_table("alert_intake_refusals")
    op.drop_table("alert_intake_tokens")
