"""What an attacker who can write the database (but holds no master key) can do to the audit log.

``forge_from`` rewrites a record and recomputes, with the public unkeyed
SHA-256 rule, every hash after it and the head setting: the complete forgery
a database writer can make. ``legacy_store`` opens the same database as a
process that has no vault (an older control plane), whose records are
unkeyed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, text, update

from controlplane import audit
from controlplane.store import Store, create_store_engine
from controlplane.store.models import AuditRecord, Setting

FIELDS = ("seq", "at", "actor", "action", "target", "outcome", "client", "details")


def fill(store: Any, count: int = 6, site: str | None = None) -> None:
    """Append ``count`` ordinary records."""
    for index in range(count):
        audit.append(store, actor="alice", action="run.start", target=f"host-{index}", details={"n": index})


def forge_from(store: Any, seq: int, *, drop_key: bool = True, **changes: Any) -> None:
    """Change record ``seq`` and recompute every later hash (unkeyed SHA-256) and the head, as a DB writer can."""
    with store.session() as session:
        rows = list(session.scalars(select(AuditRecord).order_by(AuditRecord.seq)))
        prev = audit.GENESIS
        for row in rows:
            if row.seq == seq:
                for name, value in changes.items():
                    setattr(row, name, value)
            if row.seq >= seq:
                if drop_key and hasattr(row, "key_id"):
                    row.key_id = None
                body = {name: getattr(row, name) for name in FIELDS}
                row.prev_hash = prev
                row.hash = audit.record_hash(prev, body)
            prev = row.hash
        session.flush()
        head = session.get(Setting, audit.HEAD_KEY)
        if head is not None and rows:
            head.value = f"{rows[-1].seq}:{prev}"


def wipe(store: Any) -> None:
    """Delete every record and the head setting (what once verified as 'ok, 0 records')."""
    with store.engine.begin() as connection:
        connection.execute(text("DELETE FROM audit_log"))
        connection.execute(text("DELETE FROM settings WHERE key = 'audit.head'"))


def truncate_to(store: Any, keep: int) -> None:
    """Delete the records after ``keep`` and rewrite the head to match, as a DB writer can."""
    with store.session() as session:
        session.execute(AuditRecord.__table__.delete().where(AuditRecord.seq > keep))
        last = session.get(AuditRecord, keep)
        session.execute(update(Setting).where(Setting.key == audit.HEAD_KEY).values(value=f"{keep}:{last.hash}"))


@pytest.fixture
def legacy_store(config: Any) -> Iterator[Store]:
    """The site's database opened by a process without a vault (its records are unkeyed)."""
    opened = Store(create_store_engine(config.database_url))
    opened.upgrade()
    yield opened
    opened.close()
