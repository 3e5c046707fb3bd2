"""The monitor on a real store: outbox, retries, restarts without duplicates, acks and silences."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from controlplane.monitoring import alert_actions
from controlplane.monitoring.models import Delivery
from controlplane.monitoring.results import latest_results
from tests.unit.monitoring.conftest import Recorder
from tests.unit.monitoring.helpers import T0, health_result, seconds, ssh_result


def run(monitor: Any, offset: float) -> None:
    """One evaluation and delivery at T0 + offset seconds."""
    now = T0 + seconds(offset)
    monitor.evaluate(now)
    monitor.deliver(now)


def fire_host_down(monitor: Any) -> None:
    """Record a failing ssh result and step until the first notification went out (at 20 s)."""
    monitor.record([ssh_result("mn-db-1", False)])
    for offset in (0, 10, 20):
        run(monitor, offset)


def test_a_host_down_alert_is_notified_once_as_a_version_4_payload(monitor_factory) -> None:  # type: ignore[no-untyped-def]
    recorder = Recorder()
    monitor = monitor_factory(recorder)
    fire_host_down(monitor)
    assert len(recorder.calls) == 1
    receiver, payload = recorder.calls[0]
    assert receiver == "oncall"
    assert payload["version"] == "4" and payload["status"] == "firing"
    assert payload["alerts"][0]["labels"]["alertname"] == "HostDown"
    for offset in range(30, 600, 30):
        run(monitor, offset)
    assert len(recorder.calls) == 1


def test_a_restart_while_an_alert_fires_sends_nothing_before_repeat_interval(monitor_factory) -> None:  # type: ignore[no-untyped-def]
    recorder = Recorder()
    fire_host_down(monitor_factory(recorder))
    restarted = monitor_factory(recorder)  # a new process: state comes from the store only
    assert ("ssh", "mn-db-1") in restarted.latest
    for offset in range(30, 3600, 60):
        run(restarted, offset)
    # Only the planned escalation (30 min unacknowledged) went out meanwhile.
    assert [r for r, _p in recorder.calls] == ["oncall", "lead"]
    run(restarted, 20 + 3600)
    assert [r for r, _p in recorder.calls] == ["oncall", "lead", "oncall", "lead"]


def test_a_receiver_that_is_down_gets_the_notification_once_it_is_back(monitor_factory, site_store) -> None:  # type: ignore[no-untyped-def]
    recorder = Recorder(failures=3)
    monitor = monitor_factory(recorder)
    fire_host_down(monitor)  # attempt 1 at 20 s fails
    run(monitor, 20.5)  # not due yet (backoff 1 s)
    assert recorder.attempts == 1
    run(monitor, 21)  # attempt 2 fails, next in 2 s
    run(monitor, 23)  # attempt 3 fails, next in 4 s
    run(monitor, 26)
    assert recorder.attempts == 3
    run(monitor, 27)  # attempt 4 succeeds
    assert len(recorder.calls) == 1
    with site_store.session() as session:
        row = session.scalars(select(Delivery)).one()
    assert (row.status, row.attempts) == ("sent", 4)
    assert "connection refused" in (row.last_error or "") or row.last_error is None


def test_a_newer_message_supersedes_an_undelivered_older_one_for_the_same_group(monitor_factory, site_store) -> None:  # type: ignore[no-untyped-def]
    recorder = Recorder(failures=1000)
    monitor = monitor_factory(recorder)
    fire_host_down(monitor)
    monitor.record([ssh_result("mn-db-1", True)])
    for offset in range(30, 200, 10):
        monitor.evaluate(T0 + seconds(offset))
    with site_store.session() as session:
        rows = session.scalars(select(Delivery).order_by(Delivery.id)).all()
    assert [(r.status, r.payload["status"]) for r in rows] == [("superseded", "firing"), ("pending", "resolved")]


def test_an_acknowledged_alert_is_not_repeated(monitor_factory, site_store) -> None:  # type: ignore[no-untyped-def]
    recorder = Recorder()
    monitor = monitor_factory(recorder)
    fire_host_down(monitor)
    [row] = alert_actions.list_alerts(site_store, monitor.spec, state="firing")
    acked = alert_actions.ack_alert(site_store, row["fingerprint"][:6], "li.wei", "rebooting it")
    assert acked["acked_by"] == "li.wei" and acked["ack_comment"] == "rebooting it"
    for offset in (1000, 3700, 7300):
        run(monitor, offset)
    assert len(recorder.calls) == 1
    [again] = alert_actions.list_alerts(site_store, monitor.spec, state="firing")
    assert again["acked_by"] == "li.wei"  # the monitor's saves kept the concurrent ack


def test_a_silence_made_before_the_alert_fires_keeps_it_quiet_and_listed_as_silenced(
    monitor_factory, site_store
) -> None:  # type: ignore[no-untyped-def]
    recorder = Recorder()
    monitor = monitor_factory(recorder)
    made = alert_actions.create_silence(site_store, ["host=mn-db-1"], author="li.wei", comment="replacing disk",
                              starts_at=T0 - seconds(60), duration=7200)  # fmt: skip
    fire_host_down(monitor)
    assert recorder.calls == []
    [row] = alert_actions.list_alerts(site_store, monitor.spec, state="silenced", now=T0 + seconds(30))
    assert row["silenced_by"] == [made["id"]]
    alert_actions.expire_silence(site_store, made["id"], "li.wei")
    # Now in real time the silence has ended, so the alert goes out.
    import datetime as dt

    from controlplane.store.models import utcnow

    later = utcnow() + dt.timedelta(seconds=1)
    monitor.evaluate(later)
    monitor.evaluate(later + dt.timedelta(seconds=11))
    monitor.deliver(later + dt.timedelta(seconds=11))
    assert len(recorder.calls) == 1


def test_host_down_inhibits_the_service_alerts_of_that_host(monitor_factory, site_store) -> None:  # type: ignore[no-untyped-def]
    recorder = Recorder()
    monitor = monitor_factory(recorder)
    monitor.record([health_result("mn-db-1", {"postgresql": False}), ssh_result("mn-db-1", False)])
    for offset in (0, 10, 20, 30):
        run(monitor, offset)
    names = [p["alerts"][0]["labels"]["alertname"] for _r, p in recorder.calls]
    assert names == ["HostDown"]
    [inhibited] = alert_actions.list_alerts(site_store, monitor.spec, state="inhibited", now=T0 + seconds(30))
    assert inhibited["name"] == "ServiceDown"


def test_results_are_kept_as_latest_and_a_bounded_history(monitor_factory, site_store) -> None:  # type: ignore[no-untyped-def]
    from controlplane.monitoring.results import history

    monitor = monitor_factory(Recorder())
    for index in range(130):
        monitor.record([ssh_result("mn-db-1", index % 2 == 0)])
    with site_store.session() as session:
        latest = latest_results(session)
        past = history(session, "ssh", "mn-db-1", limit=1000)
    assert [(r.check, r.host, r.success) for r in latest] == [("ssh", "mn-db-1", False)]
    assert len(past) == monitor.spec.history == 100


def test_a_receiver_without_send_resolved_gets_no_resolution(monitor_factory, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tests.unit.monitoring.helpers import ALERTING

    alerting = {**ALERTING, "route": {**ALERTING["route"], "receiver": "webhook", "escalate": []}}
    recorder = Recorder()
    monitor = monitor_factory(recorder, alerting=alerting)
    fire_host_down(monitor)
    monitor.record([ssh_result("mn-db-1", True)])
    for offset in range(30, 300, 10):
        run(monitor, offset)
    assert [p["status"] for _r, p in recorder.calls] == ["firing"]


def test_the_health_grid_groups_latest_results_by_site_and_host(monitor_factory, site_store) -> None:  # type: ignore[no-untyped-def]
    monitor = monitor_factory(Recorder())
    monitor.record([ssh_result("mn-db-1", False), ssh_result("gd-edu-1", True, site="province-gd"),
                    health_result("mn-db-1", {"postgresql": True})])  # fmt: skip
    grid = alert_actions.health_grid(site_store)
    assert list(grid) == ["ministry", "province-gd"]
    cell = grid["ministry"]["mn-db-1"]
    assert cell["ok"] is False and cell["failing"] == ["ssh"] and set(cell["checks"]) == {"health", "ssh"}
    assert grid["province-gd"]["gd-edu-1"]["ok"] is True
