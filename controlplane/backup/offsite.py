"""Off-site copies: ``restic copy`` of each repository from the primary center to the secondary.

For a unit (dataset, host), :func:`copy` runs as one run of kind
``backup-copy``: it takes our per-repository lock of the primary repository
and of its copy (so no backup, check, prune or other copy of either runs
beside it), runs ``restic copy`` (only snapshots the secondary lacks are
copied: restic matches them by their ``original`` id), creates the
secondary repository on first use with ``init --from-repo
--copy-chunker-params`` (so it deduplicates like the primary), then lists the
secondary's snapshots and records the newest one's time: the **copy age** of
the DR report, the console and the metrics.

Where it runs (decision)
------------------------
On the **managed host that owns the data**, like the backup itself, over its
own site accounts on both centers (``egov backup setup`` authorises the
host's backup key on the secondary center too and pins both centers' host
keys). Not on the primary center: the centers hold only ciphertext and no
repository password, so a compromised backup center can delete but never
read; running the copy there would put every password of every site on it.
Not on the control plane: it has no site account and would need to reach
every site's repositories. The price: the data crosses the host's link twice
(primary to host to secondary), but in restic's packed, encrypted form.

Passwords (decision)
--------------------
The copy on the secondary uses the same repository password (vault secret
``restic:<site>:<host>:<dataset>``), so restoring from either center needs
the one secret; the two repositories still have their own master keys.
restic copy needs that password twice (source and destination) and reads
only one from stdin; the source password goes through a pipe on fd 3 made
by a ``sh`` builtin (:data:`controlplane.backup.commands.PASSWORD_PIPE`): never in
argv, never in any environment (``RESTIC_FROM_PASSWORD`` would be in
``/proc/PID/environ`` for the whole copy), never in a file.

Copies run only while the primary center is active (:mod:`.centers`): a
failover says the primary is gone, so there is nothing to copy from.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

from controlplane.errors import BadInputError
from controlplane.store.models import RunStatus, utcnow

from . import commands, exitcodes, jsonout
from .context import BackupContext
from .diagnose import NEVER_BACKED_UP, Diagnosis, diagnose
from .executor import Executor, Result
from .models import KIND_COPY
from .operation import Finished, OperationResult, Plan, perform
from .records import Recorder, audit_event, status_row
from .targets import BackupTarget

if TYPE_CHECKING:
    from controlplane.store import Store

log = logging.getLogger(__name__)
COPY_TIMEOUT = 6 * 3600.0


def copy_problem(ctx: BackupContext) -> str | None:
    """Why no off-site copy can run now (no secondary center, or failed over), or None."""
    if ctx.policy.secondary is None:
        return "the backup policy defines no secondary center (centers.secondary): there is nowhere to copy to"
    if ctx.active != "primary":
        return f"the {ctx.active} center is active (failed over): copies run from the primary only"
    return None


class _CopySession:
    """restic commands of one copy run, with both passwords and the run's output."""

    def __init__(self, ctx: BackupContext, executor: Executor, recorder: Recorder, password: str) -> None:
        self.ctx, self.executor, self.recorder, self.password = ctx, executor, recorder, password

    def run(self, argv: list[str], *, twice: bool, timeout: float = COPY_TIMEOUT) -> Result:
        """Run argv with the password on stdin (twice: source, then destination) and masked output."""
        lines = 2 if twice else 1
        return self.executor.run(
            argv,
            input_text=(self.password + "\n") * lines,
            secrets=[self.password],
            on_line=self.recorder.line,
            timeout=timeout,
            should_cancel=self.recorder.cancel_requested,
        )

    def diagnose(self, result: Result) -> Diagnosis:
        primary, secondary = self.ctx.named_center("primary"), self.ctx.named_center("secondary")
        where = f"the backup centers {primary.host} and {secondary.host}"
        return diagnose(
            result.exit_code,
            result.stdout + "\n" + result.stderr,
            center=where,
            timed_out=result.timed_out,
            cancelled=result.cancelled,
        )


def copy_plan(ctx: BackupContext, target: BackupTarget) -> Plan:
    """The run a copy makes, holding both repositories.

    Raises BadInputError, before any run is made, when no copy can run now
    (:func:`copy_problem`).
    """
    problem = copy_problem(ctx)
    if problem:
        raise BadInputError(problem)
    source, destination = target.repository_on("primary"), target.repository_on("secondary")
    unit = {"dataset": target.dataset.name, "host": target.host, "from": source, "to": destination}
    return Plan(KIND_COPY, dict(unit), dict(unit), locks=(source, destination), warn="copy")


def copy(ctx: BackupContext, target: BackupTarget, *, run_id: int | None = None) -> OperationResult:
    """Copy one unit's snapshots from the primary to the secondary center (see the module docstring).

    ``run_id``: a queued run of this copy to record into instead of a new
    one. Never raises for a failed copy (it is a failed run with ``alert``).
    Raises BadInputError, before any run is made, when no copy can run now
    (:func:`copy_problem`).
    """
    plan = copy_plan(ctx, target)
    newest: list[dt.datetime] = []

    def work(recorder: Recorder, figures: dict[str, Any]) -> Diagnosis:
        return _copy_locked(ctx, target, recorder, figures, newest)

    def record(done: Finished) -> None:
        status = done.diagnosis.status
        record_copy(
            ctx.store, dataset=target.dataset.name, host=target.host, site=target.site, status=status,
            newest=newest[0] if newest else None,
        )  # fmt: skip
        audit_event(
            ctx.store,
            ctx.actor,
            "backup.copy",
            plan.params["to"],
            status,
            dataset=target.dataset.name,
            host=target.host,
            site=target.site,
            run_id=done.run_id,
        )

    return perform(ctx, target, plan, work, run_id=run_id, record=record)


def _copy_locked(
    ctx: BackupContext, target: BackupTarget, recorder: Recorder, figures: dict[str, Any], newest: list[dt.datetime]
) -> Diagnosis:
    password = ctx.password(target)
    if password is None:
        return NEVER_BACKED_UP
    executor = ctx.executor(target.host)
    session = _CopySession(ctx, executor, recorder, password)
    source = ctx.copy_repo(target, "primary", executor.host)
    destination = ctx.copy_repo(target, "secondary", executor.host)
    recorder.note(f"restic copy of {target.dataset.name}@{target.host} to the secondary center")
    argv = commands.copy(destination, source, host=target.host)
    result = session.run(argv, twice=True)
    if result.exit_code == exitcodes.REPO_MISSING and _destination_missing(session, destination):
        recorder.note("the secondary repository does not exist yet: restic init --from-repo --copy-chunker-params")
        init = session.run(commands.init_copy(destination, source), twice=True, timeout=600)
        if init.exit_code != 0:
            return session.diagnose(init)
        audit_event(
            ctx.store,
            ctx.actor,
            "backup.init",
            destination.location,
            "ok",
            dataset=target.dataset.name,
            host=target.host,
            site=target.site,
            copy=True,
        )
        result = session.run(argv, twice=True)
    diagnosis = session.diagnose(result)
    if not diagnosis.ok:
        return diagnosis
    listed = session.run(commands.snapshots(destination, host=target.host), twice=False, timeout=600)
    if listed.exit_code != 0:
        return Diagnosis(
            RunStatus.FAILED,
            "list_failed",
            "copied, but the secondary's snapshots cannot be listed: " + session.diagnose(listed).message,
            True,
            listed.exit_code,
        )
    try:
        found = jsonout.parse_snapshots(listed.stdout)
    except ValueError as error:
        return Diagnosis(RunStatus.FAILED, "list_failed", f"copied, but: {error}", True, listed.exit_code)
    figures["secondary_snapshots"] = len(found)
    copied = sum(
        1
        for line in result.lines + result.stderr.splitlines()
        if line.startswith("snapshot ") and line.rstrip().endswith(" saved")
    )
    figures["copied"] = copied
    if not found:
        return Diagnosis(RunStatus.SUCCEEDED, "ok", "nothing to copy yet: the primary has no snapshot", False, 0)
    last = found[-1]
    newest.append(last.time)
    figures["newest_original"] = last.original or last.id
    return Diagnosis(
        RunStatus.SUCCEEDED,
        "ok",
        f"{copied} snapshot(s) copied; the secondary holds {len(found)}, newest from {last.time:%Y-%m-%d %H:%M} UTC",
        False,
        0,
    )


def _destination_missing(session: _CopySession, destination: commands.Repo) -> bool:
    """Whether exit 10 was about the secondary repository (it answers ``cat config`` with 10 too)."""
    probe = session.run(commands.snapshots(destination, latest=1), twice=False, timeout=300)
    return probe.exit_code == exitcodes.REPO_MISSING


def record_copy(store: Store, *, dataset: str, host: str, site: str, status: str, newest: dt.datetime | None) -> None:
    """Record a finished copy on the status row: when, how, and the newest snapshot on the secondary."""
    now = utcnow()
    with store.session() as session:
        row = status_row(session, dataset, host, site)
        row.last_copy_at, row.last_copy_status = now, status
        if status == RunStatus.SUCCEEDED:
            row.last_copy_success_at = now
            if newest is not None:
                row.last_copy_snapshot_time = newest
