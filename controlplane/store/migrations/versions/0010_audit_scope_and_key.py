"""audit records carry their site; the chain is keyed

Revision ID: 0010
Revises: 0009

``site`` (nullable: None is ministry level) lets a provincial auditor see only
records of their sites; ``key_id`` names the vault key whose HMAC-SHA256 is a
record's hash (None: the unkeyed SHA-256 records an older store wrote, vouched
for by the first keyed record, see controlplane.audit). ``at`` gets an index
for retention (records older than a date are archived).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (nullable, no default): instant on SQLite and PostgreSQL, no table copy of a large log.
    op.add_column("audit_log", sa.Column("site", sa.String(length=64), nullable=True))
    op.add_column("audit_log", sa.Column("key_id", sa.String(length=16), nullable=True))
    op.create_index("ix_audit_log_site", "audit_log", ["site", "seq"])
    op.create_index("ix_audit_log_at", "audit_log", ["at"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_at", table_name="audit_log")
    op.drop_index("ix_audit_log_site", table_name="audit_log")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("key_id")
        batch.drop_column("site")
