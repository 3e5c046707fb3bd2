"""Restore the control plane itself onto the DR host from the backup center, prove it answers, tear it down.

The drill of issue 19's recovery (``egov recover``): a fresh control-plane
database backup is taken, then a throw-away drill kit (same contents as the
custodians' kit, its own SSH key for the drill only, its shares held in the
run's memory) is made and copied to the DR host, and ``egov recover --drill``
runs there with two of its three shares: newest snapshots fetched from the
backup center, database and keys restored, every secret decrypted, the audit
chain verified, the console started, passive. The verification logs in to
that console, runs ``egov audit verify`` there and compares its ``egov backup
list`` with the original's. The journal's figures hold the RPO (age of the
restored database snapshot) and the RTO (from the start of the restore to a
console answering) with its parts. Rollbacks stop the copy, remove it and
revoke the drill key. A real recovery is not a runbook: the ministry's
control plane is gone; the custodians and ``egov recover`` do it (README,
"When the ministry's site is lost").

Runbooks are trusted code (like playbooks). API: controlplane/runbook/definition.py.
"""

from __future__ import annotations

import json
import time
from typing import Any

from controlplane.runbook.context import Context
from controlplane.runbook.definition import Param, Probe, Runbook, Step


def _dr_host(inventory: Any) -> str:
    """The first host with role ``dr``."""
    return next(host.name for host in inventory.hosts if host.role == "dr")


def _site(ctx: Context) -> tuple[Any, Any]:
    backup = ctx.adapters.backup
    return backup.config, backup.store  # type: ignore[attr-defined]


def _egov(ctx: Context, *words: str) -> list[str]:
    from controlplane.recovery.remote import egov_argv

    return [*egov_argv(), "--config", f"{ctx.params['restore_dir']}/site/egov.yml", *words]


def dr_host_answers(ctx: Context) -> None:
    """The DR host answers on the management path."""
    ctx.run(ctx.params["target_host"], ["true"])


def back_up_now(ctx: Context) -> None:
    """Back the control plane's database up now, so the drill restores a fresh snapshot."""
    ctx.backup_now(ctx.params["database_dataset"], host="controlplane")


def make_kit(ctx: Context) -> None:
    """Make the drill kit (in memory) and authorise its key on the centers."""
    if ctx.dry_run:
        ctx.log("would make a drill kit (2 of 3 shares, kept in memory) and authorise its key on the centers")
        return
    from controlplane.recovery.drill import make_drill_kit

    kit = make_drill_kit(*_site(ctx))
    ctx.state["kit"] = kit
    ctx.log(f"drill kit {kit['kit_id']} made; its key is authorised on the centers for this drill")


def revoke_kit(ctx: Context) -> None:
    """Rollback: revoke the drill kit's key on the centers."""
    kit = ctx.state.pop("kit", None)
    if kit and not ctx.dry_run:
        from controlplane.recovery.drill import revoke_drill_kit

        ctx.log(f"drill key revoked: {revoke_drill_kit(*_site(ctx), kit['tag'])}")


def recover(ctx: Context) -> None:
    """Copy the kit to the DR host and run `egov recover --drill` there with two shares; record RPO and RTO."""
    p = ctx.params
    host = p["target_host"]
    folder = p["restore_dir"]
    started = time.monotonic()
    existed = ctx.run(host, ["test", "-e", folder], check=False, quiet=True)
    ctx.state["restore_dir_existed"] = existed.ok and not existed.dry_run
    if ctx.state["restore_dir_existed"]:
        ctx.fail(f"{folder} already exists on {host}: a drill restores into a folder of its own")
    ctx.run(host, ["install", "-d", "-m", "0700", folder])
    ctx.state["made_dir"] = True
    kit = ctx.state.get("kit") or {"text": "", "shares": []}
    ctx.run(host, ["dd", f"of={folder}/kit.egovkit", "status=none"], input_text=kit["text"], quiet=True)
    from controlplane.recovery.remote import egov_argv

    address = ctx.host(host).address
    argv = [*egov_argv(), "recover", "--kit", f"{folder}/kit.egovkit", "--into", f"{folder}/site", "--drill",
            "--host", address, "--port", str(p["port"]), "--json"]  # fmt: skip
    try:
        result = ctx.run(host, argv, input_text="\n".join(kit["shares"]) + "\n", timeout=900, quiet=True)
    except Exception:
        tear_down(ctx)  # the step's own rollback runs only once it completed: leave nothing behind now
        raise
    if ctx.dry_run:
        return
    from controlplane.recovery.drill import parse_outcome

    outcome = parse_outcome(result.stdout)
    ctx.state["outcome"] = outcome
    ctx.figure("rpo_seconds", round(float(outcome["rpo_seconds"]), 1))
    ctx.figure("console_rto_seconds", round(time.monotonic() - started, 1))
    ctx.figure("recover_rto_seconds", round(float(outcome["rto_seconds"]), 1))
    for name, seconds in outcome["parts"].items():
        ctx.figure(f"recover_{name}_seconds", round(float(seconds), 1))
    ctx.log(f"restored copy answers at {outcome['console']} ({outcome['mode']}); RPO {outcome['rpo_seconds']:.0f} s")


def tear_down(ctx: Context) -> None:
    """Rollback: stop the restored copy and remove its folder (only if this run made it)."""
    p = ctx.params
    if not ctx.state.get("made_dir"):
        return
    ctx.run(p["target_host"], _egov(ctx, "recovery", "stop"), check=False)
    ctx.run(p["target_host"], ["rm", "-rf", "--one-file-system", "--", p["restore_dir"]], check=False)


def console_login(ctx: Context) -> None:
    """A throw-away user logs in to the restored console (made there, gone with the copy)."""
    if ctx.dry_run:
        ctx.log("would log in to the restored console as a throw-away user")
        return
    from controlplane.recovery.drill import console_login as login
    from controlplane.recovery.drill import drill_password

    target = ctx.params["target_host"]
    name, password = f"drill-{ctx.run_id or 0}", drill_password()
    ctx.run(target, _egov(ctx, "users", "add", name, "--role", "auditor"), input_text=password)
    url = str(
        (ctx.state.get("outcome") or {}).get("console") or f"http://{ctx.host(target).address}:{ctx.params['port']}"
    )
    # An HTTPS copy shows the lost control plane's own CA: verify it against what the copy exports.
    ca_pem = ctx.run(target, _egov(ctx, "ca", "export"), quiet=True).stdout if url.startswith("https://") else None
    login(url, name, password, ca_pem=ca_pem)
    ctx.log(f"logged in to the restored console as {name}")


def audit_verifies(ctx: Context) -> None:
    """`egov audit verify` passes on the restored copy."""
    ctx.run(ctx.params["target_host"], _egov(ctx, "audit", "verify"), timeout=120)


def same_backups(ctx: Context) -> None:
    """The restored copy lists the same backups (last snapshot per dataset and host) as the original."""
    if ctx.dry_run:
        ctx.log("would compare `egov backup list` on the copy with the original's")
        return
    from controlplane.backup.report import PolicyView, readiness
    from controlplane.inventory import load_inventory
    from controlplane.recovery.drill import same_snapshots

    config, store = _site(ctx)
    original = readiness(PolicyView(config, store, load_inventory(config.inventory)))
    listed = ctx.run(ctx.params["target_host"], _egov(ctx, "backup", "list", "--json"), timeout=120, quiet=True)
    restored = json.loads(listed.stdout[listed.stdout.find("[") :])
    snapshot_time = str((ctx.state.get("outcome") or {}).get("snapshots", {}).get(
        ctx.params["database_dataset"], {}).get("time", ""))  # fmt: skip
    differ = same_snapshots(original, restored, snapshot_time)
    ctx.expect(not differ, "the restored copy lists other snapshots: " + "; ".join(differ[:3]))
    ctx.log(f"the restored copy lists the same {len(restored)} backups as the original")


RUNBOOK = Runbook(
    name="recover-controlplane",
    title="Recover the control plane on the DR host",
    title_zh="控制平面在应急支撑中心恢复",
    description=(
        "Restores the control plane itself from the backup center onto the DR host with a recovery kit "
        "(a drill kit in a drill), checks its console, audit chain and backups, and tears it down."
    ),
    severity="critical",
    rto_objective=300,
    params=[
        Param("target_host", "host", default=_dr_host, help="where to restore the control plane (the DR host)"),
        Param("restore_dir", "str", default="/var/lib/egov/recover-drill", help="folder on the DR host"),
        Param("port", "int", default=8090, help="port of the restored console"),
        Param("database_dataset", "str", default="controlplane-db", help="the control plane's database dataset"),
    ],
    targets=lambda p: [p["target_host"]],
    steady_state=[Probe("the DR host answers", dr_host_answers)],
    steps=[
        Step("back the control plane up now", back_up_now, timeout=300),
        Step("make a drill kit", make_kit, timeout=120, rollback=revoke_kit),
        Step("recover onto the DR host", recover, timeout=900, rollback=tear_down),
    ],
    verification=[
        Probe("console login on the restored copy", console_login, timeout=60),
        Probe("audit verify on the restored copy", audit_verifies, timeout=150),
        Probe("the same backups listed", same_backups, timeout=150),
    ],
    tags=["dr", "controlplane", "restore"],
    permissions=["backup.restore"],
)
