"""The DR readiness report and the rows behind ``egov backup list`` and the console grid.

Per dataset and host: last success and its age against the RPO, the last
run's status, the last integrity check, the last restore drill with its
achieved RPO (data age) and RTO, and a verdict:

* ``never``: no successful backup at all;
* ``stale``: the last success is older than the RPO (the RPO is breached);
* ``warning``: within RPO, but the last run failed, the last check failed,
  the last drill failed, no drill within :data:`DRILL_MAX_AGE` for a dataset
  that has a drill target, the age is past :data:`WARN_SHARE` of the RPO, or
  (with a secondary center) no off-site copy at all or its newest snapshot
  older than :func:`offsite_limit`;
* ``ok``: everything above is fine.
"""

from __future__ import annotations

import datetime as dt
import html
from typing import TYPE_CHECKING, Any

from controlplane.store.models import RunStatus, utcnow

from .models import BackupStatus

if TYPE_CHECKING:
    from controlplane.config import Config
    from controlplane.inventory import Inventory
    from controlplane.store import Store

    from .context import BackupContext
    from .policy import Dataset
    from .targets import BackupTarget


WARN_SHARE = 0.8
DRILL_MAX_AGE = 35 * 86400
VERDICTS = ("ok", "warning", "stale", "never")
OFFSITE_MIN_LIMIT = 86400


def offsite_limit(rpo_seconds: int) -> int:
    """How old the newest off-site copy may be before it is a warning: twice the RPO, at least a day."""
    return max(2 * rpo_seconds, OFFSITE_MIN_LIMIT)


def human_age(seconds: float | None) -> str:
    """``95`` -> ``1m35s``; ``None`` -> ``-``."""
    if seconds is None:
        return "-"
    seconds = int(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours}h"
    if hours:
        return f"{hours}h{minutes}m"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{seconds}s"


def verdict(row: dict[str, Any], rpo_seconds: int, has_drill: bool, offsite: bool = False) -> tuple[str, list[str]]:
    """Return the verdict of one readiness row and the reasons behind it (pure).

    ``offsite``: the policy has a secondary center, so the row's off-site
    copy age (``copy_age_seconds``) counts too.
    """
    age = row["age_seconds"]
    if age is None:
        return "never", ["no successful backup yet"]
    if age > rpo_seconds:
        return "stale", [f"last success {human_age(age)} ago exceeds the RPO of {human_age(rpo_seconds)}"]
    reasons = []
    if row["last_status"] in (RunStatus.FAILED, RunStatus.PARTIAL, RunStatus.INTERRUPTED):
        reasons.append(f"last backup run {row['last_status']}")
    if age > WARN_SHARE * rpo_seconds:
        reasons.append("close to the RPO")
    if row["last_check_status"] not in (None, RunStatus.SUCCEEDED):
        reasons.append(f"last check {row['last_check_status']}")
    if has_drill:
        if row["last_drill_passed"] is False:
            reasons.append("last drill failed")
        elif row["drill_age_seconds"] is None or row["drill_age_seconds"] > DRILL_MAX_AGE:
            reasons.append("no restore drill in the last 35 days")
    if offsite:
        copy_age = row.get("copy_age_seconds")
        if copy_age is None:
            reasons.append("no off-site copy on the secondary center")
        elif copy_age > offsite_limit(rpo_seconds):
            reasons.append(f"newest off-site copy is {human_age(copy_age)} old")
    return ("warning" if reasons else "ok"), reasons


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def readiness(ctx: BackupContext | PolicyView, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """One row per dataset and host of the policy with its figures and verdict."""
    now = now or utcnow()
    with ctx.store.session() as session:
        status = {(row.dataset, row.host): row for row in session.query(BackupStatus).all()}
        for row in status.values():
            session.expunge(row)
    rows = []
    for dataset in ctx.policy.datasets:
        for target in ctx.targets(dataset):
            found = status.get((dataset.name, target.host))

            def get(name: str, found: BackupStatus | None = found) -> Any:
                return getattr(found, name) if found is not None else None

            success = get("last_success_at")
            drill_at = get("last_drill_at")
            copied = get("last_copy_snapshot_time")
            row = {
                "dataset": dataset.name,
                "host": target.host,
                "site": target.site,
                "schedule": dataset.schedule,
                "rpo": dataset.rpo,
                "rpo_seconds": dataset.rpo_seconds,
                "repository": target.repository,
                "last_success": _iso(success),
                "age_seconds": round((now - success).total_seconds(), 1) if success else None,
                "last_status": get("last_status"),
                "last_message": get("last_message") or "",
                "last_run_id": get("last_run_id"),
                "last_run_at": _iso(get("last_run_at")),
                "last_snapshot_id": get("last_snapshot_id"),
                "last_duration_seconds": get("last_duration_seconds"),
                "last_bytes_added": get("last_bytes_added"),
                "last_check": _iso(get("last_check_at")),
                "last_check_status": get("last_check_status"),
                "last_prune": _iso(get("last_prune_at")),
                "drill_target": dataset.drill.target if dataset.drill else None,
                "last_drill": _iso(drill_at),
                "last_drill_passed": get("last_drill_passed"),
                "drill_age_seconds": round((now - drill_at).total_seconds(), 1) if drill_at else None,
                "last_drill_rpo_seconds": get("last_drill_rpo_seconds"),
                "last_drill_rto_seconds": get("last_drill_rto_seconds"),
                "last_copy": _iso(get("last_copy_at")),
                "last_copy_status": get("last_copy_status"),
                "last_copy_snapshot_time": _iso(copied),
                "copy_age_seconds": round((now - copied).total_seconds(), 1) if copied else None,
            }
            offsite = ctx.policy.secondary is not None
            row["verdict"], row["reasons"] = verdict(row, dataset.rpo_seconds, dataset.drill is not None, offsite)
            row["copy_human"] = human_age(row["copy_age_seconds"]) if offsite else "-"
            row["age_human"] = human_age(row["age_seconds"])
            row["age_share"] = round(row["age_seconds"] / dataset.rpo_seconds, 3) if success else None
            if drill_at is None:
                row["drill_human"] = "never" if dataset.drill else "-"
            else:
                rto = row["last_drill_rto_seconds"]
                row["drill_human"] = (
                    f"{'passed' if row['last_drill_passed'] else 'FAILED'} "
                    f"RPO {human_age(row['last_drill_rpo_seconds'])} "
                    f"RTO {'-' if rto is None else f'{round(rto, 1)}s'}"
                )
            rows.append(row)
    return rows


def report_data(ctx: BackupContext | PolicyView, now: dt.datetime | None = None) -> dict[str, Any]:
    """The whole DR readiness report as JSON-safe data: generated time, totals, rows."""
    now = now or utcnow()
    rows = readiness(ctx, now)
    totals = {name: sum(1 for row in rows if row["verdict"] == name) for name in VERDICTS}
    center = ctx.policy.primary
    secondary = ctx.policy.secondary
    active = getattr(ctx, "active", "primary")
    return {
        "report": "dr-readiness",
        "generated_at": now.isoformat(),
        "site": getattr(ctx.config, "site_name", ""),
        "backup_center": center.host if center else None,
        "secondary_center": secondary.host if secondary else None,
        "active_center": active,
        "totals": totals,
        "ready": totals["stale"] == 0 and totals["never"] == 0,
        "rows": rows,
        "controlplane": _controlplane_row(ctx, now),
    }


def _controlplane_row(ctx: BackupContext | PolicyView, now: dt.datetime) -> dict[str, Any] | None:
    """The control plane's own row (its recovery kit and drill, issue 19); None when it cannot be read."""
    from controlplane.errors import EgovError
    from controlplane.recovery.report import controlplane_row

    try:
        return controlplane_row(ctx, now)
    except (EgovError, ValueError, OSError):
        return None


_COLOURS = {"ok": "#1b7a33", "warning": "#a86b00", "stale": "#b3261e", "never": "#b3261e"}


def render_html(data: dict[str, Any]) -> str:
    """A self-contained HTML page of the report (no scripts, no external files), escaped."""
    e = html.escape
    head = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>DR readiness report</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}th{background:#eee}</style></head><body>"
    )
    totals = ", ".join(f"{name}: {count}" for name, count in data["totals"].items())
    parts = [
        head,
        "<h1>DR readiness report</h1>",
        f"<p>Generated {e(data['generated_at'])} · backup center {e(str(data['backup_center']))} · "
        f"off-site {e(str(data.get('secondary_center') or '-'))} · active {e(str(data.get('active_center')))} · "
        f"{e(totals)} · overall: <strong>{'READY' if data['ready'] else 'NOT READY'}</strong></p>",
        "<table><thead><tr>",
    ]
    columns = (
        "Dataset",
        "Host",
        "Site",
        "RPO",
        "Last success",
        "Age",
        "Last run",
        "Last check",
        "Last drill",
        "Drill RPO",
        "Drill RTO",
        "Off-site copy age",
        "Verdict",
        "Reasons",
    )
    parts += [f"<th>{e(c)}</th>" for c in columns] + ["</tr></thead><tbody>"]
    for row in data["rows"]:
        rto = row["last_drill_rto_seconds"]
        cells = [
            row["dataset"],
            row["host"],
            row["site"],
            row["rpo"],
            row["last_success"] or "never",
            row["age_human"],
            row["last_status"] or "-",
            row["last_check_status"] or "-",
            ("passed " if row["last_drill_passed"] else "failed ") + row["last_drill"] if row["last_drill"] else "-",
            human_age(row["last_drill_rpo_seconds"]),
            "-" if rto is None else f"{rto:.1f}s",
            row["copy_human"],
        ]
        parts.append("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in cells))
        colour = _COLOURS.get(row["verdict"], "#000")
        parts.append(f"<td style='color:{colour};font-weight:bold'>{e(row['verdict'])}</td>")
        parts.append(f"<td>{e('; '.join(row['reasons']))}</td></tr>")
    parts.append("</tbody></table>")
    own = data.get("controlplane")
    if own:
        colour = _COLOURS.get(own["verdict"], "#000")
        parts.append(
            f"<h2>The control plane itself</h2><table><tr><th>Recovery kit</th><th>Last recovery drill</th>"
            f"<th>Verdict</th><th>Reasons</th></tr><tr><td>{e(own['kit']['sentence'])}</td>"
            f"<td>{e(own['drill_human'])}</td><td style='color:{colour};font-weight:bold'>{e(own['verdict'])}</td>"
            f"<td>{e('; '.join(own['reasons']))}</td></tr></table>"
        )
    parts.append("</body></html>")
    return "".join(parts)


class PolicyView:
    """What :func:`readiness` needs without SSH or vault: store, policy, config, targets per dataset.

    For the console and the metrics side, which only read. The units come
    from the same :class:`~controlplane.backup.targets.Resolver` as the
    engine's, on the active center.
    """

    def __init__(self, config: Config, store: Store, inventory: Inventory) -> None:
        from pathlib import Path

        from .centers import active_center
        from .policy import load_policies
        from .targets import Resolver

        self.config = config
        self.store = store
        self.inventory = inventory
        self.policy = load_policies(Path(config.backup), inventory)
        self.active = active_center(store)
        # A failover to a secondary the policy no longer defines still shows the units (on the primary).
        shown = self.active if self.active != "secondary" or self.policy.secondary else "primary"
        self.resolver = Resolver(self.policy, inventory, shown)

    def targets(self, dataset: Dataset) -> list[BackupTarget]:
        """The (dataset, host) units of a dataset, cached (:meth:`Resolver.targets`)."""
        return self.resolver.targets(dataset)
