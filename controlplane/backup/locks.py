"""Our own per-repository lock: one backup, check or prune of a repository at a time.

restic locks repositories itself, but a prune that starts while a backup
waits for its lock would make the backup fail after ``--retry-lock``; and a
stale restic lock may only be removed when none of *our* runs uses the
repository. Both need to know what our runs hold, so writers of a repository
take a row in ``backup_repo_locks`` first. The primary key serialises them
(exactly one INSERT wins); a row whose run is no longer active (finished, or
marked interrupted because its process died) is stale and taken over.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from controlplane.errors import EgovError
from controlplane.store.models import Run, RunStatus, utcnow

from .models import RUN_KINDS, RepoLock

if TYPE_CHECKING:
    from controlplane.store import Store


class RepositoryBusyError(EgovError):
    """Another run of ours held the repository for the whole wait."""


def try_acquire(store: Store, repository: str, run_id: int, kind: str) -> Run | None:
    """Take the lock for a run; return None on success, else the active run holding it."""
    with store.session() as session:
        row = session.get(RepoLock, repository)
        if row is not None:
            holder = session.get(Run, row.run_id)
            if holder is not None and holder.status in RunStatus.ACTIVE and holder.id != run_id:
                session.expunge(holder)
                return holder
            session.delete(row)
            session.flush()
    try:
        with store.session() as session:
            session.add(RepoLock(repository=repository, run_id=run_id, kind=kind, acquired_at=utcnow()))
    except IntegrityError:
        with store.session() as session:
            row = session.get(RepoLock, repository)
            holder = session.get(Run, row.run_id) if row else None
            if holder is not None:
                session.expunge(holder)
            return holder
    return None


def release(store: Store, repository: str, run_id: int) -> None:
    """Drop the lock if this run holds it."""
    with store.session() as session:
        session.execute(delete(RepoLock).where(RepoLock.repository == repository, RepoLock.run_id == run_id))


@contextmanager
def repository_lock(store: Store, repository: str, run_id: int, kind: str, wait: float) -> Iterator[None]:
    """Hold the repository for a run, waiting up to ``wait`` seconds for another run to finish.

    Raises RepositoryBusyError naming the holder when the wait runs out.
    """
    deadline = time.monotonic() + wait
    while True:
        holder = try_acquire(store, repository, run_id, kind)
        if holder is None:
            break
        if time.monotonic() >= deadline:
            raise RepositoryBusyError(
                f"repository is busy: run {holder.id} ({holder.kind} of {holder.target}) holds it; waited {wait:.0f} s"
            )
        time.sleep(1.0)
    try:
        yield
    finally:
        release(store, repository, run_id)


def other_active_runs(store: Store, target: str, run_id: int) -> list[int]:
    """Ids of our active runs on the same dataset and host (any backup kind) other than ``run_id``.

    "No run of ours holds that repository" before a stale-lock ``unlock``
    means this list is empty: restores and drills hold restic's shared lock
    without taking :class:`RepoLock`, so they are counted here too.
    """
    with store.session() as session:
        query = select(Run.id).where(
            Run.target == target, Run.kind.in_(RUN_KINDS), Run.status.in_(RunStatus.ACTIVE), Run.id != run_id
        )
        return list(session.scalars(query))
