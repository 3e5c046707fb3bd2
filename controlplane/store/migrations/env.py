"""Alembic environment: runs migrations on the connection the Store hands in."""

from __future__ import annotations

from alembic import context

# Feature models register their tables on the shared metadata: import them so
# autogenerate and compare see every table.
import controlplane.automation.models
import controlplane.backup.models
import controlplane.compliance.models
import controlplane.monitoring.models
import controlplane.network.records
import controlplane.pki.records
import controlplane.runbook.models
import controlplane.slo.models  # noqa: F401  (service levels)
from controlplane.store.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    """Run migrations online on the connection given in config.attributes."""
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("migrations run only through controlplane.store.Store.upgrade()")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
