"""A month's figures from real stored probe results and the real alert engine, under a controlled clock.

The timeline (10 s probes and slices, objective 99.9 %):

* 0-600 s up; 600-900 s the portal fails (30 bad slices): an incident
  from 603 s (first seen, each result is evaluated 3 s after it) to 903 s;
* 1200-1800 s the monitor is down: the result at 1190 s counts for its
  validity (10 s interval + 2 s timeout + 2 s grace), so slices 1210-1790 s
  (59) are unknown;
* 2100-2700 s a planned maintenance window, the portal down in it: its 60
  slices leave the budget, and the incident that began in it is
  maintenance's;
* the report is made at 3000 s: 300 slices elapsed.
"""

from __future__ import annotations

from typing import Any

import pytest

from controlplane.errors import BadInputError
from tests.unit.slo.conftest import MONTH, at, drive, timeline

OUTAGE = (600, 900)
GAP = (1200, 1800)
MAINTENANCE = (2100, 2700)
REPORT = 3000
MONTH_SLICES = 30 * 8640


def state(seconds: float) -> bool | None:
    if GAP[0] <= seconds < GAP[1]:
        return None
    return not (OUTAGE[0] <= seconds < OUTAGE[1] or MAINTENANCE[0] <= seconds < MAINTENANCE[1])


def run_the_month(monitor: Any, store: Any, levels: Any) -> None:
    from controlplane.slo.maintenance import add_window

    drive(monitor, timeline(2000, state))
    add_window(store, levels.slo, levels.inventory, site="ministry", services=["portal"], starts_at=at(2100),
               ends_at=at(2700), reason="portal upgrade", actor="ops", now=at(2000))  # fmt: skip
    drive(monitor, [(s, ok) for s, ok in timeline(REPORT, state) if s >= 2000])


def portal(report: dict[str, Any]) -> dict[str, Any]:
    return next(s for s in report["services"] if s["name"] == "portal")


def test_an_outage_a_maintenance_window_and_a_monitor_gap_give_exact_figures(monitor, store, levels) -> None:  # type: ignore[no-untyped-def]
    from controlplane.slo.report import build_report

    run_the_month(monitor, store, levels)
    report = build_report(store, levels, MONTH, now=at(REPORT))
    figures = portal(report)
    assert figures["bad_seconds"] == 300.0
    assert figures["unknown_seconds"] == 590.0
    assert figures["maintenance_seconds"] == 600.0
    assert figures["good_seconds"] == (300 - 30 - 59 - 60) * 10.0
    assert figures["availability"] == pytest.approx(151 / 181)
    assert figures["worst_case_availability"] == pytest.approx(151 / 240)
    budget = 0.001 * (MONTH_SLICES - 60)
    assert figures["budget_seconds"] == pytest.approx(budget * 10)
    assert figures["budget_used"] == pytest.approx(30 / budget)
    assert figures["budget_left_seconds"] == pytest.approx((budget - 30) * 10)
    # The outage's incident: first seen at 603 s, resolved at 903 s; the one in maintenance is not counted.
    incidents = figures["incidents"]
    assert [(i["started_at"], i["resolved_at"], i["in_maintenance"]) for i in incidents] == [
        (at(603).isoformat(), at(903).isoformat(), False),
        (at(2103).isoformat(), at(2703).isoformat(), True),
    ]
    # It opened when the portal's alert fired, 20 s after its condition was first seen; the burn-rate alerts
    # stayed quiet: ten minutes of data are less than half of their long windows.
    assert {a["alertname"] for a in incidents[0]["alerts"]} == {"PortalHTTPDown"}
    assert incidents[0]["opened_at"] == at(623).isoformat()
    assert figures["repair"]["incidents"] == 1
    assert figures["repair"]["mttr_seconds"] == 300.0
    assert figures["repair"]["mtbf_seconds"] == REPORT - 300.0
    # The first day's bar holds all of it; the burn-down ends where the budget left is.
    [first] = [d for d in figures["days"] if d["date"] == "2026-11-01"]
    assert (first["bad_seconds"], first["unknown_seconds"]) == (300.0, 590.0)
    assert figures["burn_down"] == [{"date": "2026-11-01", "budget_left": pytest.approx(1 - 30 / budget)}]
    assert [w["kind"] for w in report["maintenance"]] == ["planned"]
    # The backup center was never probed: all unknown, never up.
    backup = next(s for s in report["services"] if s["name"] == "backup-center")
    assert (backup["availability"], backup["unknown_seconds"], backup["good_seconds"]) == (None, REPORT * 1.0, 0.0)


def test_a_window_declared_after_the_fact_changes_the_figures_and_is_shown(monitor, store, levels) -> None:  # type: ignore[no-untyped-def]
    from controlplane.slo.maintenance import add_window
    from controlplane.slo.report import build_report

    run_the_month(monitor, store, levels)
    window = {"site": "ministry", "services": ["portal"], "starts_at": at(600), "ends_at": at(900),
              "reason": "emergency patch of the portal", "actor": "ops", "now": at(7200)}  # fmt: skip
    with pytest.raises(BadInputError, match="after the fact"):
        add_window(store, levels.slo, levels.inventory, **window)
    made = add_window(store, levels.slo, levels.inventory, after_the_fact=True, **window)
    assert made["kind"] == "retroactive" and made["silences"] == []
    figures = portal(build_report(store, levels, MONTH, now=at(REPORT)))
    assert (figures["bad_seconds"], figures["maintenance_seconds"]) == (0.0, 900.0)
    assert figures["availability"] == 1.0
    assert figures["repair"]["incidents"] == 0 and figures["repair"]["mttr_seconds"] is None
    report = build_report(store, levels, MONTH, now=at(REPORT))
    assert sorted((w["kind"], w["reason"]) for w in report["maintenance"]) == [
        ("planned", "portal upgrade"),
        ("retroactive", "emergency patch of the portal"),
    ]


def test_a_bad_month_an_unknown_site_and_a_month_to_come_are_refused(store, levels) -> None:  # type: ignore[no-untyped-def]
    from controlplane.slo.report import build_report

    for month in ("2026-13", "11-2026", "2026-1", "; rm -rf /", "$(id)"):
        with pytest.raises(BadInputError, match="not a month"):
            build_report(store, levels, month, now=at(0))
    with pytest.raises(BadInputError, match="unknown site"):
        build_report(store, levels, MONTH, site="../..", now=at(10))
    with pytest.raises(BadInputError, match="not begun"):
        build_report(store, levels, "2026-12", now=at(10))


def test_a_finished_month_summed_by_the_database_gives_the_figures_counted_hour_by_hour(monitor, store, levels) -> None:  # type: ignore[no-untyped-def]
    from controlplane.slo import report as reports
    from controlplane.slo.accounting import Ledger
    from controlplane.slo.maintenance import load_spans
    from controlplane.slo.rollup import stored_minutes

    run_the_month(monitor, store, levels)
    after = at(30 * 86400 + 60)  # the month is over: past days without maintenance come from the database's sums
    quick = portal(reports.build_report(store, levels, MONTH, now=after))
    assert (quick["bad_seconds"], quick["unknown_seconds"], quick["maintenance_seconds"]) == (
        300.0, 30 * 86400.0 - 151 * 10 - 300 - 600, 600.0,
    )  # fmt: skip
    start, end = reports.month_span(MONTH, levels.slo.zone)
    service = levels.slo.service("portal")
    spans = load_spans(store, levels.slo, levels.inventory, start, end)["portal"]
    with store.session() as session:
        hours = reports.hour_rows(session, ["portal"], start.timestamp(), end.timestamp())["portal"]
        ledger = Ledger(10, hours, lambda a, b: stored_minutes(session, ["portal"], a, b)["portal"])
        slow = reports.service_report(service, ledger, start, end, after, spans, [], None)
    for key in ("good_seconds", "bad_seconds", "unknown_seconds", "maintenance_seconds", "budget_seconds"):
        assert quick[key] == slow[key], key
    assert [d["bad_seconds"] for d in quick["days"]] == [d["bad_seconds"] for d in slow["days"]]
