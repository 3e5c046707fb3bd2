"""runs: indexes for the console's per-site listings and counts

The console asks "the newest runs of these sites" and "how many runs of
these sites are running or failed" on every dashboard, hosts and runs page.
With only (site, created_at) and (status) a province user's queries scanned
every run of the status or sorted by id; (site, id) and (status, site) answer
both from the index alone.

Revision ID: 0007
Revises: 0003
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_runs_site_id", "runs", ["site", "id"])
    op.create_index("ix_runs_status_site", "runs", ["status", "site"])


def downgrade() -> None:
    op.drop_index("ix_runs_status_site", table_name="runs")
    op.drop_index("ix_runs_site_id", table_name="runs")
