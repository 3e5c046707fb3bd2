"""Incidents gather the service's alerts, their acknowledgement and the runbook runs started in between."""

from __future__ import annotations

import datetime as dt
from typing import Any

from tests.unit.slo.conftest import portal_result


def step(monitor: Any, when: dt.datetime, ok: bool) -> None:
    monitor.record([portal_result(ok, when)])
    monitor.evaluate(when + dt.timedelta(seconds=3))


def incidents(store: Any) -> list[dict[str, Any]]:
    from sqlalchemy import select

    from controlplane.slo.incidents import as_dict
    from controlplane.slo.models import Incident

    with store.session() as session:
        return [as_dict(row) for row in session.scalars(select(Incident).order_by(Incident.id))]


def test_an_incident_links_the_ack_and_the_runbook_run_of_its_alert_and_closes_when_it_resolves(monitor, store) -> None:  # type: ignore[no-untyped-def]
    from controlplane.monitoring import alert_actions
    from controlplane.runs import create_run
    from controlplane.store.models import utcnow

    now = utcnow()
    base = now - dt.timedelta(seconds=200)
    for offset in range(0, 100, 10):
        step(monitor, base + dt.timedelta(seconds=offset), True)
    for offset in range(100, 200, 10):
        step(monitor, base + dt.timedelta(seconds=offset), False)
    [alert] = [
        a for a in alert_actions.list_alerts(store, monitor.spec, state="firing") if a["name"] == "PortalHTTPDown"
    ]
    acked = alert_actions.ack_alert(store, alert["fingerprint"], "oncall-li", "looking")
    with store.session() as session:
        ours = create_run(session, kind="runbook", target="mn-portal-1", actor="alert:PortalHTTPDown",
                          params={"runbook": "failover-portal", "targets": ["mn-portal-1", "mn-portal-2"]})  # fmt: skip
        other = create_run(session, kind="runbook", target="gd-school-1", actor="someone",
                           params={"runbook": "isolate-host", "targets": ["gd-school-1"]})  # fmt: skip
        ours_id, other_id = ours.id, other.id
    step(monitor, now + dt.timedelta(seconds=1), False)
    [open_] = incidents(store)
    assert open_["open"] and open_["acked_by"] == "oncall-li"
    assert open_["ack_seconds"] == (dt.datetime.fromisoformat(acked["acked_at"])
                                    - dt.datetime.fromisoformat(open_["opened_at"])).total_seconds()  # fmt: skip
    assert ours_id in open_["runs"] and other_id not in open_["runs"]
    for offset in (11, 21):
        step(monitor, now + dt.timedelta(seconds=offset), True)
    [closed] = incidents(store)
    assert not closed["open"]
    assert closed["resolved_at"] == (now + dt.timedelta(seconds=14)).isoformat()  # the success at +11 s, seen at +14 s
    assert closed["started_at"] == (base + dt.timedelta(seconds=103)).isoformat()
    names = {a["alertname"] for a in closed["alerts"]}
    assert "PortalHTTPDown" in names and closed["runs"] == [ours_id]
    # A later outage is a new incident; syncing again changes nothing.
    for offset in (60, 70, 80, 90):
        step(monitor, now + dt.timedelta(seconds=offset), False)
    assert [i["open"] for i in incidents(store)] == [False, True]
    from controlplane.slo.incidents import sync_incidents

    with store.session() as session:
        assert sync_incidents(session, monitor.service_levels.slo, now + dt.timedelta(seconds=95)) == 0
