"""network_verifies: the stored reachability verifies of the network (issue 16)

Table of :mod:`controlplane.network.records`. Nothing existing changes.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import controlplane.store.models

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def _time(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, controlplane.store.models.UTCDateTime(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "network_verifies",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        _time("started_at"),
        _time("finished_at"),
        sa.Column("scope", sa.String(length=80), nullable=False),
        sa.Column("violations", sa.Integer(), nullable=False),
        sa.Column("breakages", sa.Integer(), nullable=False),
        sa.Column("findings", sa.Integer(), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("actor", sa.String(length=128), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("network_verifies", schema=None) as batch_op:
        batch_op.create_index("ix_network_verifies_scope_started", ["scope", "started_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("network_verifies", schema=None) as batch_op:
        batch_op.drop_index("ix_network_verifies_scope_started")
    op.drop_table("network_verifies")
