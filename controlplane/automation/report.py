"""What the automation tables say, per run and per host (read only).

* :func:`host_progress` — a run's per-host counters (ok, changed, failed,
  unreachable, skipped) and the last task seen on each host, from the task
  results the engine stores while the run goes (the live view of the console);
* :func:`drift` — per host and playbook, what the newest finished ``--check``
  run reported as would-change (task, role, control ids);
* :func:`host_history` — the playbook runs that touched a host, newest first,
  with the host's tally in each.

Everything takes an open SQLAlchemy session and returns JSON-safe data.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.automation import events
from controlplane.automation.models import HostRunStats, HostTaskResult
from controlplane.store.models import Run, RunStatus

if TYPE_CHECKING:
    import datetime as dt

KINDS = ("provision", "harden")
# A check run that ended like this has looked at its hosts; cancelled or interrupted ones may not have.
CHECKED = (RunStatus.SUCCEEDED, RunStatus.PARTIAL, RunStatus.FAILED)
COUNTERS = ("ok", "changed", "failed", "unreachable", "skipped")


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def run_dict(run: Run) -> dict[str, Any]:
    """The fields of an automation run a listing shows (no output)."""
    params = run.params or {}
    summary = run.summary or {}
    return {
        "id": run.id,
        "kind": run.kind,
        "target": run.target,
        "site": run.site,
        "status": run.status,
        "check": bool(run.dry_run),
        "diff": bool(params.get("diff")),
        "hosts": list(params.get("hosts") or []),
        "actor": run.actor,
        "trigger": run.trigger,
        "created_at": _iso(run.created_at),
        "finished_at": _iso(run.finished_at),
        "totals": summary.get("totals") or {},
        "message": summary.get("message") or "",
    }


def _as_result(row: HostTaskResult) -> events.TaskResult:
    return events.TaskResult(
        host=row.host,
        task=row.task,
        role=row.role,
        status=row.status,
        changed=row.changed,
        controls=tuple(row.controls or ()),
        message=row.message or "",
    )


def host_progress(session: Session, run: Run) -> dict[str, Any]:
    """Return a run's per-host progress.

    Returns ``{"run": ...,
    "final": bool, "hosts": [{host, state, ok, changed, failed, unreachable,
    skipped, last_task}]}`` with every host of the run in its order (hosts
    with no result yet are ``waiting``). While the run goes the counters
    come from the stored task results; once it ended, from the per-host
    stats the engine wrote (the same numbers ansible's recap prints).
    """
    names = list((run.params or {}).get("hosts") or [])
    rows = session.scalars(
        select(HostTaskResult).where(HostTaskResult.run_id == run.id).order_by(HostTaskResult.id)
    ).all()
    tallies = events.tally((_as_result(row) for row in rows), names)
    last_task = {row.host: row.task for row in rows}
    stats = {s.host: s for s in session.scalars(select(HostRunStats).where(HostRunStats.run_id == run.id))}
    final = run.status in RunStatus.FINAL
    hosts = []
    for name, tally in tallies.items():
        stat = stats.get(name)
        if stat is not None:
            counts = {key: int(getattr(stat, key)) for key in COUNTERS}
            state = stat.outcome
        else:
            counts = {key: int(getattr(tally, key)) for key in COUNTERS}
            seen = name in last_task
            state = tally.outcome if seen and final else ("running" if seen else "waiting")
            if final and not seen:
                state = "not run"
            elif not final and tally.outcome in ("failed", "unreachable"):
                state = tally.outcome
        hosts.append({"host": name, "state": state, **counts, "last_task": last_task.get(name, "")})
    return {"run": run_dict(run), "final": final, "hosts": hosts}


def drift(session: Session, hosts: Iterable[str], kinds: Iterable[str] = KINDS) -> list[dict[str, Any]]:
    """Return, per host and playbook kind, what the newest finished check run would change.

    Each item: ``{host, kind, run_id, checked_at, outcome, would_change: [{task,
    role, controls}], drifted}``; hosts never checked are absent. A host that
    failed or was unreachable in its check has ``outcome`` saying so (its
    drift is unknown rather than zero).
    """
    wanted = sorted(set(hosts))
    if not wanted:
        return []
    query = (
        select(HostRunStats, Run)
        .join(Run, Run.id == HostRunStats.run_id)
        .where(
            HostRunStats.host.in_(wanted),
            Run.dry_run.is_(True),
            Run.kind.in_(list(kinds)),
            Run.status.in_(CHECKED),
        )
        .order_by(Run.id.desc())
    )
    newest: dict[tuple[str, str], tuple[HostRunStats, Run]] = {}
    for stat, run in session.execute(query).all():
        newest.setdefault((stat.host, run.kind), (stat, run))
    items = []
    for (host, kind), (stat, run) in sorted(newest.items()):
        changes = session.scalars(
            select(HostTaskResult)
            .where(HostTaskResult.run_id == run.id, HostTaskResult.host == host, HostTaskResult.status == "changed")
            .order_by(HostTaskResult.id)
        ).all()
        items.append(
            {
                "host": host,
                "kind": kind,
                "run_id": run.id,
                "checked_at": _iso(run.finished_at or run.created_at),
                "outcome": stat.outcome,
                "drifted": bool(changes),
                "would_change": [
                    {"task": row.task, "role": row.role, "controls": list(row.controls or [])} for row in changes
                ],
            }
        )
    return items


def host_history(session: Session, host: str, limit: int = 50) -> list[dict[str, Any]]:
    """Return the playbook runs that touched ``host``, newest first, with the host's tally.

    Runs still going (no per-host stats yet) are listed from the host lock's
    run list in their params, with empty counters.
    """
    finished = session.execute(
        select(HostRunStats, Run)
        .join(Run, Run.id == HostRunStats.run_id)
        .where(HostRunStats.host == host, Run.kind.in_(KINDS))
        .order_by(Run.id.desc())
        .limit(limit)
    ).all()
    items: dict[int, dict[str, Any]] = {}
    for stat, run in finished:
        items[run.id] = {
            **run_dict(run),
            "host_outcome": stat.outcome,
            **{key: int(getattr(stat, key)) for key in COUNTERS},
        }
    active = session.scalars(
        select(Run).where(Run.kind.in_(KINDS), Run.status.in_(RunStatus.ACTIVE)).order_by(Run.id.desc()).limit(100)
    ).all()
    for run in active:
        if host in ((run.params or {}).get("hosts") or []):
            items[run.id] = {**run_dict(run), "host_outcome": "running", **dict.fromkeys(COUNTERS, 0)}
    return [items[key] for key in sorted(items, reverse=True)][:limit]


def recent_runs(session: Session, allows: Callable[[str | None], bool], limit: int = 30) -> list[dict[str, Any]]:
    """Return the newest automation runs whose site ``allows(site)`` accepts."""
    runs = session.scalars(select(Run).where(Run.kind.in_(KINDS)).order_by(Run.id.desc()).limit(500)).all()
    return [run_dict(run) for run in runs if allows(run.site)][:limit]
