"""Per-host locks: one playbook run per host at a time.

A run takes every host it touches in one transaction. Locks held by runs that
are no longer active (finished, cancelled, or marked interrupted because
their process died) are stale and released first, so a crash never leaves a
host locked for good. Two runs racing for one host are serialised by the
primary key on ``host_locks.host``: exactly one INSERT wins.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from controlplane.automation.models import HostLock
from controlplane.errors import EgovError
from controlplane.store.models import Run, RunStatus, utcnow


class HostBusyError(EgovError):
    """A host is already in another active run: this run is refused."""


def release_stale(session: Session) -> list[str]:
    """Delete locks whose run is finished, interrupted or gone; return the hosts freed."""
    rows = session.execute(select(HostLock.host, Run.status).outerjoin(Run, Run.id == HostLock.run_id)).all()
    stale = [host for host, status in rows if status not in RunStatus.ACTIVE]
    if stale:
        session.execute(delete(HostLock).where(HostLock.host.in_(stale)))
        session.flush()
    return stale


def holders(session: Session, hosts: Sequence[str]) -> dict[str, Run]:
    """Return {host: run} for the given hosts that an active run holds."""
    query = (
        select(HostLock.host, Run)
        .join(Run, Run.id == HostLock.run_id)
        .where(HostLock.host.in_(list(hosts)), Run.status.in_(RunStatus.ACTIVE))
    )
    return {host: run for host, run in session.execute(query).all()}


def busy_message(held: dict[str, Run]) -> str:
    """A message naming each busy host and the run (id, kind, actor) that holds it."""
    by_run: dict[int, list[str]] = {}
    runs: dict[int, Run] = {}
    for host, run in sorted(held.items()):
        by_run.setdefault(run.id, []).append(host)
        runs[run.id] = run
    parts = [
        f"{', '.join(hosts)} {'is' if len(hosts) == 1 else 'are'} in run {run_id} "
        f"({runs[run_id].kind} by {runs[run_id].actor}, {runs[run_id].status})"
        for run_id, hosts in by_run.items()
    ]
    return "refused: " + "; ".join(parts) + " — wait for it to end or cancel it with `egov runs cancel ID`"


def acquire(session: Session, run: Run, hosts: Sequence[str]) -> None:
    """Lock every host for a run, or none.

    All or none, so two runs never share a host. Stale locks (of runs no
    longer active) are dropped first. The caller commits. Raises
    HostBusyError naming the run that holds a host.
    """
    release_stale(session)
    held = holders(session, hosts)
    if held:
        raise HostBusyError(busy_message(held))
    now = utcnow()
    try:
        with session.begin_nested():
            for host in hosts:
                session.add(HostLock(host=host, run_id=run.id, acquired_at=now))
            session.flush()
    except IntegrityError:
        # Another run took a host between our check and our insert.
        held = holders(session, hosts)
        raise HostBusyError(busy_message(held) if held else "refused: a host was taken by another run") from None


def release(session: Session, run_id: int) -> int:
    """Release every lock of a run; return how many were held."""
    result = session.execute(delete(HostLock).where(HostLock.run_id == run_id))
    session.flush()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
