"""Silences and inhibition: which alerts are muted right now, and by what.

A silence mutes alerts whose labels match all its matchers while it is
active: between ``starts_at`` and ``ends_at``, or, for a recurring
maintenance window, on the listed weekdays between two clock times in its
time zone (a window whose end is before its start runs past midnight).
Inhibition mutes target alerts while a *firing* source alert has the same
values of the ``equal`` labels (a host down mutes its service alerts); an
alert never inhibits itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from zoneinfo import ZoneInfo

from controlplane.monitoring.alerts import FIRING, Alert
from controlplane.monitoring.labels import all_match
from controlplane.monitoring.schema import WEEKDAYS
from controlplane.monitoring.spec import InhibitRule, Silence, Window


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def window_active(window: Window, now: dt.datetime) -> bool:
    """Whether a recurring weekly window covers ``now`` (an aware datetime)."""
    local = now.astimezone(ZoneInfo(window.timezone))
    start, end, minute = _minutes(window.start), _minutes(window.end), local.hour * 60 + local.minute
    days = set(window.days) or set(WEEKDAYS)
    today = WEEKDAYS[local.weekday()]
    yesterday = WEEKDAYS[(local.weekday() - 1) % 7]
    if start < end:
        return today in days and start <= minute < end
    # Past midnight: 22:00-02:00 on "sat" covers Saturday 22:00 to Sunday 02:00.
    return (today in days and minute >= start) or (yesterday in days and minute < end)


def silence_active(silence: Silence, now: dt.datetime) -> bool:
    """Whether a silence is in force at ``now``."""
    if silence.starts_at and now < silence.starts_at:
        return False
    if silence.ends_at and now >= silence.ends_at:
        return False
    if silence.every is not None:
        return window_active(silence.every, now)
    return True


def silenced_by(alert: Alert, silences: Iterable[Silence], now: dt.datetime) -> list[str]:
    """Ids of the active silences that match the alert (empty: not silenced)."""
    return [s.id for s in silences if silence_active(s, now) and all_match(s.matchers, alert.labels)]


def inhibited_by(alert: Alert, alerts: Iterable[Alert], rules: Iterable[InhibitRule]) -> list[str]:
    """Fingerprints of firing alerts that inhibit this one under the inhibit rules."""
    sources: list[str] = []
    pool = [a for a in alerts if a.state == FIRING]
    for rule in rules:
        if not all_match(rule.target, alert.labels):
            continue
        for source in pool:
            if source.fingerprint == alert.fingerprint or not all_match(rule.source, source.labels):
                continue
            if all(source.labels.get(name, "") == alert.labels.get(name, "") for name in rule.equal):
                sources.append(source.fingerprint)
    return sources


def suppression(
    alerts: Mapping[str, Alert], silences: Iterable[Silence], rules: Iterable[InhibitRule], now: dt.datetime
) -> dict[str, dict[str, list[str]]]:
    """For every muted alert, what mutes it: {fingerprint: {"silenced_by": [...], "inhibited_by": [...]}}."""
    silence_list = list(silences)
    rule_list = list(rules)
    values = list(alerts.values())
    muted: dict[str, dict[str, list[str]]] = {}
    for fp, alert in alerts.items():
        silenced = silenced_by(alert, silence_list, now)
        inhibited = inhibited_by(alert, values, rule_list) if alert.state == FIRING else []
        if silenced or inhibited:
            muted[fp] = {"silenced_by": silenced, "inhibited_by": inhibited}
    return muted
