"""Point the backup policies at the secondary backup center and prove a backup lands there.

For when the data backup center (bc-backup-1) is lost: the policies switch
to the secondary center at the DR site, and one backup is taken at once to
prove the new path works end to end. The switch goes through the backup
engine (the backup adapter over controlplane/backup/runbook_facade.py): it
prepares the secondary's site accounts and keys, then persists the active
center (audited), which every later backup, check, restore, the scheduler,
``egov backup list`` and the console honour. A drill ends by switching back
(the switch step's rollback); a real run leaves the secondary active until
someone runs ``egov backup center primary`` (or this runbook with
``to_center=primary``) once the data backup center is back.

Runbooks are trusted code (like playbooks). API: controlplane/runbook/definition.py.
"""

from __future__ import annotations

from typing import Any

from controlplane.runbook.context import Context
from controlplane.runbook.definition import Param, Probe, Runbook, Step
from controlplane.runbook.params import host_with


def _secondary_center_host(inventory: Any) -> str:
    """The backup server of the DR site."""
    return next(h.name for h in inventory.hosts if h.role == "backup" and h.site == "dr-center")


def secondary_answers(ctx: Context) -> None:
    """The secondary center's host answers on SSH (the path backups take)."""
    address = ctx.host(ctx.params["secondary_host"]).address
    ctx.expect(ctx.tcp_check(address, 22), f"{address}:22 does not answer")


def switch(ctx: Context) -> None:
    """Point every backup policy at the secondary center."""
    result = ctx.switch_backup_center(ctx.params["to_center"])
    ctx.state["previous_center"] = result.get("previous")


def switch_back(ctx: Context) -> None:
    """Rollback: point the policies back at the center they used before."""
    previous = ctx.state.pop("previous_center", None)
    if previous:
        ctx.switch_backup_center(previous)


def backup_now(ctx: Context) -> None:
    """Take one backup now, to the newly active center."""
    result = ctx.backup_now(ctx.params["probe_dataset"], host=ctx.params["probe_host"])
    ctx.state["snapshot"] = result


def backup_landed(ctx: Context) -> None:
    """The proof backup has a snapshot id and landed on the secondary center."""
    result = ctx.state.get("snapshot") or {}
    if ctx.dry_run:
        return
    ctx.expect(result.get("snapshot_id"), f"the proof backup reported no snapshot id: {result}")
    ctx.expect(result.get("center") == ctx.params["to_center"], f"the proof backup went to {result.get('center')}")
    ctx.expect(
        result.get("center_host") == ctx.params["secondary_host"],
        f"the proof backup went to {result.get('center_host')}, not {ctx.params['secondary_host']}",
    )
    ctx.figure("proof_snapshot", result.get("snapshot_id"))


RUNBOOK = Runbook(
    name="backup-center-failover",
    title="Fail backups over to the secondary backup center",
    title_zh="备份中心切换至异地备份中心",
    description=(
        "Points the backup policies at the secondary backup center at the DR site and proves a backup lands there."
    ),
    severity="high",
    rto_objective=600,
    params=[
        Param("to_center", "str", default="secondary", help="center name in backup/centers.yml"),
        Param("secondary_host", "host", default=_secondary_center_host, help="host of that center"),
        Param("probe_dataset", "str", default="portal-content", help="dataset backed up as the proof"),
        Param(
            "probe_host",
            "host",
            default=lambda inv: host_with(inv, "portal_priority", "primary"),
            help="host whose dataset is backed up",
        ),
    ],
    targets=lambda p: [p["secondary_host"]],
    steady_state=[Probe("the secondary center answers", secondary_answers)],
    steps=[
        Step("point the policies at the secondary center", switch, timeout=60, rollback=switch_back),
        Step("take a backup now", backup_now, timeout=600),
    ],
    verification=[Probe("the backup landed on the secondary center", backup_landed)],
    tags=["backup", "dr"],
)
