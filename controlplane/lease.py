"""The leader lease in the store: one row per lease, read, taken, renewed and released by conditional UPDATEs.

The rules of use (who may take what, and when) are :mod:`controlplane.leader`'s;
this module is only the SQL, the same on SQLite and PostgreSQL. Every
function runs one statement in its own transaction, so on SQLite the
UPDATE takes the write lock as the transaction's first act.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from controlplane.runs import _hostname, process_start_time
from controlplane.store.models import LeaderLease, utcnow

if TYPE_CHECKING:
    from controlplane.store import Store

LEADER = "leader"  # the lease of the scheduler and the monitor


@dataclass(frozen=True)
class Identity:
    """A process that may hold a lease: host, pid, the pid's start time, and a random token per elector."""

    host: str
    pid: int
    started: str | None
    token: str

    @classmethod
    def current(cls) -> Identity:
        """This process, with a fresh token."""
        pid = os.getpid()
        return cls(host=_hostname(), pid=pid, started=process_start_time(pid), token=secrets.token_hex(16))


@dataclass(frozen=True)
class LeaseState:
    """What a lease row says (read in one transaction)."""

    name: str
    token: str
    host: str
    pid: int | None
    pid_started: str | None
    term: int
    version: int
    acquired_at: dt.datetime
    renewed_at: dt.datetime
    expires_at: dt.datetime

    @property
    def released(self) -> bool:
        """True when the last holder gave the lease back (a clean stop)."""
        return not self.token

    def holder_dead_here(self) -> bool:
        """True when the holder was a process of this machine that no longer runs (pid and start time)."""
        if self.released or self.host != _hostname() or self.pid is None:
            return False
        return process_start_time(self.pid) != self.pid_started

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe view for `egov leader` and the API (the token stays out)."""
        live = not self.released and self.expires_at > utcnow()
        return {
            "name": self.name,
            "state": "released" if self.released else ("held" if live else "expired"),
            "host": self.host or None,
            "pid": self.pid,
            "term": self.term,
            "acquired_at": self.acquired_at.isoformat(),
            "renewed_at": self.renewed_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
        }


def describe(state: LeaseState | None) -> str:
    """One line for people: who holds the lease, since when, last renewal (by the holder's clock)."""
    if state is None:
        return "leader: none (no egov serve has held the lease on this store)"
    view = state.as_dict()
    when = f"renewed {view['renewed_at'][:19]}Z, lease until {view['expires_at'][:19]}Z"
    if view["state"] == "held":
        return f"leader: {state.host} pid {state.pid} (term {state.term}) since {view['acquired_at'][:19]}Z, {when}"
    if view["state"] == "released":
        return f"leader: none (released by its last holder at {view['renewed_at'][:19]}Z, term {state.term})"
    return f"leader: none (the lease of {state.host} pid {state.pid} lapsed; {when})"


def read_lease(store: Store, name: str = LEADER) -> LeaseState | None:
    """The lease row ``name`` (None when no process ever held it)."""
    with store.session() as session:
        row = session.scalars(select(LeaderLease).where(LeaderLease.name == name)).first()
        if row is None:
            return None
        return LeaseState(
            row.name, row.token, row.host, row.pid, row.pid_started, row.term, row.version,
            row.acquired_at, row.renewed_at, row.expires_at,
        )  # fmt: skip


def take(store: Store, me: Identity, lease_seconds: float, seen: LeaseState | None, name: str = LEADER) -> bool:
    """Take the lease: insert it when ``seen`` is None, else only if its version is still ``seen.version``.

    Returns True when this identity now holds it. One statement in its own
    transaction (on SQLite it takes the write lock as the first thing).
    """
    now = utcnow()
    holder = {"token": me.token, "host": me.host, "pid": me.pid, "pid_started": me.started}
    times = {"acquired_at": now, "renewed_at": now, "expires_at": now + _seconds(lease_seconds)}
    if seen is None:
        try:
            with store.session() as session:
                session.add(LeaderLease(name=name, term=1, version=1, **holder, **times))
        except IntegrityError:
            return False  # another process inserted it first
        return True
    with store.session() as session:
        changed = session.execute(
            update(LeaderLease)
            .where(LeaderLease.name == name, LeaderLease.version == seen.version)
            .values(term=LeaderLease.term + 1, version=LeaderLease.version + 1, **holder, **times)
        )
        return bool(changed.rowcount == 1)  # type: ignore[attr-defined]


def renew(store: Store, me: Identity, lease_seconds: float, name: str = LEADER) -> bool:
    """Renew the lease if this identity still holds it; False when another took it."""
    now = utcnow()
    with store.session() as session:
        changed = session.execute(
            update(LeaderLease)
            .where(LeaderLease.name == name, LeaderLease.token == me.token)
            .values(version=LeaderLease.version + 1, renewed_at=now, expires_at=now + _seconds(lease_seconds))
        )
        return bool(changed.rowcount == 1)  # type: ignore[attr-defined]


def release(store: Store, me: Identity, name: str = LEADER) -> bool:
    """Give the lease back (a clean stop), so a waiting process takes it at once; False if not ours."""
    now = utcnow()
    with store.session() as session:
        changed = session.execute(
            update(LeaderLease)
            .where(LeaderLease.name == name, LeaderLease.token == me.token)
            .values(token="", version=LeaderLease.version + 1, renewed_at=now, expires_at=now)
        )
        return bool(changed.rowcount == 1)  # type: ignore[attr-defined]


def _seconds(value: float) -> dt.timedelta:
    return dt.timedelta(seconds=value)
