"""Alert-driven runbooks on the lab: a monitoring folder whose portal rule starts failover-portal, and its monitor.

Shared by the lab test of alert-driven failover and the automatic-path
benchmark (tests/bench/bench_auto_failover.py). The rule is the shipped
``PortalHTTPDown`` of ``monitoring/rules.yml`` (its runbook block, with
``host_vars: {portal_priority: primary}``), with the mode, ``for`` and
``min_interval`` of the caller; the probe checks each portal node's health
page every ``interval`` seconds.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from tests.integration.runbook.conftest import PORT, REPO, RunbookSite

ALERT = "PortalHTTPDown"


def shipped_portal_rule() -> dict[str, Any]:
    """The shipped PortalHTTPDown rule (with its runbook block) from monitoring/rules.yml."""
    rules = yaml.safe_load((REPO / "monitoring" / "rules.yml").read_text(encoding="utf-8"))["rules"]
    return dict(next(rule for rule in rules if rule["alert"] == ALERT))


def write_portal_monitoring(
    folder: Path, *, mode: str, interval: str = "1s", hold: str = "2s", min_interval: str = "30m"
) -> Path:
    """Write probes.yml and rules.yml: the portal health probe and the shipped rule with ``auto: mode``."""
    folder.mkdir(parents=True, exist_ok=True)
    probe = {
        "name": "portal-http",
        "type": "http",
        "select": {"roles": ["portal"]},
        "url": f"http://{{address}}:{PORT}/health",
        "expect_status": [200],
        "interval": interval,
        "timeout": interval,
    }
    rule = shipped_portal_rule()
    rule["for"] = hold
    rule["runbook"] = {**rule["runbook"], "auto": mode, "min_interval": min_interval}
    (folder / "probes.yml").write_text(yaml.safe_dump({"probes": [probe]}), encoding="utf-8")
    (folder / "rules.yml").write_text(yaml.safe_dump({"rules": [rule]}), encoding="utf-8")
    return folder


@contextlib.contextmanager
def running_monitor(site: RunbookSite, folder: Path, tick: float = 0.2) -> Iterator[Any]:
    """A Monitor of ``site`` on the monitoring ``folder``, stepping in a thread; stopped, its runs joined, on exit."""
    from controlplane.cli.monitor import inline_alert_runner
    from controlplane.inventory import load_inventory
    from controlplane.lab.probe import bridge_is_up
    from controlplane.monitoring.service import Monitor
    from controlplane.monitoring.spec_loader import load_monitoring
    from controlplane.runbook.catalog import RunbookFolder
    from controlplane.store import open_store

    store = open_store(site.config)
    spec = load_monitoring(folder, None, runbooks=RunbookFolder(site.config.runbooks))
    inventory = load_inventory(site.config.inventory)
    runner = inline_alert_runner(site.config, store, inventory)  # as `egov monitor run` starts them
    monitor = Monitor(site.config, store, spec=spec, inventory=inventory, lab_bridge_up=bridge_is_up, autorunner=runner)
    stop = threading.Event()
    thread = threading.Thread(target=monitor.run_forever, args=(stop, tick), daemon=True)
    thread.start()
    try:
        yield monitor
    finally:
        stop.set()
        thread.join(10)
        monitor.autorunner.join(120)
        monitor.close()
        store.close()


def alert_runs(store: Any) -> list[Any]:
    """Runbook runs started by the portal alert, oldest first."""
    from sqlalchemy import select

    from controlplane.store.models import Run

    with store.session() as session:
        query = select(Run).where(Run.kind == "runbook", Run.actor == f"alert:{ALERT}").order_by(Run.id)
        return list(session.scalars(query))
