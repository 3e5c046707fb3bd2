"""The portal's primary fails on the real lab; the alert-driven failover runs; the incident, MTTR and budget show it.

The site's monitoring folder has the shipped ``PortalHTTPDown`` rule wired to
failover-portal in drill mode (see tests/integration/runbook/autorun.py),
probes every second, and an objective on the portal *through its VIP* with
one-second slices whose incidents also gather ``PortalHTTPDown``. The test
stops the portal service on the primary, waits for the alert to start the
failover runbook and for the run to end, heals the primary, and then reads
the month's report: one incident from the portal alert (with the runbook
run linked), its duration as the MTTR, and bad slices spent from the budget.
Every wait is bounded; the lab is left as found (the fixture heals it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.integration.runbook.autorun import ALERT, alert_runs, running_monitor, write_portal_monitoring
from tests.integration.runbook.conftest import PORT, PRIMARY, VIP, RunbookSite, http_body, wait_for

pytestmark = [pytest.mark.root, pytest.mark.lab]


def write_levels(folder: Path) -> None:
    """Add the VIP probe and the portal's objective to the monitoring folder."""
    probes = yaml.safe_load((folder / "probes.yml").read_text(encoding="utf-8"))
    probes["probes"].append({"name": "portal-vip", "type": "http", "select": {"hosts": [PRIMARY]},
                             "url": f"http://{VIP}:{PORT}/health", "expect_status": [200], "interval": "1s",
                             "timeout": "1s"})  # fmt: skip
    (folder / "probes.yml").write_text(yaml.safe_dump(probes), encoding="utf-8")
    slo = {"defaults": {"slice": "1s"}, "services": [{
        "name": "portal", "title": {"zh": "教育门户网站", "en": "Education portal"}, "site": "ministry",
        "checks": [{"probe": "portal-vip"}], "alerts": [f"alertname={ALERT}"], "objective": 99.9,
    }]}  # fmt: skip
    (folder / "slo.yml").write_text(yaml.safe_dump(slo, allow_unicode=True), encoding="utf-8")


def good_slices(monitor: Any) -> int:
    """Good one-second slices of the portal the monitor's rollups have counted so far."""
    minutes = dict(monitor.service_levels.recent.get("portal", {}))
    return sum(good.bit_count() for good, _bad in minutes.values())


def closed_incidents(store: Any) -> list[Any]:
    from sqlalchemy import select

    from controlplane.slo.models import Incident

    with store.session() as session:
        return list(session.scalars(select(Incident).where(Incident.resolved_at.is_not(None))))


def test_a_failed_primary_portal_shows_as_an_incident_with_its_mttr_and_the_budget_it_spent(
    portal: RunbookSite, tmp_path: Path
) -> None:
    from controlplane.inventory import load_inventory
    from controlplane.lab import manager
    from controlplane.monitoring import alert_actions
    from controlplane.slo.report import build_report
    from controlplane.slo.site import SiteLevels
    from controlplane.slo.spec import load_slo
    from controlplane.store.models import RunStatus, utcnow

    folder = write_portal_monitoring(tmp_path / "monitoring", mode="drill")
    write_levels(folder)
    service = portal.services[PRIMARY]
    with running_monitor(portal, folder) as monitor:
        assert [s.name for s in monitor.service_levels.slo.services] == ["portal"]
        assert wait_for(lambda: good_slices(monitor) >= 3, timeout=15, interval=0.2), "the VIP was never seen up"
        manager.fault(portal.lab_config, PRIMARY, "down", service=service)
        try:
            started = wait_for(lambda: alert_runs(monitor.store), timeout=30, interval=0.2)
            assert started, "the alert did not start failover-portal"
            finished = wait_for(
                lambda: [r for r in alert_runs(monitor.store) if r.status in RunStatus.FINAL], timeout=90, interval=0.5
            )
            assert finished, "the failover drill did not finish"
        finally:
            manager.fault(portal.lab_config, PRIMARY, "up", service=service)
        assert wait_for(lambda: http_body(VIP) == portal.content[PRIMARY], timeout=15), "the primary is not back"
        resolved = wait_for(lambda: not [a for a in alert_actions.list_alerts(monitor.store, monitor.spec,
                                                                              state="firing")
                                         if a["name"] == ALERT], timeout=20, interval=0.2)  # fmt: skip
        assert resolved, "the portal alert did not resolve"
        incidents = wait_for(lambda: closed_incidents(monitor.store), timeout=10, interval=0.2)
        assert incidents, "no incident closed"
        healed = good_slices(monitor)
        assert wait_for(lambda: good_slices(monitor) >= healed + 2, timeout=15, interval=0.2), "the VIP stays down"
        inventory = load_inventory(portal.config.inventory)
        levels = SiteLevels(monitor.spec, load_slo(folder, monitor.spec, inventory), inventory)
        now = utcnow().astimezone(levels.slo.zone)
        report = build_report(monitor.store, levels, f"{now.year:04d}-{now.month:02d}")
    [run] = alert_runs(monitor.store)
    [incident] = incidents
    assert {(a["alertname"], a["host"]) for a in incident.alerts if a["alertname"] == ALERT} == {(ALERT, PRIMARY)}
    assert run.id in incident.runs
    [section] = report["services"]
    [listed] = [i for i in section["incidents"] if i["id"] == incident.id]
    duration = (incident.resolved_at - incident.started_at).total_seconds()
    assert listed["duration_seconds"] == duration > 0
    assert section["repair"]["mttr_seconds"] == duration
    # The VIP was down from the fault until the failover, and again from the drill's fail-back until the heal.
    assert 0 < section["bad_seconds"] <= duration + 30
    assert section["good_seconds"] >= 5 and section["availability"] < 1
    assert section["budget_used"] > 0 and section["budget_left_seconds"] < section["budget_seconds"]
