"""Service levels on the command line (issue 17).

* ``egov slo check`` validates ``monitoring/slo.yml`` against the probes and
  the inventory (every problem at once, exit 2); ``egov slo status`` shows
  each objective's figures over its own window now.
* ``egov report availability --month 2026-11 [--site S] --format
  html|pdf|csv|json [--lang zh|en] [-o FILE]`` (registered in
  :mod:`controlplane.cli.report`).
* ``egov export slo -o DIR`` writes OpenSLO and Prometheus rules (added to
  the ``export`` group of :mod:`controlplane.cli.monitor` here, so that
  module is not edited).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from controlplane.cli import CliContext, pass_context
from controlplane.cli.common import open_store, print_json
from controlplane.cli.monitor import export
from controlplane.cli.output import Column, echo, show_table, wide_option
from controlplane.errors import BadInputError

if TYPE_CHECKING:
    from controlplane.slo.site import SiteLevels

STATUS_COLUMNS = (
    Column("SERVICE", key=True),
    Column("SITE", key=True, optional=3),
    Column("OBJECTIVE", key=True, justify="right"),
    Column("AVAILABILITY", key=True, justify="right"),
    Column("BUDGET USED", key=True, justify="right"),
    Column("DOWN", justify="right", optional=1),
    Column("UNKNOWN", justify="right", optional=2),
    Column("WINDOW", optional=4),
)


def _levels(context: CliContext) -> SiteLevels:
    from controlplane.slo.site import load_levels

    return load_levels(context.config)


@click.group()
def slo() -> None:
    """Service-level objectives: check slo.yml, show the budgets now."""


@slo.command("check")
@pass_context
def check(context: CliContext) -> None:
    """Validate monitoring/slo.yml (every problem at once, with file and key path; exit 2)."""
    levels = _levels(context)
    checks = sum(len(s.checks) for s in levels.slo.services)
    echo(f"{levels.slo.path}: {len(levels.slo.services)} service(s), {checks} check(s), "
         f"{sum(len(s.burn_rates) for s in levels.slo.services)} burn-rate alert(s)")  # fmt: skip


@slo.command("status")
@click.option("--site", help="Only services of this site and the sites below it.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@wide_option
@pass_context
def status(context: CliContext, site: str | None, as_json: bool, wide: bool) -> None:
    """Each objective's availability and budget over its window (calendar month or rolling days) so far."""
    from controlplane.slo.labels import duration, percent
    from controlplane.slo.report import current_figures

    levels = _levels(context)
    if site is not None and site not in levels.inventory.sites:
        raise BadInputError(f"unknown site {site!r} (not in the inventory)")
    services = levels.services_for(site)
    found = current_figures(open_store(context), levels, services)
    if as_json:
        print_json({name: figures.as_dict() for name, figures in found.items()})
        return
    rows = []
    for service in services:
        figures = found[service.name]
        rows.append([service.name, service.site, percent(service.objective, 2), percent(figures.availability),
                     percent(figures.budget_used, 1), duration(figures.seconds(figures.bad), "en"),
                     duration(figures.seconds(figures.unknown), "en"), service.window])  # fmt: skip
    show_table(STATUS_COLUMNS, rows, wide=wide)


@click.command("availability")
@click.option("--month", help="YYYY-MM (default: the previous month).")
@click.option("--site", help="Only services of this site and the sites below it.")
@click.option("--format", "fmt", type=click.Choice(["html", "pdf", "csv", "json"]), default="html", show_default=True)
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True, help="Report language.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="File to write (default: stdout; pdf needs it).")
@pass_context
def availability_command(context: CliContext, month: str | None, site: str | None, fmt: str, lang: str,
                         output: str | None) -> None:  # fmt: skip
    """Availability report: per service and site the availability, budget, daily bars, burn-down, incidents, MTTR."""
    from controlplane.slo.render import render
    from controlplane.slo.report import build_report, previous_month
    from controlplane.store.models import utcnow

    if fmt == "pdf" and not output:
        raise BadInputError("a PDF needs -o FILE")
    levels = _levels(context)
    chosen = month or previous_month(utcnow(), levels.slo.zone)
    content = render(build_report(open_store(context), levels, chosen, site=site), fmt, lang)
    if output:
        target = Path(output)
        temporary = target.with_name(target.name + ".part")
        temporary.write_bytes(content)
        temporary.replace(target)
        echo(f"wrote {target} ({len(content)} bytes)", err=True)
    else:
        sys.stdout.buffer.write(content)
        sys.stdout.flush()


@click.command("slo")
@click.option("-o", "--output", "folder", required=True, type=click.Path(file_okay=False), help="Folder to write.")
@pass_context
def export_slo(context: CliContext, folder: str) -> None:
    """Write openslo.yaml (OpenSLO v1) and egov-slo-rules.yml (Prometheus recording and burn-rate alert rules)."""
    from controlplane.slo.export import export_slo as write

    for path in write(_levels(context).slo, Path(folder)):
        echo(f"wrote {path}")


export.add_command(export_slo, "slo")
