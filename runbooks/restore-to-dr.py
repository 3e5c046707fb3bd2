"""Restore a dataset from the backup center onto the DR host and bring its service up there.

The restore and its verification go through the backup engine (the backup
adapter over controlplane/backup/runbook_facade.py): the snapshot (``latest``
resolved to its id) is restored from the active backup center into
``restore_dir`` on the DR host, then every file is checked against the
SHA-256 manifest recorded at backup time and the dataset's verification
command runs. The service is started with an argv the operator gives
(``start_command``, split like a shell would but never run by one) and
checked over HTTP when ``service_port`` is set.

The defaults serve the restored portal content on the DR host with a
detached ``python3 -m http.server`` under ``start-stop-daemon`` (pid file
:data:`PID_FILE`), which is what the lab's DR host has; a production DR host
sets ``start_command``/``stop_command`` to its web server. A drill ends by
stopping the service and removing what it restored (the steps' rollbacks).

Scope: the source host (whose repository is read) and the DR host are both
host parameters, so a caller must have both in scope; a drill or a real run
needs ``backup.restore``, the permission a restore from the console needs.

Runbooks are trusted code (like playbooks). API: controlplane/runbook/definition.py.
"""

from __future__ import annotations

import shlex
from typing import Any

from controlplane.runbook.context import Context
from controlplane.runbook.definition import Param, Probe, Runbook, Step
from controlplane.runbook.params import host_with

PID_FILE = "/run/egov-restore-to-dr.pid"
START = (
    f"start-stop-daemon --start --background --make-pidfile --pidfile {PID_FILE} --exec /usr/bin/python3 -- "
    "-m http.server 8080 --directory {restore_dir}/srv/portal"
)
STOP = f"start-stop-daemon --stop --oknodo --remove-pidfile --pidfile {PID_FILE} --retry 5"


def _dr_host(inventory: Any) -> str:
    """The first host with role ``dr``."""
    return next(host.name for host in inventory.hosts if host.role == "dr")


def dr_host_answers(ctx: Context) -> None:
    """The DR host answers on the management path."""
    ctx.run(ctx.params["target_host"], ["true"])


def restore(ctx: Context) -> None:
    """Restore the dataset into the restore folder on the DR host."""
    p = ctx.params
    existed = ctx.run(p["target_host"], ["test", "-e", p["restore_dir"]], check=False, quiet=True)
    ctx.state["restore_dir_existed"] = existed.ok and not existed.dry_run
    result = ctx.restore(
        p["dataset"],
        source_host=p["source_host"],
        target_host=p["target_host"],
        restore_dir=p["restore_dir"],
        snapshot=p["snapshot"],
    )
    ctx.state["snapshot_id"] = result.get("snapshot_id")
    ctx.figure("restored", {k: v for k, v in result.items() if isinstance(v, int | float | str)})


def remove_restore(ctx: Context) -> None:
    """Rollback: remove the restore folder if this run created it."""
    p = ctx.params
    if ctx.state.get("restore_dir_existed"):
        ctx.log(f"{p['restore_dir']} existed before this run: left in place")
        return
    ctx.run(p["target_host"], ["rm", "-rf", "--one-file-system", "--", p["restore_dir"]], check=False)


def verify(ctx: Context) -> None:
    """Verify the restored files against the backup's manifest."""
    p = ctx.params
    result = ctx.verify_restore(p["dataset"], target_host=p["target_host"], restore_dir=p["restore_dir"])
    if not ctx.dry_run:
        ctx.expect(
            result.get("snapshot_id") == ctx.state.get("snapshot_id"),
            f"verified snapshot {result.get('snapshot_id')} is not the one restored ({ctx.state.get('snapshot_id')})",
        )
        ctx.figure("verified_files", result.get("files_checked"))


def start_service(ctx: Context) -> None:
    """Start the service on the DR host (if a start command is given)."""
    command = ctx.params["start_command"].format(restore_dir=ctx.params["restore_dir"])
    if not command.strip():
        ctx.log("no start_command given: the service is not started")
        return
    ctx.run(ctx.params["target_host"], shlex.split(command))


def stop_service(ctx: Context) -> None:
    """Rollback: stop the service (if a stop command is given)."""
    command = ctx.params["stop_command"]
    if command.strip():
        ctx.run(ctx.params["target_host"], shlex.split(command), check=False)


def service_answers(ctx: Context) -> None:
    """The service answers over HTTP on the DR host (when ``service_port`` is set)."""
    p = ctx.params
    if p["service_port"]:
        address = ctx.host(p["target_host"]).address
        ctx.wait_until(
            f"{address}:{p['service_port']} answers",
            lambda: ctx.http_get(address, port=p["service_port"], path=p["service_path"]).status == 200,
            timeout=20,
        )


RUNBOOK = Runbook(
    name="restore-to-dr",
    title="Restore a dataset onto the DR host",
    title_zh="数据恢复至应急支撑中心",
    description=(
        "Restores a dataset from the backup center onto the DR host, verifies it against the backup's "
        "manifest and brings its service up there."
    ),
    severity="high",
    rto_objective=900,
    params=[
        Param(
            "dataset", "dataset", default="portal-content", of="source_host", help="backup dataset name (backup/*.yml)"
        ),
        Param(
            "source_host",
            "host",
            default=lambda inv: host_with(inv, "portal_priority", "primary"),
            help="host whose backup is restored",
        ),
        Param("target_host", "host", default=_dr_host, help="where to restore (the DR host)"),
        Param("snapshot", "str", default="latest", help="snapshot id or latest"),
        Param("restore_dir", "str", default="/srv/restore/portal-content", help="folder on the DR host"),
        Param("start_command", "str", default=START, help="argv that starts the service ({restore_dir} allowed)"),
        Param("stop_command", "str", default=STOP, help="argv that stops it (rollback)"),
        Param("service_port", "int", default=8080, help="HTTP port to check once started (0: no check)"),
        Param("service_path", "str", default="/", help="HTTP path to check"),
    ],
    targets=lambda p: [p["target_host"]],
    steady_state=[Probe("the DR host answers", dr_host_answers)],
    steps=[
        Step("restore the dataset", restore, timeout=600, rollback=remove_restore),
        Step("verify the restore", verify, timeout=300),
        Step("bring the service up", start_service, timeout=60, rollback=stop_service),
    ],
    verification=[Probe("the service answers on the DR host", service_answers, timeout=30)],
    tags=["backup", "restore", "dr"],
    # It restores data (and grants the DR host a read key to the source's repository): a restore's permission.
    permissions=["backup.restore"],
)
