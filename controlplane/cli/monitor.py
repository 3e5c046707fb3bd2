"""``egov monitor`` and ``egov export``: probes, the monitor loop, Prometheus export (alerts: :mod:`.alerts`).

* ``egov monitor check`` validates the monitoring folder; ``once`` runs every
  probe now and prints a table (or JSON); ``run`` is the monitor loop in the
  foreground (probes, alerts, notifications) until SIGTERM or Ctrl-C.
* ``egov export prometheus -o DIR`` writes a scrape config and rules file.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from controlplane.cli import CliContext, pass_context
from controlplane.cli.common import open_store, print_json
from controlplane.cli.output import Column, show_table, styled, wide_option

if TYPE_CHECKING:
    from controlplane.config import Config
    from controlplane.inventory import Inventory
    from controlplane.monitoring.autorun import AutoStart, Runner
    from controlplane.monitoring.spec import MonitoringSpec
    from controlplane.store import Store

RUNBOOK_GRACE = 120.0  # seconds `monitor run` waits at exit for runbooks that alerts started
PROBE_COLUMNS = (
    Column("CHECK", key=True),
    Column("HOST", key=True),
    Column("SITE", key=True, optional=1),
    Column("OK", key=True),
    Column("MS", key=True, justify="right"),
    Column("MESSAGE"),
)


def probe_rows(results: list[Any]) -> list[list[Any]]:
    """The rows of ``egov monitor once`` for probe results."""
    return [
        [r.check, r.host, r.site, styled("ok", "green") if r.success else styled("FAIL", "red"),
         f"{r.duration * 1000:.0f}", r.message]
        for r in results
    ]  # fmt: skip


def _receiver_names(context: CliContext) -> tuple[str, ...] | None:
    # Routes are checked against egov.yml's receivers once the site has any:
    # a fresh site (no receivers yet) can still run probes and list alerts.
    names = tuple(r.name for r in context.config.receivers)
    return names or None


def monitoring_spec(context: CliContext) -> MonitoringSpec:
    """The site's monitoring folder, loaded and checked (a ConfigError, exit 2, lists every problem)."""
    from controlplane.monitoring.spec_loader import load_monitoring
    from controlplane.runbook.catalog import RunbookFolder

    config = context.config
    return load_monitoring(config.monitoring, _receiver_names(context), runbooks=RunbookFolder(config.runbooks))


@click.group()
def monitor() -> None:
    """Run probes and the alert engine."""


@monitor.command("check")
@pass_context
def check(context: CliContext) -> None:
    """Validate the monitoring folder (every problem at once, exit 2)."""
    from controlplane.inventory import load_inventory
    from controlplane.monitoring.spec import expand_checks

    spec = monitoring_spec(context)
    checks = expand_checks(spec, load_inventory(context.config.inventory))
    click.echo(
        f"{context.config.monitoring}: {len(spec.probes)} probe(s) → {len(checks)} check(s), "
        f"{len(spec.rules)} rule(s), {len(spec.routes) + 1} route(s), {len(spec.silences)} silence(s)"
    )


@monitor.command("once")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.option("--check", "only", multiple=True, help="Only this check (repeatable).")
@click.option("--site", help="Only hosts of this site.")
@wide_option
@pass_context
def once(context: CliContext, as_json: bool, only: tuple[str, ...], site: str | None, wide: bool) -> None:
    """Run every probe now and show the results (exit 1 when any failed)."""
    from controlplane.lab.probe import bridge_is_up
    from controlplane.monitoring.service import Monitor

    store = open_store(context)
    engine = Monitor(context.config, store, spec=monitoring_spec(context), lab_bridge_up=bridge_is_up)
    try:
        if only or site:
            engine.runner.checks = [
                c for c in engine.checks if (not only or c.probe.name in only) and (not site or c.site == site)
            ]
        results = engine.probe_all()
    finally:
        engine.close()
    if as_json:
        print_json([r.as_dict() for r in results])
    else:
        show_table(PROBE_COLUMNS, probe_rows(results), wide=wide)
    if any(not r.success for r in results):
        raise SystemExit(1)


@monitor.command("run")
@click.option("--tick", default=0.5, show_default=True, type=click.FloatRange(0.05, 60), help="Seconds per step.")
@pass_context
def run(context: CliContext, tick: float) -> None:
    """Run probes, alerts and notifications in the foreground until SIGTERM or Ctrl-C."""
    import signal
    import threading

    from controlplane.inventory import load_inventory
    from controlplane.lab.probe import bridge_is_up
    from controlplane.monitoring.service import Monitor

    store = open_store(context)
    inventory = load_inventory(context.config.inventory)
    autorunner = inline_alert_runner(context.config, store, inventory)
    engine = Monitor(
        context.config,
        store,
        spec=monitoring_spec(context),
        inventory=inventory,
        lab_bridge_up=bridge_is_up,
        autorunner=autorunner,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    click.echo(f"monitoring {len(engine.checks)} check(s); SIGTERM or Ctrl-C stops", err=True)
    try:
        engine.run_forever(stop, tick)
    except KeyboardInterrupt:
        pass
    finally:
        running = [t for t in engine.autorunner.threads if t.is_alive()]
        if running:  # a runbook an alert started: let it finish its journal (a kill leaves it interrupted)
            click.echo(f"waiting up to {RUNBOOK_GRACE:g} s for {len(running)} runbook(s) started by alerts", err=True)
            engine.autorunner.join(RUNBOOK_GRACE)
        engine.close()


def inline_alert_runner(config: Config, store: Store, inventory: Inventory) -> Runner:
    """How ``egov monitor run`` starts an alert's runbook: it has no dispatcher, so the run executes in its thread.

    (``egov serve`` hands its monitor a runner that queues the run for the
    console's dispatcher instead: :func:`controlplane.web.services.runbooks.alert_runner`.)
    """
    from controlplane.monitoring.autorun import actor_of
    from controlplane.runbook.alert_starts import run_for_alert

    def start(auto: AutoStart, on_run: Callable[[int], None]) -> object:
        assert auto.rule.runbook is not None  # noqa: S101 - only rules with a runbook are claimed
        return run_for_alert(
            config,
            store,
            inventory,
            auto.rule.runbook.name,
            mode=auto.mode,
            params=auto.params,
            actor=actor_of(auto.rule),
            host=auto.labels.get("host"),
            on_run=on_run,
        )

    return start


@click.group()
def export() -> None:
    """Export configuration for other tools."""


@export.command("prometheus")
@click.option("-o", "--output", "folder", required=True, type=click.Path(file_okay=False), help="Folder to write.")
@click.option("--interval", default="15s", show_default=True, help="Scrape and evaluation interval.")
@pass_context
def prometheus(context: CliContext, folder: str, interval: str) -> None:
    """Write prometheus.yml (scraping /metrics) and egov-rules.yml (our alert rules in PromQL)."""
    from controlplane.errors import BadInputError
    from controlplane.monitoring.export import export_prometheus
    from controlplane.monitoring.labels import parse_duration

    try:
        parse_duration(interval)
    except ValueError as error:
        raise BadInputError(str(error)) from None
    for path in export_prometheus(context.config, monitoring_spec(context), Path(folder), interval):
        click.echo(f"wrote {path}")
