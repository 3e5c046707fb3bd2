"""Runbook run history: mode, status and RTO against objective, newest first."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from controlplane.store.models import Run

if TYPE_CHECKING:
    from controlplane.store import Store

KIND = "runbook"


def runbook_history(store: Store, *, name: str | None = None, limit: int = 30) -> list[dict[str, Any]]:
    """Return runbook runs newest first (optionally of one runbook), JSON-safe.

    Each row has run_id, runbook, mode, drill, target, actor, trigger,
    status, started_at, finished_at, duration_seconds, rto_seconds,
    rto_objective_seconds, rto_met and error.
    """
    query = select(Run).where(Run.kind == KIND).order_by(Run.id.desc())
    rows: list[dict[str, Any]] = []
    with store.session() as session:
        # Filtering on JSON differs between SQLite and PostgreSQL: filter here.
        for run in session.scalars(query.limit(limit * 20 if name else limit)):
            params = run.params or {}
            if name and params.get("runbook") != name:
                continue
            summary = run.summary or {}
            figures = summary.get("figures") or {}
            data = run.as_dict()
            rows.append(
                {
                    "run_id": run.id,
                    "runbook": params.get("runbook"),
                    "mode": params.get("mode"),
                    "drill": bool(params.get("drill")),
                    "target": run.target,
                    "actor": run.actor,
                    "trigger": run.trigger,
                    "status": run.status,
                    "started_at": data["started_at"],
                    "finished_at": data["finished_at"],
                    "duration_seconds": data["duration_seconds"],
                    "rto_seconds": figures.get("rto_seconds"),
                    "rto_objective_seconds": figures.get("rto_objective_seconds"),
                    "rto_met": figures.get("rto_met"),
                    "error": summary.get("error") or summary.get("refused") or summary.get("interrupted"),
                }
            )
            if len(rows) >= limit:
                break
    return rows
