"""``egov scan`` and ``egov report compliance``: assess hosts against the baseline and export the result.

Exit codes of ``egov scan`` (what a security officer can rely on in a script):

* 0 — every host in scope was assessed. Failing controls are findings, not a
  failure of the scan: read them in the output, the report or with ``--json``.
* 1 — some host could not be assessed (unreachable, refused, collector
  failure): its controls are ``error`` and the scan is stored as ``partial``
  (or ``failed`` when no host could be assessed), so coverage is incomplete.
* 2 — bad input, nothing scanned and no run created: unknown site, a host
  pattern matching nothing, a malformed control file or waiver file (the
  message names the file, the key and, for waivers, the line).

``egov report compliance`` reads the newest stored scan (or ``--scan ID``);
it never scans. Exit 0 written, 1 nothing stored yet, 2 bad input.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from controlplane.cli import CliContext, pass_context
from controlplane.cli.common import open_store, print_json
from controlplane.cli.output import Column, echo, safe, show_table

if TYPE_CHECKING:
    from rich.console import Console

    from controlplane.compliance.scanner import HostScan
    from controlplane.compliance.service import ScanOutcome, ScanPlan
    from controlplane.config import Config
    from controlplane.store import Store

STATUS_STYLE = {"pass": "green", "fail": "red", "error": "magenta", "waived": "yellow", "not_applicable": "dim"}
SITE_SCORE_COLUMNS = (
    Column("SITE", key=True),
    Column("BEFORE WAIVERS", justify="right"),
    Column("AFTER WAIVERS", justify="right"),
    *(Column(name, key=True, justify="right") for name in ("FAIL", "ERROR", "WAIVED")),
)


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f}%"


@click.command()
@click.option("--limit", metavar="PATTERN", help="Only hosts matching this pattern (names, groups, globs, roles).")
@click.option("--site", metavar="SITE", help="Only the hosts of this site and the sites below it.")
@click.option("--json", "as_json", is_flag=True, help="Print the JSON report of this scan (documented schema).")
@pass_context
def scan(context: CliContext, limit: str | None, site: str | None, as_json: bool) -> None:
    """Scan hosts against the control catalog (agentless, one SSH round trip per host) and store the results.

    Exit 0 when every host was assessed, even with failing controls (those
    are findings); 1 when some host could not be assessed; 2 for bad input.
    """
    from controlplane.audit import cli_actor
    from controlplane.compliance.service import execute_scan, plan_scan

    config = context.config
    plan = plan_scan(config, limit=limit, site=site)  # refuses bad input before any run exists
    store = open_store(context)
    try:
        if as_json:
            outcome = execute_scan(config, store, plan, actor=cli_actor())
        else:
            outcome = _scan_with_progress(config, store, plan)
        if as_json:
            from controlplane.compliance.export import load_report

            data = load_report(config, store, scan_id=outcome.scan_id)
            print_json(data.document)
        else:
            _print_summary(outcome)
    finally:
        store.close()
    if outcome.exit_code:
        raise SystemExit(outcome.exit_code)


def _scan_with_progress(config: Config, store: Store, plan: ScanPlan) -> ScanOutcome:
    """Run the scan with a rich progress bar and one line per host as it finishes."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from controlplane.audit import cli_actor
    from controlplane.cli.output import console as safe_console
    from controlplane.compliance.scoring import score
    from controlplane.compliance.service import execute_scan

    console = safe_console(stderr=True)
    console.print(
        f"scanning {len(plan.hosts)} host(s) ({safe(plan.scope)}) against {len(plan.catalog)} controls, "
        f"catalog {safe(plan.catalog.version)}, {len(plan.waivers)} waiver(s)"
    )
    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=console, transient=True,
    ) as progress:  # fmt: skip
        task = progress.add_task("hosts", total=len(plan.hosts))

        def on_host(host: HostScan) -> None:
            if host.reachable:
                value = score(host.results)
                progress.console.print(
                    f"  {safe(host.host.name):<16} {_percent(value.before_waivers):>7}  "
                    f"[red]{value.failed} fail[/] [magenta]{value.errors} error[/] "
                    f"[yellow]{value.waived} waived[/] {value.passed} pass  ({host.seconds:.2f} s)"
                )
            else:
                progress.console.print(
                    f"  {safe(host.host.name):<16} [magenta]NOT ASSESSED[/]: {safe(host.evidence.get('unreachable'))}"
                )
            progress.advance(task)

        return execute_scan(config, store, plan, actor=cli_actor(), on_host=on_host)


def _print_summary(outcome: ScanOutcome, out: Console | None = None) -> None:
    from controlplane.cli.common import console
    from controlplane.compliance.scoring import by_severity, by_site, score

    out = out or console()
    results = outcome.scan.results
    rows = [
        [name, _percent(value.before_waivers), _percent(value.after_waivers), value.failed, value.errors, value.waived]
        for name, value in by_site(results).items()
    ]
    show_table(SITE_SCORE_COLUMNS, rows, title="score per site", out=out)
    severities = by_severity(results)
    out.print(
        "failing by severity: "
        + ", ".join(f"{name} {value.failed}" for name, value in severities.items() if value.failed)
        or "no failing control"
    )
    overall = score(results)
    out.print(
        f"scan {outcome.scan_id} (run {outcome.run_id}) {outcome.status}: "
        f"{_percent(overall.before_waivers)} before waivers, {_percent(overall.after_waivers)} after; "
        f"{overall.failed} fail, {overall.errors} error, {overall.waived} waived, {overall.passed} pass"
    )
    if outcome.diff is None:
        out.print("first scan of these hosts: no previous scan to compare with")
    else:
        diff = outcome.diff
        out.print(
            f"since the previous scan: {len(diff.new_failures)} new failure(s), {len(diff.fixed)} fixed, "
            f"{len(diff.new_errors)} new error(s)"
        )
        for host, control in diff.new_failures[:20]:
            out.print(f"  [red]new failure[/] {safe(host)} {safe(control)}")
        for host, control in diff.fixed[:20]:
            out.print(f"  [green]fixed[/] {safe(host)} {safe(control)}")
    unreachable = [h.host.name for h in outcome.scan.hosts if not h.reachable]
    if unreachable:
        out.print(f"[magenta]not assessed (every control is error): {safe(', '.join(unreachable))}[/]")


@click.group()
def report() -> None:
    """Export reports of stored results."""


@report.command("compliance")
@click.option(
    "--format", "fmt", type=click.Choice(["html", "json", "csv", "oscal"]), default="html", show_default=True,
    help="html: printable, self-contained; json: documented schema; csv: one row per result; oscal: OSCAL 1.0.6.",
)  # fmt: skip
@click.option("--site", metavar="SITE", help="Only this site and the sites below it (newest scan covering it).")
@click.option("--scan", "scan_id", type=click.IntRange(1), help="A stored scan by id (default: the newest).")
@click.option("-o", "--output", metavar="FILE", help="Write to FILE (default: standard output).")
@click.option("--schema", is_flag=True, help="Print the JSON schema of --format json and exit.")
@pass_context
def compliance(
    context: CliContext, fmt: str, site: str | None, scan_id: int | None, output: str | None, schema: bool
) -> None:
    """Write the compliance report of the newest stored scan (states catalog version, scan time and scope)."""
    from controlplane.cli.common import audit
    from controlplane.compliance.export import load_report, render, report_digest, write_report

    if schema:
        from controlplane.compliance.report import REPORT_SCHEMA

        print_json(REPORT_SCHEMA)
        return
    store = open_store(context)
    try:
        data = load_report(context.config, store, site=site, scan_id=scan_id)
        content = render(data, fmt)
        write_report(content, output)
        audit(
            store, "compliance.report", data.scope, "ok",
            format=fmt, scan_id=data.stored.id, output=output or "-", bytes=len(content),
            digest=report_digest(context.config, content),
        )  # fmt: skip
    finally:
        store.close()
    if output not in (None, "-"):
        echo(f"{fmt} report of scan {data.stored.id} ({data.scope}) written to {output}", err=True)
