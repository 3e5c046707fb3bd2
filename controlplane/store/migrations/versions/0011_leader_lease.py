"""one leader among egov serve processes: a lease row

``leader_leases`` holds one row per lease (``leader``: the scheduler and the
monitor). A process takes or renews it with a conditional UPDATE (on the
holder's token to renew, on the version it watched go stale to take over),
so the same code works on SQLite and PostgreSQL (see controlplane.leader).

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import controlplane.store.models

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _time(name: str) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, controlplane.store.models.UTCDateTime(), nullable=False)


def upgrade() -> None:
    op.create_table(
        "leader_leases",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=True),
        sa.Column("pid_started", sa.String(length=32), nullable=True),
        sa.Column("term", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        _time("acquired_at"),
        _time("renewed_at"),
        _time("expires_at"),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("leader_leases")
