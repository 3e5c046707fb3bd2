"""Grouping and timing: group_wait, group_interval, repeat_interval, ack, escalation, muting."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from controlplane.monitoring.alerts import FIRING, RESOLVED, Alert
from controlplane.monitoring.dispatch import Group, Notification, plan, routes_for
from tests.unit.monitoring.helpers import ALERTING, T0, make_spec, seconds


@pytest.fixture
def spec(tmp_path: Path):  # type: ignore[no-untyped-def]
    return make_spec(tmp_path / "monitoring")


def firing(host: str, name: str = "HostDown", site: str = "ministry", at: dt.datetime = T0) -> Alert:
    return Alert(labels={"alertname": name, "host": host, "site": site, "severity": "critical"}, annotations={},
                 state=FIRING, active_since=at, fired_at=at)  # fmt: skip


class Clock:
    """Runs plan() step by step, keeping the group states like the monitor does."""

    def __init__(self, spec) -> None:  # type: ignore[no-untyped-def]
        self.spec = spec
        self.groups: dict[str, Group] = {}
        self.sent: list[tuple[float, Notification]] = []

    def at(self, offset: float, alerts: list[Alert], muted: set[str] = frozenset()) -> list[Notification]:  # type: ignore[assignment]
        self.groups, notes = plan(self.spec, {a.fingerprint: a for a in alerts}, self.groups,
                                  {fp: {} for fp in muted}, T0 + seconds(offset))  # fmt: skip
        self.sent += [(offset, n) for n in notes]
        return notes


def test_a_burst_of_alerts_waits_group_wait_and_goes_out_as_one_message(spec) -> None:  # type: ignore[no-untyped-def]
    clock = Clock(spec)
    alerts = [firing("a")]
    assert clock.at(0, alerts) == []
    alerts.append(firing("b"))
    assert clock.at(5, alerts) == []
    notes = clock.at(10, alerts)
    assert [(n.receiver, n.kind, len(n.firing)) for n in notes] == [("oncall", "notify", 2)]


def test_changes_after_the_first_message_wait_for_group_interval(spec) -> None:  # type: ignore[no-untyped-def]
    clock = Clock(spec)
    alerts = [firing("a")]
    clock.at(0, alerts)
    clock.at(10, alerts)
    alerts.append(firing("b"))
    assert clock.at(30, alerts) == []
    notes = clock.at(70, alerts)
    assert len(notes) == 1 and {a.labels["host"] for a in notes[0].firing} == {"a", "b"}


def test_alerts_of_other_sites_or_names_go_to_other_groups(spec) -> None:  # type: ignore[no-untyped-def]
    clock = Clock(spec)
    alerts = [firing("a"), firing("b", site="province-gd"), firing("c", name="ServiceDown")]
    clock.at(0, alerts)
    notes = clock.at(10, alerts)
    assert len(notes) == 3
    assert {tuple(sorted(n.group_labels.items())) for n in notes} == {
        (("alertname", "HostDown"), ("site", "ministry")),
        (("alertname", "HostDown"), ("site", "province-gd")),
        (("alertname", "ServiceDown"), ("site", "ministry")),
    }


def test_an_unchanged_firing_group_is_repeated_after_repeat_interval_only(spec) -> None:  # type: ignore[no-untyped-def]
    clock = Clock(spec)
    alerts = [firing("a")]
    clock.at(0, alerts)
    clock.at(10, alerts)
    for offset in range(70, 3600, 60):
        assert [n for n in clock.at(offset, alerts) if n.receiver == "oncall"] == [], offset
    notes = clock.at(3610, alerts)
    assert [(n.receiver, n.kind) for n in notes if n.receiver == "oncall"] == [("oncall", "repeat")]


def test_an_acknowledged_group_is_not_repeated_and_does_not_escalate(spec) -> None:  # type: ignore[no-untyped-def]
    clock = Clock(spec)
    alert = firing("a")
    clock.at(0, [alert])
    clock.at(10, [alert])
    alert.acked_by = "li.wei"
    assert clock.at(4000, [alert]) == []
    assert clock.at(8000, [alert]) == []


def test_a_new_alert_in_an_acknowledged_group_is_still_sent(spec) -> None:  # type: ignore[no-untyped-def]
    clock = Clock(spec)
    first = firing("a")
    clock.at(0, [first])
    clock.at(10, [first])
    first.acked_by = "li.wei"
    notes = clock.at(100, [first, firing("b")])
    assert len(notes) == 1 and len(notes[0].firing) == 2


def test_an_unacknowledged_group_escalates_to_the_next_receiver_once(spec) -> None:  # type: ignore[no-untyped-def]
    clock = Clock(spec)
    alerts = [firing("a")]
    clock.at(0, alerts)
    clock.at(10, alerts)
    assert clock.at(10 + 1799, alerts) == []
    notes = clock.at(10 + 1800, alerts)
    assert [(n.receiver, n.kind) for n in notes] == [("lead", "escalate")]
    assert clock.at(10 + 1900, alerts) == []
    # Later messages of the group go to both.
    notes = clock.at(3610, alerts)
    assert sorted(n.receiver for n in notes) == ["lead", "oncall"]


def test_a_resolution_is_sent_once_and_then_the_group_is_gone(spec) -> None:  # type: ignore[no-untyped-def]
    clock = Clock(spec)
    alert = firing("a")
    clock.at(0, [alert])
    clock.at(10, [alert])
    alert.state, alert.resolved_at = RESOLVED, T0 + seconds(40)
    assert clock.at(40, [alert]) == []  # within group_interval
    notes = clock.at(70, [alert])
    assert [(len(n.firing), len(n.resolved)) for n in notes] == [(0, 1)]
    assert clock.groups == {}
    assert clock.at(200, [alert]) == []


def test_an_alert_that_fires_and_resolves_within_group_wait_is_never_sent(spec) -> None:  # type: ignore[no-untyped-def]
    clock = Clock(spec)
    alert = firing("a")
    clock.at(0, [alert])
    alert.state = RESOLVED
    assert clock.at(10, [alert]) == []
    assert clock.groups == {}


def test_muted_alerts_are_left_out_and_a_muted_group_sends_nothing(spec) -> None:  # type: ignore[no-untyped-def]
    clock = Clock(spec)
    a, b = firing("a"), firing("b")
    clock.at(0, [a, b], muted={b.fingerprint})
    notes = clock.at(10, [a, b], muted={b.fingerprint})
    assert [x.labels["host"] for x in notes[0].firing] == ["a"]
    other = Clock(spec)
    other.at(0, [b], muted={b.fingerprint})
    assert other.at(10, [b], muted={b.fingerprint}) == []


def test_an_alert_muted_after_it_was_sent_sends_no_false_resolution(spec) -> None:  # type: ignore[no-untyped-def]
    clock = Clock(spec)
    a, b = firing("a"), firing("b")
    clock.at(0, [a, b])
    clock.at(10, [a, b])
    assert clock.at(100, [a, b], muted={b.fingerprint}) == []


def test_a_child_route_takes_matching_alerts_and_others_fall_to_the_top_route(tmp_path: Path) -> None:
    alerting = {**ALERTING, "route": {**ALERTING["route"], "routes": [
        {"name": "db", "matchers": ["host=~mn-db-.*"], "receiver": "webhook", "group_wait": "1s"}]}}  # fmt: skip
    spec = make_spec(tmp_path / "m", alerting=alerting)
    assert [r.name for r in routes_for(spec, {"host": "mn-db-1"})] == ["db"]
    assert [r.name for r in routes_for(spec, {"host": "mn-oa-1"})] == ["default"]
    clock = Clock(spec)
    alerts = [firing("mn-db-1"), firing("mn-oa-1")]
    notes = clock.at(0, alerts) + clock.at(1, alerts)
    assert [n.receiver for n in notes] == ["webhook"]
