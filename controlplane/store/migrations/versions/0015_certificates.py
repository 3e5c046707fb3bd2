"""certificates: the register of what the control plane's CA issued

Table of :mod:`controlplane.pki.records`. Nothing existing changes.

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import controlplane.store.models

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def _time(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, controlplane.store.models.UTCDateTime(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "certificates",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("serial", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("principals", sa.JSON(), nullable=False),
        sa.Column("fingerprint", sa.String(length=80), nullable=False),
        _time("not_before"),
        _time("not_after"),
        sa.Column("requester", sa.String(length=128), nullable=False),
        _time("issued_at"),
        _time("revoked_at", nullable=True),
        sa.Column("revoked_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("serial"),
    )
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.create_index("ix_certificates_kind_subject", ["kind", "subject"], unique=False)
        batch_op.create_index("ix_certificates_fingerprint", ["fingerprint"], unique=False)
        batch_op.create_index("ix_certificates_not_after", ["not_after"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.drop_index("ix_certificates_not_after")
        batch_op.drop_index("ix_certificates_fingerprint")
        batch_op.drop_index("ix_certificates_kind_subject")
    op.drop_table("certificates")
