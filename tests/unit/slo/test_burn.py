"""Burn-rate alerts fire through the monitor's own engine at the slice the SRE workbook's pairs say.

An hour of good 10 s slices, then the portal fails from 3600 s; each result
is evaluated 3 s after it, and the windows end 2 s before the evaluation
(the rollup's lag). After k+1 bad slices:

* 1 h/5 min at 14.4x: (k+1)/360 >= 1.44 % first at k = 5, the evaluation at 3653 s (not at 3643 s);
* 6 h/30 min at 6x: only one of its six hours was measured, less than the half it needs (burn_rate_coverage),
  so it stays quiet; with a coverage of 10 %, (k+1)/(361+k) >= 0.6 % first at k = 2, the evaluation at 3623 s.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from tests.unit.slo.conftest import at, drive, timeline


def burning(monitor: Any) -> dict[str, Any]:
    from controlplane.monitoring import alert_actions

    return {a["labels"]["window"]: a for a in alert_actions.list_alerts(monitor.store, monitor.spec, state="firing")
            if a["name"] == "ErrorBudgetBurn"}  # fmt: skip


def test_the_fast_and_slow_burn_rate_alerts_fire_at_the_right_slice(monitor) -> None:  # type: ignore[no-untyped-def]
    from controlplane.monitoring.models import Delivery

    drive(monitor, timeline(3600, lambda s: True))
    assert burning(monitor) == {}
    fired: dict[str, float] = {}
    for seconds in range(3600, 3700, 10):
        drive(monitor, [(seconds, False)])
        for window in burning(monitor):
            fired.setdefault(window, seconds + 3)
    assert fired == {"1h/5m": 3653}
    fast = burning(monitor)["1h/5m"]
    assert fast["labels"] == {
        "alertname": "ErrorBudgetBurn", "severity": "critical", "check": "slo:portal", "host": "controlplane",
        "site": "ministry", "role": "service", "slo": "portal", "window": "1h/5m",
    }  # fmt: skip
    assert fast["annotations"]["summary"].startswith("portal (ministry) spends its error budget ")
    assert fast["annotations"]["runbook_url"] == "/availability#slo-portal"
    assert fast["fired_at"] == at(3653).isoformat()
    # The receivers of alerting.yml got it like any other alert.
    with monitor.store.session() as session:
        payloads = [row.payload for row in session.scalars(select(Delivery))]
    names = {a["labels"]["alertname"] for p in payloads for a in p.get("alerts", [])}
    assert "ErrorBudgetBurn" in names


def test_the_budget_burns_only_outside_maintenance(monitor, store, levels) -> None:  # type: ignore[no-untyped-def]
    from controlplane.slo.maintenance import add_window

    drive(monitor, timeline(3600, lambda s: True))
    add_window(store, levels.slo, levels.inventory, site="ministry", services=["portal"], starts_at=at(3590),
               ends_at=at(4200), reason="portal upgrade", actor="ops", now=at(3590))  # fmt: skip
    monitor.service_levels.reload_maintenance()  # the monitor reads new windows every 15 s: at once here
    drive(monitor, [(s, False) for s in range(3600, 3900, 10)])
    assert burning(monitor) == {}


def test_a_broken_slo_yml_leaves_the_monitor_alerting_without_levels(site, store, lab_inventory, caplog) -> None:  # type: ignore[no-untyped-def]
    from controlplane.monitoring.service import Monitor

    (site.monitoring / "slo.yml").write_text("services: [{name: portal}]\n", encoding="utf-8")
    made = Monitor(site, store, inventory=lab_inventory, pool=object(), resolve=lambda ref: "x")
    try:
        assert made.service_levels.slo.services == ()
        assert [r.alert for r in made.spec.rules] == ["PortalHTTPDown"]
        assert "service levels not counted" in caplog.text and "services[0]" in caplog.text
    finally:
        made.close()


def test_the_slow_pair_fires_once_enough_of_its_long_window_was_measured(site, store, lab_inventory) -> None:  # type: ignore[no-untyped-def]
    from controlplane.monitoring.service import Monitor
    from tests.unit.slo.conftest import SLO, write_folder

    write_folder(site.monitoring, slo={**SLO, "defaults": {**SLO["defaults"], "burn_rate_coverage": 0.1}})
    made = Monitor(site, store, inventory=lab_inventory, pool=object(), resolve=lambda ref: "x",
                   senders={"webhook": lambda *args: None})  # fmt: skip
    try:
        drive(made, timeline(3600, lambda s: True))
        fired: dict[str, float] = {}
        for seconds in range(3600, 3640, 10):
            drive(made, [(seconds, False)])
            for window in burning(made):
                fired.setdefault(window, seconds + 3)
        assert fired == {"6h/30m": 3623}
    finally:
        made.close()
