"""One runbook per target at a time: target locks with a conditional insert.

Each target host is a row of ``runbook_locks`` keyed by the host name. Taking
the locks inserts every row in one transaction; the primary key makes a
concurrent insert fail, so two runbooks can never both hold a host. A lock
whose run is no longer active (finished, or interrupted by a crash) is stale
and is removed by the next taker.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from controlplane.errors import EgovError
from controlplane.runbook.models import RunbookLock
from controlplane.runs import recover_interrupted
from controlplane.store.models import Run, RunStatus, utcnow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from controlplane.store import Store


class TargetBusy(EgovError):
    """A target is held by another active runbook run (the message names it)."""


def _holder_message(session: Session, lock: RunbookLock) -> str:
    run = session.get(Run, lock.run_id)
    since = lock.acquired_at.isoformat(timespec="seconds") if lock.acquired_at else "?"
    status = run.status if run is not None else "gone"
    return (
        f"{lock.target} is held by runbook {lock.runbook} (run {lock.run_id}, {status}) "
        f"started by {lock.actor} at {since}"
    )


def acquire(store: Store, *, run_id: int, runbook: str, actor: str, targets: Sequence[str]) -> None:
    """Take every target for a run, or none.

    Raises TargetBusy naming the run, runbook and actor holding the first
    busy target.
    """
    if not targets:
        return
    try:
        with store.session() as session:
            # A crashed holder's run is marked interrupted first, so its locks read as stale.
            recover_interrupted(session)
            for target in targets:
                lock = session.get(RunbookLock, target)
                if lock is None:
                    continue
                holder = session.get(Run, lock.run_id)
                if holder is not None and holder.status in RunStatus.ACTIVE and holder.id != run_id:
                    raise TargetBusy(_holder_message(session, lock))
                session.delete(lock)
            session.flush()
            for target in targets:
                session.add(
                    RunbookLock(target=target, run_id=run_id, runbook=runbook, actor=actor, acquired_at=utcnow())
                )
            session.flush()
    except IntegrityError:
        # Lost a race for a row inserted between our read and our insert.
        with store.session() as session:
            for target in targets:
                lock = session.get(RunbookLock, target)
                if lock is not None and lock.run_id != run_id:
                    raise TargetBusy(_holder_message(session, lock)) from None
        raise TargetBusy(f"{', '.join(targets)}: taken by another run at the same moment") from None


def release(store: Store, run_id: int) -> None:
    """Release every target a run holds."""
    with store.session() as session:
        session.execute(delete(RunbookLock).where(RunbookLock.run_id == run_id))


def holders(store: Store) -> list[dict[str, Any]]:
    """Return the current locks (target, run, runbook, actor, since)."""
    with store.session() as session:
        return [
            {
                "target": lock.target,
                "run_id": lock.run_id,
                "runbook": lock.runbook,
                "actor": lock.actor,
                "acquired_at": lock.acquired_at.isoformat() if lock.acquired_at else None,
            }
            for lock in session.scalars(select(RunbookLock).order_by(RunbookLock.target))
        ]
