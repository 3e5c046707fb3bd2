"""Grouping and notification timing, as pure logic (Alertmanager's model, plus ack and escalation).

Every alert is routed (first matching route, or several with ``continue``;
the top route otherwise) into a group keyed by the route and the values of
its ``group_by`` labels. For each group, :func:`plan` decides whether to
notify now:

* a new group waits ``group_wait`` (so a burst becomes one message);
* after a notification, changes (new firing alerts, resolutions) are sent
  at most every ``group_interval``;
* with no change, the firing set is re-sent after ``repeat_interval``,
  unless every firing alert is acknowledged (ack stops repeats);
* unacknowledged ``after`` seconds past the first notification, the group
  escalates: the next receiver gets it, and later notifications too;
* silenced and inhibited alerts are left out; an alert muted after it was
  notified is dropped from the group quietly (no false "resolved").

Group states are plain data so they persist: a restart resumes exactly where
the timers were, and sends nothing again before the repeat interval.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from controlplane.monitoring.alerts import FIRING, RESOLVED, Alert
from controlplane.monitoring.labels import all_match
from controlplane.monitoring.spec import MonitoringSpec, Route


@dataclass
class Group:
    """Notification state of one group (what was sent, when, how far escalated)."""

    key: str
    route: str
    receiver: str
    group_labels: dict[str, str]
    created_at: dt.datetime
    last_flush_at: dt.datetime | None = None
    last_notified_at: dt.datetime | None = None
    first_notified_at: dt.datetime | None = None
    notified_firing: list[str] = field(default_factory=list)
    escalation_level: int = 0


@dataclass
class Notification:
    """One message to send: to whom, for which group, why, and the alerts in it."""

    receiver: str
    group_key: str
    group_labels: dict[str, str]
    kind: str  # notify | repeat | escalate
    firing: list[Alert]
    resolved: list[Alert]


def routes_for(spec: MonitoringSpec, labels: Mapping[str, str]) -> list[Route]:
    """The routes an alert goes to: matching child routes (stopping unless continue), else the top one."""
    matched: list[Route] = []
    for route in spec.routes:
        if all_match(route.matchers, labels):
            matched.append(route)
            if not route.continue_:
                break
    return matched or [spec.default_route]


def group_key(route: Route, labels: Mapping[str, str]) -> tuple[str, dict[str, str]]:
    """The group key (Alertmanager-like ``{}/route:{a="x"}``) and the group labels."""
    group_labels = {name: str(labels.get(name, "")) for name in route.group_by}
    inner = ",".join(f"{name}={json.dumps(value, ensure_ascii=False)}" for name, value in sorted(group_labels.items()))
    return f"{{}}/{route.name}:{{{inner}}}", group_labels


def _recipients(route: Route, group: Group) -> list[str]:
    names = [route.receiver, *(e.receiver for e in route.escalate[: group.escalation_level])]
    return [name for name in dict.fromkeys(names) if name]


def plan(
    spec: MonitoringSpec,
    alerts: Mapping[str, Alert],
    groups: Mapping[str, Group],
    muted: Mapping[str, object],
    now: dt.datetime,
) -> tuple[dict[str, Group], list[Notification]]:
    """Decide what to send now.

    ``muted`` holds the fingerprints silenced or inhibited. Pure: nothing
    is sent and the inputs are not changed; the caller stores the new group
    states and queues the notifications.
    """
    routes = {route.name: route for route in (spec.default_route, *spec.routes)}
    members: dict[str, list[Alert]] = {}
    labels_of: dict[str, tuple[Route, dict[str, str]]] = {}
    for alert in alerts.values():
        if alert.state not in (FIRING, RESOLVED):
            continue
        for route in routes_for(spec, alert.labels):
            key, group_labels = group_key(route, alert.labels)
            members.setdefault(key, []).append(alert)
            labels_of[key] = (route, group_labels)
    new_groups: dict[str, Group] = {}
    notifications: list[Notification] = []
    for key in sorted(set(members) | set(groups)):
        previous = groups.get(key)
        if previous is not None:
            group = Group(**{**previous.__dict__, "notified_firing": list(previous.notified_firing)})
            route = routes.get(group.route)
        else:
            route, group_labels = labels_of[key]
            group = Group(key, route.name, route.receiver, group_labels, created_at=now)
        in_group = members.get(key, [])
        firing = [a for a in in_group if a.state == FIRING and a.fingerprint not in muted]
        firing_fps = {a.fingerprint for a in firing}
        told = set(group.notified_firing)
        resolved = [a for a in in_group if a.state == RESOLVED and a.fingerprint in told]
        # Told about but now muted or gone: forget quietly (no false "resolved").
        group.notified_firing = [fp for fp in group.notified_firing if fp in firing_fps or fp in
                                 {a.fingerprint for a in resolved}]  # fmt: skip
        if route is None:  # the route was removed from alerting.yml: drop the group
            continue
        if group.last_flush_at is None:
            if not firing:
                continue  # nothing worth a first message (e.g. everything muted or resolved)
            if (now - group.created_at).total_seconds() >= route.group_wait:
                notifications += _send(route, group, firing, [], "notify", now)
            new_groups[key] = group
            continue
        since_flush = (now - group.last_flush_at).total_seconds()
        changed = bool(firing_fps - told) or bool(resolved)
        if changed and since_flush >= route.group_interval:
            notifications += _send(route, group, firing, resolved, "notify", now)
        elif firing and not changed and group.last_notified_at is not None:
            unacked = [a for a in firing if not a.acked_by]
            since_notified = (now - group.last_notified_at).total_seconds()
            if unacked and since_notified >= route.repeat_interval and since_flush >= route.group_interval:
                notifications += _send(route, group, firing, [], "repeat", now)
        notifications += _escalate(route, group, firing, now)
        if not firing and not group.notified_firing:
            continue  # everything resolved and told: the group is done
        new_groups[key] = group
    return new_groups, notifications


def _send(route: Route, group: Group, firing: list[Alert], resolved: list[Alert], kind: str,
          now: dt.datetime) -> list[Notification]:  # fmt: skip
    group.last_flush_at = group.last_notified_at = now
    group.first_notified_at = group.first_notified_at or now
    group.notified_firing = sorted(a.fingerprint for a in firing)
    if not firing:
        group.escalation_level = 0
    return [
        Notification(receiver, group.key, dict(group.group_labels), kind, list(firing), list(resolved))
        for receiver in _recipients(route, group)
    ]


def _escalate(route: Route, group: Group, firing: list[Alert], now: dt.datetime) -> list[Notification]:
    """Send to the next receiver when the group stayed unacknowledged past the next step."""
    sent: list[Notification] = []
    unacked = [a for a in firing if not a.acked_by]
    while unacked and group.first_notified_at and group.escalation_level < len(route.escalate):
        step = route.escalate[group.escalation_level]
        # Measured from when the oldest unacked alert was first told, so an ack resets nothing silently.
        if (now - group.first_notified_at).total_seconds() < step.after:
            break
        group.escalation_level += 1
        sent.append(Notification(step.receiver, group.key, dict(group.group_labels), "escalate", list(firing), []))
    return sent


def acked_all(alerts: Iterable[Alert]) -> bool:
    """Whether every firing alert in the list is acknowledged."""
    return all(a.acked_by for a in alerts if a.state == FIRING)
