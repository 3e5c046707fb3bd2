"""``egov maintenance add|list|end``: approved maintenance windows (service levels, issue 17).

A window leaves the error budget and silences the alerts of what it covers
(see :mod:`controlplane.slo.maintenance`). Times are ISO 8601; without a
zone they are read in the objectives' time zone (Asia/Shanghai by default),
``now`` is now. A window whose start lies in the past is declared with
``--after-the-fact`` and a reason; reports show it as such. Every change is
audited with the OS user as actor.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import click

from controlplane.cli import CliContext, pass_context
from controlplane.cli.common import open_store, print_json
from controlplane.cli.output import Column, echo, moment, plain, show_table, wide_option
from controlplane.errors import BadInputError

if TYPE_CHECKING:
    from controlplane.slo.site import SiteLevels

WINDOW_COLUMNS = (
    Column("ID", key=True, justify="right"),
    Column("SITE", key=True),
    Column("STATE", key=True),
    Column("FROM", key=True),
    Column("TO", key=True),
    Column("KIND", key=True, optional=2),
    Column("SERVICES", optional=3),
    Column("BY", optional=4),
    Column("REASON", optional=1),
)


def parse_time(text: str, zone: dt.tzinfo, now: dt.datetime, option: str) -> dt.datetime:
    """``now`` or an ISO 8601 time (read in ``zone`` without one). Raises BadInputError otherwise."""
    if text.strip().lower() == "now":
        return now
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadInputError(f"{option} {text!r} is not an ISO 8601 time (such as 2026-11-14T22:00) or now") from None
    return value if value.tzinfo else value.replace(tzinfo=zone)


def _levels(context: CliContext) -> SiteLevels:
    from controlplane.slo.site import load_levels

    return load_levels(context.config)


@click.group()
def maintenance() -> None:
    """Maintenance windows: left out of the error budget, they silence the alerts of what they cover."""


@maintenance.command("add")
@click.option("--site", required=True, help="The site whose services the window covers (and the sites below).")
@click.option("--service", "services", multiple=True, help="Only this service of slo.yml (repeatable).")
@click.option("--start", required=True, help="ISO 8601 time or now.")
@click.option("--end", help="ISO 8601 time.")
@click.option("-d", "--duration", help="Length instead of --end, e.g. 2h or 30m.")
@click.option("-r", "--reason", required=True, help="What is done (or why the outage was maintenance).")
@click.option("--after-the-fact", is_flag=True, help="Declare a window that already started (shown as such).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_context
def add(context: CliContext, site: str, services: tuple[str, ...], start: str, end: str | None, duration: str | None,
        reason: str, after_the_fact: bool, as_json: bool) -> None:  # fmt: skip
    """Declare a maintenance window (exit 2 for a bad site, service, time or reason)."""
    from controlplane.audit import cli_actor
    from controlplane.monitoring.labels import parse_duration
    from controlplane.slo.maintenance import add_window
    from controlplane.store.models import utcnow

    levels = _levels(context)
    now = utcnow()
    zone = levels.slo.zone
    starts = parse_time(start, zone, now, "--start")
    if (end is None) == (duration is None):
        raise BadInputError("give either --end or --duration")
    if duration is not None:
        try:
            ends = starts + dt.timedelta(seconds=parse_duration(duration))
        except ValueError as error:
            raise BadInputError(str(error)) from None
    else:
        ends = parse_time(str(end), zone, now, "--end")
    store = open_store(context)
    window = {"site": site, "services": services, "starts_at": starts, "ends_at": ends, "reason": reason}
    made = add_window(store, levels.slo, levels.inventory, actor=cli_actor(), after_the_fact=after_the_fact, now=now,
                      **window)  # fmt: skip
    if as_json:
        print_json(made)
        return
    silenced = f", {len(made['silences'])} silence(s)" if made["silences"] else ""
    echo(f"maintenance window {made['id']} ({made['kind']}) for {plain(made['site'])}: {moment(made['starts_at'])} "
         f"to {moment(made['ends_at'])} UTC{silenced}")  # fmt: skip


@maintenance.command("list")
@click.option("--site", help="Only windows of this site.")
@click.option("--all", "everything", is_flag=True, help="Also windows that ended more than 31 days ago.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@wide_option
@pass_context
def list_command(context: CliContext, site: str | None, everything: bool, as_json: bool, wide: bool) -> None:
    """Maintenance windows, newest first."""
    from controlplane.slo.maintenance import list_windows
    from controlplane.store.models import utcnow

    since = None if everything else utcnow() - dt.timedelta(days=31)
    rows = [w for w in list_windows(open_store(context), since=since) if site is None or w["site"] == site]
    if as_json:
        print_json(rows)
        return
    show_table(WINDOW_COLUMNS, [
        [w["id"], w["site"], w["state"], moment(w["starts_at"]), moment(w["ends_at"]), w["kind"],
         ", ".join(w["services"]) or "*", w["created_by"], w["reason"]]
        for w in rows
    ], wide=wide)  # fmt: skip


@maintenance.command("end")
@click.argument("window_id", type=click.IntRange(1, 2**31 - 1))
@pass_context
def end(context: CliContext, window_id: int) -> None:
    """End a window now (one that has not begun is cancelled); its silences expire."""
    from controlplane.audit import cli_actor
    from controlplane.slo.maintenance import end_window

    done = end_window(open_store(context), window_id, actor=cli_actor())
    echo(f"maintenance window {done['id']} {done['state']} at {moment(done['ends_at'])} UTC")
