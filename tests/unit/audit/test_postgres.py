"""The keyed chain on a real PostgreSQL: forgery caught, archive and verify across it (server-side cursors)."""

from __future__ import annotations

import datetime as dt
import secrets

import pytest
from sqlalchemy import create_engine, text

from controlplane import audit
from controlplane.audit import archive
from tests.conftest import write_config
from tests.unit.audit.conftest import fill, forge_from

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_config(postgres_url: str, tmp_path):  # type: ignore[no-untyped-def]
    """A site whose store is a fresh database of its own on the session's PostgreSQL server."""
    from controlplane.config import load_config
    from controlplane.vault import create_key_file

    name = f"egov_audit_{secrets.token_hex(4)}"
    admin = create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    admin.dispose()
    url = postgres_url.replace("/egov?", f"/{name}?")
    config = load_config(write_config(tmp_path, state={"dir": "var", "database": url}))
    create_key_file(config.key_file)
    return config


def test_a_keyed_chain_on_postgresql_catches_a_forgery_and_verifies_across_an_archive(pg_config) -> None:
    from controlplane.store import open_store

    store = open_store(pg_config)
    try:
        fill(store, 4)
        cutoff = dt.datetime.now(dt.UTC)
        fill(store, 2)
        made = archive.archive_before(pg_config, store, cutoff)
        assert made is not None and made.count == 4
        result = audit.verify(store)
        assert result.ok and result.count == 7 and result.keyed_since == 1
        forge_from(store, 6, drop_key=False, actor="mallory")
        assert audit.verify(store).bad_seq == 6
    finally:
        store.close()
