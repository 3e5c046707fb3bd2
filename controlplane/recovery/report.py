"""The DR report's row for the control plane itself: its kit, its last recovery drill, its own backups.

The verdict is ``ok`` with a current kit and a passing ``recover-controlplane``
drill within :data:`~controlplane.backup.report.DRILL_MAX_AGE`; ``warning``
otherwise, with the reasons (no kit, a stale or used kit, no or a failed
drill). The control plane's own backups keep their rows (and verdicts) in
the report's table, so this row never changes whether the report is READY.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from controlplane.store.models import Run

if TYPE_CHECKING:
    from controlplane.backup.context import BackupContext
    from controlplane.store import Store

RUNBOOK = "recover-controlplane"


def last_drill(store: Store) -> dict[str, Any] | None:
    """The newest drill of the recovery runbook: when, status, RPO and RTO (None: never drilled)."""
    with store.session() as session:
        for run in session.scalars(select(Run).where(Run.kind == "runbook").order_by(Run.id.desc()).limit(500)):
            params = run.params or {}
            if params.get("runbook") != RUNBOOK or params.get("mode") != "drill":
                continue
            figures = (run.summary or {}).get("figures") or {}
            return {
                "run_id": run.id,
                "at": run.finished_at.isoformat() if run.finished_at else None,
                "status": run.status,
                "rpo_seconds": figures.get("rpo_seconds"),
                "rto_seconds": figures.get("console_rto_seconds", figures.get("rto_seconds")),
            }
    return None


def controlplane_row(ctx: BackupContext, now: dt.datetime) -> dict[str, Any]:
    """The row (see the module docstring). Never raises for a broken kit: the reason says it."""
    from controlplane.backup.report import DRILL_MAX_AGE, human_age

    from .status import kit_status

    kit = kit_status(ctx.config, ctx.store, getattr(ctx, "vault", None), getattr(ctx, "inventory", None))
    drill = last_drill(ctx.store)
    reasons = [] if kit.state == "current" else [kit.sentence()]
    if drill is None:
        reasons.append(f"the control plane's recovery was never drilled (egov runbook drill {RUNBOOK})")
    elif drill["status"] != "succeeded":
        reasons.append(f"the last recovery drill {drill['status']}")
    elif drill["at"] and (now - dt.datetime.fromisoformat(drill["at"])).total_seconds() > DRILL_MAX_AGE:
        reasons.append("no recovery drill in the last 35 days")
    rto = drill.get("rto_seconds") if drill else None
    return {
        "dataset": "control plane (recovery kit and drill)",
        "kit": kit.as_dict(),
        "last_drill": drill,
        "drill_human": "never"
        if drill is None
        else (
            f"{drill['status']} RPO {human_age(drill.get('rpo_seconds'))} RTO {'-' if rto is None else f'{rto:.1f}s'}"
        ),
        "verdict": "warning" if reasons else "ok",
        "reasons": reasons,
    }
