"""``egov backup ...`` and ``egov report dr``: backups with restic from the command line.

Exit codes: 0 every unit succeeded, 1 any failed or was partial (3 from
restic: the snapshot is incomplete and an alert is due), 2 bad input (unknown
dataset or host, a restore target outside the restore roots).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from controlplane.cli import CliContext, pass_context
from controlplane.cli.common import console, open_store, open_vault, print_json
from controlplane.cli.output import MISSING, Column, echo, moment, safe, show_table, styled, wide_option
from controlplane.errors import EXIT_FAILED, BadInputError

if TYPE_CHECKING:
    from rich.console import Console

    from controlplane.backup.context import BackupContext
    from controlplane.backup.jsonout import BackupStatus, RestoreStatus, Snapshot
    from controlplane.backup.operation import OperationResult

STATUS_STYLE = {
    "succeeded": "green",
    "partial": "yellow",
    "failed": "red",
    "cancelled": "yellow",
    "interrupted": "red",
    "running": "cyan",
}
READINESS_COLUMNS = (
    Column("DATASET", key=True),
    Column("HOST", key=True),
    Column("SCHEDULE", optional=6),
    Column("RPO", key=True),
    Column("LAST SUCCESS", key=True, optional=3),
    Column("AGE", key=True),
    Column("LAST RUN", key=True, optional=1),
    Column("LAST CHECK", key=True, optional=4),
    Column("LAST DRILL", optional=2),
    Column("COPY AGE", key=True, optional=5),
    Column("VERDICT", key=True),
)
SNAPSHOT_COLUMNS = (
    Column("ID", key=True),
    Column("TIME (UTC)", key=True),
    Column("HOST", key=True, optional=1),
    Column("PATHS"),
    Column("TAGS", optional=2),
)
JOB_COLUMNS = (Column("JOB", key=True), Column("CRON (UTC)", key=True), Column("JITTER", key=True, justify="right"))


def snapshot_rows(found: list[Snapshot]) -> list[list[Any]]:
    """The rows of ``egov backup snapshots``: restic's snapshots, newest last as restic lists them."""
    return [[s.short_id, moment(s.time, seconds=True), s.hostname, " ".join(s.paths), ",".join(s.tags)] for s in found]


@contextmanager
def backup_context(context: CliContext) -> Iterator[BackupContext]:
    """Open store, vault and backup context for one command; close them after."""
    from controlplane.audit import cli_actor
    from controlplane.backup.context import open_context

    store = open_store(context)
    try:
        vault = open_vault(context, store)
        ctx = open_context(context.config, store, vault, actor=cli_actor(), trigger="cli")
        try:
            yield ctx
        finally:
            ctx.close()
    finally:
        store.close()


class ProgressBar:
    """A rich progress bar fed with restic's status lines (backup or restore)."""

    def __init__(self, out: Console, label: str) -> None:
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            DownloadColumn(),
            TimeElapsedColumn(),
            console=out,
            transient=True,
        )
        self.task = self.progress.add_task(safe(label), total=None)  # the description is markup

    def __enter__(self) -> ProgressBar:
        self.progress.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.progress.stop()

    def update(self, status: BackupStatus | RestoreStatus) -> None:
        """Move the bar to a BackupStatus or RestoreStatus."""
        total = getattr(status, "total_bytes", 0) or None
        done = getattr(status, "bytes_done", None)
        if done is None:
            done = getattr(status, "bytes_restored", 0)
        self.progress.update(self.task, total=total, completed=done)


def _show(out: Console, label: str, result: OperationResult) -> None:
    style = STATUS_STYLE.get(result.status, "white")
    out.print(f"[{style}]{result.status:<9}[/] {safe(label)}  run {result.run_id}: {safe(result.message)}")


def _exit_for(results: list[OperationResult]) -> None:
    if any(not r.ok for r in results):
        raise SystemExit(EXIT_FAILED)


@click.group("backup")
def backup() -> None:
    """Encrypted backups to the backup center with restic: run, restore, drill, check."""


@backup.command("setup")
@click.option("--site", "sites", multiple=True, help="Only these sites (default: every site with a dataset).")
@pass_context
def setup_command(context: CliContext, sites: tuple[str, ...]) -> None:
    """Create the per-site SFTP accounts on the backup center and the hosts' backup keys (idempotent)."""
    from controlplane.backup.records import audit_event
    from controlplane.backup.setup import setup

    with backup_context(context) as ctx:
        report = setup(ctx, sites=list(sites) or None)
        audit_event(
            ctx.store,
            ctx.actor,
            "backup.setup",
            ctx.center.host,
            "ok",
            sites=report["sites"],
            accounts_created=report["accounts_created"],
            keys_added=report["keys_added"],
        )
    echo(
        f"backup center ready: sites {', '.join(report['sites'])}; accounts created: "
        f"{', '.join(report['accounts_created']) or 'none'}; keys added: {report['keys_added']}; "
        f"sshd: {report['sshd'] or 'unchanged'}"
    )


@backup.command("run")
@click.argument("dataset", required=False)
@click.option("--host", help="Only this host of the dataset.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@pass_context
def run_command(context: CliContext, dataset: str | None, host: str | None, as_json: bool) -> None:
    """Back up DATASET (default: every dataset) now, on each of its hosts."""
    from controlplane.backup.operations import run_operation

    out = console()
    results = []
    with backup_context(context) as ctx:
        for target in ctx.select(dataset, host):
            label = f"{target.dataset.name}@{target.host}"
            if as_json:
                results.append(run_operation(ctx, "backup", target))
                continue
            with ProgressBar(out, f"backup {label}") as bar:
                result = run_operation(ctx, "backup", target, on_progress=bar.update)
            results.append(result)
            _show(out, label, result)
            summary = result.summary
            if summary.get("snapshot_id"):
                out.print(
                    f"          snapshot {safe(summary['snapshot_id'][:8])}: {summary.get('files_new', 0)} new, "
                    f"{summary.get('files_changed', 0)} changed files, {summary.get('bytes_added', 0)} bytes "
                    f"added in {summary.get('duration_seconds', 0):.1f} s"
                )
    if as_json:
        print_json([{"run_id": r.run_id, "status": r.status, "message": r.message, **r.summary} for r in results])
    _exit_for(results)


@backup.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@wide_option
@pass_context
def list_command(context: CliContext, as_json: bool, wide: bool) -> None:
    """Every dataset and host with its last backup, age against RPO, last check and drill."""
    from controlplane.backup.report import readiness

    with backup_context(context) as ctx:
        rows = readiness(ctx)
    if as_json:
        print_json(rows)
        return
    colours = {"ok": "green", "warning": "yellow", "stale": "red", "never": "red", "failing": "red"}
    table = [
        [row["dataset"], row["host"], row["schedule"], row["rpo"], moment(row["last_success"]) if row["last_success"]
         else "never", _shown(row["age_human"]), row["last_status"], row["last_check_status"],
         _shown(row["drill_human"]), _shown(row["copy_human"]), styled(row["verdict"], colours.get(row["verdict"], ""))]
        for row in rows
    ]  # fmt: skip
    out = console()
    out.print(_center_line(ctx))
    show_table(READINESS_COLUMNS, table, wide=wide, out=out)


def _shown(text: str) -> str | None:
    """A figure of the readiness report, with its "-" (nothing to show) as the CLI's one missing-value mark."""
    return None if text == "-" else text


def _center_line(ctx: BackupContext) -> str:
    """Which center backups go to now, and the other one."""
    primary, secondary = ctx.policy.primary, ctx.policy.secondary
    line = f"active backup center: {safe(ctx.active)} ({safe(ctx.center.host)})"
    if ctx.active != "primary":
        line += f"  [red]FAILED OVER[/] from primary ({safe(primary.host) if primary else MISSING})"
    elif secondary is not None:
        line += f"; off-site copies to secondary ({safe(secondary.host)})"
    return line


@backup.command("copy")
@click.argument("dataset", required=False)
@click.option("--host", help="Only this host of the dataset.")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@pass_context
def copy_command(context: CliContext, dataset: str | None, host: str | None, as_json: bool) -> None:
    """Copy DATASET's snapshots (default: every dataset's) to the secondary center (restic copy)."""
    from controlplane.backup.offsite import copy_problem
    from controlplane.backup.operations import run_operation

    out = console()
    results = []
    with backup_context(context) as ctx:
        problem = copy_problem(ctx)
        if problem:
            raise BadInputError(problem)
        for target in ctx.select(dataset, host):
            if ctx.password(target) is None:
                if dataset and host:
                    raise BadInputError(f"{target.dataset.name}@{target.host} was never backed up: nothing to copy")
                continue
            result = run_operation(ctx, "copy", target)
            results.append(result)
            if not as_json:
                _show(out, f"{target.dataset.name}@{target.host}", result)
    if as_json:
        print_json([{"run_id": r.run_id, "status": r.status, "message": r.message, **r.summary} for r in results])
    _exit_for(results)


@backup.command("center")
@click.argument("name", required=False, type=click.Choice(["primary", "secondary"]))
@click.option("--yes", is_flag=True, help="Switch without asking.")
@pass_context
def center_command(context: CliContext, name: str | None, yes: bool) -> None:
    """Show the active backup center, or switch backups to NAME (primary or secondary); audited."""
    from controlplane.backup.centers import set_active_center

    out = console()
    with backup_context(context) as ctx:
        if name is None:
            out.print(_center_line(ctx))
            return
        if name == ctx.active:
            out.print(f"the {name} center is already active")
            return
        if not yes and not click.confirm(f"Send every backup to the {name} center ({ctx.named_center(name).host})?"):
            raise SystemExit(EXIT_FAILED)
        previous = set_active_center(ctx.store, ctx.policy, name, actor=ctx.actor)
    out.print(f"backups now go to the {name} center (was {safe(previous)})")


@backup.command("snapshots")
@click.argument("dataset")
@click.option("--host", help="Host of the dataset (needed when it has several).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@wide_option
@pass_context
def snapshots_command(context: CliContext, dataset: str, host: str | None, as_json: bool, wide: bool) -> None:
    """List the snapshots of DATASET on a host, read from the repository itself."""
    from controlplane.backup.maintenance import snapshots

    with backup_context(context) as ctx:
        found = snapshots(ctx, ctx.target(dataset, host))
    if as_json:
        print_json(
            [
                {
                    "id": s.id,
                    "short_id": s.short_id,
                    "time": s.time.isoformat(),
                    "host": s.hostname,
                    "paths": list(s.paths),
                    "tags": list(s.tags),
                }
                for s in found
            ]
        )
        return
    show_table(SNAPSHOT_COLUMNS, snapshot_rows(found), wide=wide)


def _maintenance(context: CliContext, dataset: str | None, host: str | None, what: str) -> None:
    from controlplane.backup.operations import run_operation

    out = console()
    results = []
    with backup_context(context) as ctx:
        for target in ctx.select(dataset, host):
            if what == "check" or ctx.password(target) is not None:
                result = run_operation(ctx, what, target)
                results.append(result)
                _show(out, f"{target.dataset.name}@{target.host}", result)
    _exit_for(results)


@backup.command("check")
@click.argument("dataset", required=False)
@click.option("--host", help="Only this host of the dataset.")
@pass_context
def check_command(context: CliContext, dataset: str | None, host: str | None) -> None:
    """Verify repositories (restic check --read-data-subset of the policy)."""
    _maintenance(context, dataset, host, "check")


@backup.command("prune")
@click.argument("dataset", required=False)
@click.option("--host", help="Only this host of the dataset.")
@pass_context
def prune_command(context: CliContext, dataset: str | None, host: str | None) -> None:
    """Apply retention: restic forget --prune with the policy's keep rules."""
    _maintenance(context, dataset, host, "prune")


@backup.command("drill")
@click.argument("dataset", required=False)
@click.option("--host", help="Only this host of the dataset.")
@pass_context
def drill_command(context: CliContext, dataset: str | None, host: str | None) -> None:
    """Restore the latest snapshot on the drill target, verify it, record RPO/RTO, clean up."""
    from controlplane.backup.operations import run_operation

    out = console()
    results = []
    with backup_context(context) as ctx:
        for target in ctx.select(dataset, host):
            if target.dataset.drill is None:
                if dataset:
                    raise BadInputError(f"dataset {dataset!r} has no drill target")
                continue
            label = f"{target.dataset.name}@{target.host}"
            with ProgressBar(out, f"drill {label} on {target.dataset.drill.target}") as bar:
                result = run_operation(ctx, "drill", target, on_progress=bar.update)
            results.append(result)
            _show(out, label, result)
    _exit_for(results)


@backup.command("restore")
@click.argument("dataset")
@click.option("--host", help="Host whose backup to restore (needed when the dataset has several).")
@click.option("--snapshot", default="latest", show_default=True, help="Snapshot id or 'latest'.")
@click.option("--to-host", help="Restore onto another host (default: the same host).")
@click.option("--target", "target_dir", required=True, help="Folder to restore into (inside the restore roots).")
@click.option("--include", "includes", multiple=True, help="Restore only this path (repeatable).")
@click.option("--in-place", is_flag=True, help="Allow a folder outside the restore roots (over live data).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation of --in-place.")
@pass_context
def restore_command(
    context: CliContext,
    dataset: str,
    host: str | None,
    snapshot: str,
    to_host: str | None,
    target_dir: str,
    includes: tuple[str, ...],
    in_place: bool,
    yes: bool,
) -> None:
    """Restore DATASET from the backup center into --target (audited)."""
    from controlplane.backup.operations import run_operation
    from controlplane.backup.restore import check_restore_dir

    out = console()
    with backup_context(context) as ctx:
        target = ctx.target(dataset, host)
        folder = check_restore_dir(target_dir, ctx.policy.restore_roots, in_place=in_place)
        if in_place and not yes:
            click.confirm(
                f"Restore {snapshot} of {dataset}@{target.host} OVER {to_host or target.host}:{folder}?", abort=True
            )
        with ProgressBar(out, f"restore {dataset}@{target.host}") as bar:
            result = run_operation(
                ctx,
                "restore",
                target,
                directory=folder,
                snapshot=snapshot,
                to_host=to_host,
                includes=includes,
                in_place=in_place,
                on_progress=bar.update,
            )
        _show(out, f"{dataset}@{target.host}", result)
    _exit_for([result])


@backup.command("schedule")
@pass_context
def schedule_command(context: CliContext) -> None:
    """Show the backup, check, prune and drill jobs the scheduler runs."""
    from controlplane.backup.schedule import planned_jobs

    with backup_context(context) as ctx:
        jobs = planned_jobs(ctx.policy, ctx)
    show_table(JOB_COLUMNS, ([job.id, job.cron, f"{job.jitter} s"] for job in jobs))


@click.command("dr")
@click.option("--format", "fmt", type=click.Choice(["json", "html"]), default="json", show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, writable=True), help="Write to a file instead of stdout.")
@pass_context
def dr_report_command(context: CliContext, fmt: str, output: str | None) -> None:
    """DR readiness: per dataset and host, last success, age vs RPO, last check and drill, verdict."""
    from controlplane.backup.report import render_html, report_data

    with backup_context(context) as ctx:
        data = report_data(ctx)
    if fmt == "json":
        import json

        text = json.dumps(data, indent=2, ensure_ascii=False, default=str)
    else:
        text = render_html(data)
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
    else:
        click.echo(text)
