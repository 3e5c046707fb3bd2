"""backup: off-site copy figures per dataset and host; backup tables owned by Alembic alone

Adds to ``backup_status`` what the off-site copy (``restic copy`` to the
secondary center) records: when it last ran, how it ended, its last success
and the time of the newest snapshot known to be on the secondary (the copy
age of the DR report). From this revision on the backup engine no longer
creates tables itself (it used ``create_all`` while 0005 was not in the chain);
it only checks that they are there. The active backup center is a row of the
existing ``settings`` table (key ``backup.active_center``), so it needs no table.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import controlplane.store.models

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

COLUMNS = (
    ("last_copy_at", controlplane.store.models.UTCDateTime),
    ("last_copy_status", lambda: sa.String(length=16)),
    ("last_copy_success_at", controlplane.store.models.UTCDateTime),
    ("last_copy_snapshot_time", controlplane.store.models.UTCDateTime),
)


def upgrade() -> None:
    with op.batch_alter_table("backup_status") as batch:
        for name, kind in COLUMNS:
            batch.add_column(sa.Column(name, kind(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("backup_status") as batch:
        for name, _kind in reversed(COLUMNS):
            batch.drop_column(name)
