"""The state store: engine, sessions and migrations.

SQLite by default (WAL, foreign keys, a busy timeout so the console, the
scheduler and CLI commands can share one file), PostgreSQL by URL. The schema
is owned by Alembic: :meth:`Store.upgrade` applies every migration, and
opening a store whose schema is behind refuses with a clear message.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from controlplane.errors import BadInputError, EgovError

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig
    from sqlalchemy import Connection
    from sqlalchemy.engine.interfaces import DBAPIConnection
    from sqlalchemy.pool import ConnectionPoolEntry

    from controlplane.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_store_engine(url: str) -> Engine:
    """Return an Engine for a database URL.

    A PostgreSQL password comes from libpq's PGPASSFILE, never from the
    URL, so it cannot reach a log or an error (parameters are hidden too).
    SQLite gets WAL and a busy timeout, and its folder is created. Raises
    BadInputError for a malformed URL.
    """
    try:
        parsed = make_url(url)
    except Exception as error:  # sqlalchemy raises ArgumentError and others
        raise BadInputError(f"invalid database URL: {error}") from None
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": 10}, hide_parameters=True)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return create_engine(parsed, pool_pre_ping=True, hide_parameters=True, pool_size=10, max_overflow=20)


class Store:
    """The open state store: an engine and a session factory."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)
        # The site Config when opened by open_store: the audit log finds its vault key through it.
        self.config: Config | None = None

    @contextlib.contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error."""
        session = self.sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def _alembic_config(self, connection: Connection | None) -> AlembicConfig:
        from alembic.config import Config as AlembicConfig

        config = AlembicConfig()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        return config

    def upgrade(self) -> None:
        """Apply every pending migration (idempotent)."""
        from alembic import command

        try:
            with self.engine.begin() as connection:
                command.upgrade(self._alembic_config(connection), "head")
        except OperationalError as error:
            raise EgovError(f"cannot migrate the state store: {error.orig}") from None

    def current_revision(self) -> str | None:
        """Return the schema revision applied to the database (None if none)."""
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()

    def head_revision(self) -> str | None:
        """Return the newest revision the code knows."""
        from alembic.script import ScriptDirectory

        return ScriptDirectory.from_config(self._alembic_config(None)).get_current_head()

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()


def open_store(config: Config, *, upgrade: bool = True, recover: bool = True) -> Store:
    """Open the store named by a Config, migrating and recovering as asked.

    ``upgrade`` applies pending migrations; ``recover`` marks runs whose
    owning process died as interrupted. Raises EgovError when the database
    cannot be reached or migrated.
    """
    store = Store(create_store_engine(config.database_url))
    store.config = config
    try:
        if upgrade:
            store.upgrade()
        if recover:
            from controlplane.runs import recover_interrupted

            with store.session() as session:
                recover_interrupted(session)
    except OperationalError as error:
        raise EgovError(f"cannot open the state store: {error.orig}") from None
    return store
