"""Silences (fixed spans and recurring windows) and inhibition."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from controlplane.monitoring.alerts import FIRING, Alert
from controlplane.monitoring.labels import Matcher, parse_matchers
from controlplane.monitoring.spec import InhibitRule, Silence, Window
from controlplane.monitoring.suppress import inhibited_by, silence_active, silenced_by, suppression, window_active
from tests.unit.monitoring.helpers import T0, make_spec, seconds


def alert(name: str, host: str, state: str = FIRING, **labels: str) -> Alert:
    return Alert(labels={"alertname": name, "host": host, **labels}, annotations={}, state=state)


def test_a_silence_mutes_matching_alerts_only_between_its_start_and_end() -> None:
    silence = Silence("s1", parse_matchers(["host=mn-db-1"]), "li.wei", "disk swap", T0, T0 + seconds(3600))
    target = alert("DiskAlmostFull", "mn-db-1")
    assert silenced_by(target, [silence], T0 + seconds(60)) == ["s1"]
    assert silenced_by(alert("DiskAlmostFull", "mn-db-2"), [silence], T0 + seconds(60)) == []
    assert silenced_by(target, [silence], T0 - seconds(1)) == []
    assert silenced_by(target, [silence], T0 + seconds(3600)) == []


def test_matchers_support_equality_negation_and_anchored_regexes() -> None:
    labels = {"alertname": "DiskAlmostFull", "host": "mn-db-1"}
    assert Matcher.parse("alertname=~Disk.*").matches(labels)
    assert not Matcher.parse("alertname=~Disk").matches(labels)  # anchored, like Alertmanager
    assert Matcher.parse("host!~gd-.*").matches(labels)
    assert Matcher.parse("site=").matches(labels)  # a missing label reads as empty
    assert Matcher.parse('host="mn-db-1"').matches(labels)


def test_a_weekly_window_is_read_in_its_own_time_zone() -> None:
    window = Window(("sun",), "02:00", "04:00", "Asia/Shanghai")
    # Sunday 02:30 in Beijing is Saturday 18:30 UTC.
    assert window_active(window, dt.datetime(2026, 3, 7, 18, 30, tzinfo=dt.UTC))
    assert not window_active(window, dt.datetime(2026, 3, 8, 2, 30, tzinfo=dt.UTC))


def test_a_window_that_ends_after_midnight_covers_the_early_hours_of_the_next_day() -> None:
    window = Window(("sat",), "22:00", "02:00", "UTC")
    assert window_active(window, dt.datetime(2026, 3, 7, 23, 0, tzinfo=dt.UTC))  # Saturday night
    assert window_active(window, dt.datetime(2026, 3, 8, 1, 59, tzinfo=dt.UTC))  # Sunday early
    assert not window_active(window, dt.datetime(2026, 3, 8, 2, 0, tzinfo=dt.UTC))
    assert not window_active(window, dt.datetime(2026, 3, 7, 1, 0, tzinfo=dt.UTC))  # Saturday early


def test_a_recurring_silence_from_a_file_mutes_only_inside_its_window(tmp_path: Path) -> None:
    spec = make_spec(
        tmp_path / "m",
        silences={"silences": [{"name": "patch", "matchers": ["site=school-gd-1"], "author": "ops",
                                "comment": "weekly patching", "every": {"days": ["mon"], "start": "08:00",
                                                                        "end": "09:00"}}]},
    )  # fmt: skip
    silence = spec.silences[0]
    assert silence.id == "file:patch"
    assert silence_active(silence, T0 + seconds(1800))  # T0 is Monday 08:00 UTC
    assert not silence_active(silence, T0 + seconds(3600))


def test_a_firing_host_down_inhibits_the_service_alerts_of_that_host_only() -> None:
    rule = InhibitRule(parse_matchers(["alertname=HostDown"]), parse_matchers(["alertname!=HostDown"]), ("host",))
    down = alert("HostDown", "a")
    service_a, service_b = alert("ServiceDown", "a", service="portal"), alert("ServiceDown", "b", service="portal")
    alerts = [down, service_a, service_b]
    assert inhibited_by(service_a, alerts, [rule]) == [down.fingerprint]
    assert inhibited_by(service_b, alerts, [rule]) == []
    assert inhibited_by(down, alerts, [rule]) == []


def test_a_pending_host_down_does_not_inhibit_yet() -> None:
    rule = InhibitRule(parse_matchers(["alertname=HostDown"]), parse_matchers(["alertname!=HostDown"]), ("host",))
    pending = alert("HostDown", "a", state="pending")
    assert inhibited_by(alert("ServiceDown", "a"), [pending], [rule]) == []


def test_suppression_reports_what_mutes_each_alert() -> None:
    rule = InhibitRule(parse_matchers(["alertname=HostDown"]), parse_matchers(["alertname!=HostDown"]), ("host",))
    silence = Silence("s", parse_matchers(["alertname=DiskAlmostFull"]), "a", "c", None, T0 + seconds(60))
    items = [alert("HostDown", "a"), alert("ServiceDown", "a"), alert("DiskAlmostFull", "b"), alert("Other", "c")]
    muted = suppression({a.fingerprint: a for a in items}, [silence], [rule], T0)
    assert muted[items[1].fingerprint]["inhibited_by"] == [items[0].fingerprint]
    assert muted[items[2].fingerprint]["silenced_by"] == ["s"]
    assert items[0].fingerprint not in muted and items[3].fingerprint not in muted
