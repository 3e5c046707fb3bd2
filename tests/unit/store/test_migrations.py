"""Migrations apply cleanly on SQLite and on a real PostgreSQL, and twice is a no-op."""

from __future__ import annotations

import pytest
from sqlalchemy import inspect

from controlplane import audit, runs
from controlplane.store import Store, create_store_engine
from controlplane.store.models import Base, Run

EXPECTED_TABLES = {t.name for t in Base.metadata.sorted_tables} | {"alembic_version"}


def _exercise(store: Store) -> None:
    store.upgrade()
    store.upgrade()  # idempotent
    assert store.current_revision() == store.head_revision()
    assert set(inspect(store.engine).get_table_names()) >= EXPECTED_TABLES
    with store.session() as session:
        run = runs.create_run(session, kind="scan", target="all", actor="a")
        runs.append_output(session, run, ["中文 output"])
        runs.finish_run(session, run, "succeeded")
        run_id = run.id
    with store.session() as session:
        loaded = session.get(Run, run_id)
        assert loaded.finished_at.tzinfo is not None
        assert loaded.duration_seconds is not None and loaded.duration_seconds >= 0
    for index in range(3):
        audit.append(store, actor="a", action="x", target=str(index))
    assert audit.verify(store).ok


def test_migrations_on_sqlite(tmp_path) -> None:
    store = Store(create_store_engine(f"sqlite:///{tmp_path}/state/egov.db"))
    _exercise(store)
    store.close()


@pytest.mark.postgres
def test_migrations_on_postgresql(postgres_url: str) -> None:
    store = Store(create_store_engine(postgres_url))
    _exercise(store)
    store.close()


def test_a_malformed_database_url_is_bad_input() -> None:
    from controlplane.errors import BadInputError

    with pytest.raises(BadInputError):
        create_store_engine("not a url")


def test_the_migrated_schema_matches_every_feature_model(tmp_path) -> None:
    """A model changed without its migration (or a migration without its model) shows up here."""
    import importlib

    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    for module in ("automation", "backup", "compliance", "monitoring", "runbook"):
        importlib.import_module(f"controlplane.{module}.models")
    store = Store(create_store_engine(f"sqlite:///{tmp_path}/egov.db"))
    store.upgrade()
    with store.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    store.close()
    assert differences == []
