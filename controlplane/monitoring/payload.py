"""The Alertmanager webhook payload, version 4, and readable texts derived from it.

Every notification is stored in the outbox as this payload, so a webhook
receiver gets exactly what Alertmanager would send and the other channels
(e-mail, WeCom, DingTalk) render from the same data::

    {"version": "4", "groupKey": ..., "truncatedAlerts": 0, "status": "firing",
     "receiver": ..., "groupLabels": {...}, "commonLabels": {...},
     "commonAnnotations": {...}, "externalURL": ..., "alerts": [
        {"status": ..., "labels": {...}, "annotations": {...}, "startsAt": ...,
         "endsAt": ..., "generatorURL": ..., "fingerprint": ...}]}
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from controlplane.monitoring.alerts import Alert
from controlplane.monitoring.dispatch import Notification

ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's endsAt for an alert still firing
MAX_ALERTS = 200


def rfc3339(value: dt.datetime | None) -> str:
    """Return an aware datetime as RFC 3339 in UTC with a Z (Alertmanager's format)."""
    if value is None:
        return ZERO_TIME
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def alert_item(alert: Alert, status: str, external_url: str) -> dict[str, Any]:
    """One entry of ``alerts`` in the payload."""
    annotations = dict(alert.annotations)
    if alert.acked_by:
        annotations["acknowledged_by"] = alert.acked_by
    return {
        "status": status,
        "labels": dict(alert.labels),
        "annotations": annotations,
        "startsAt": rfc3339(alert.fired_at or alert.active_since),
        "endsAt": rfc3339(alert.resolved_at) if status == "resolved" else ZERO_TIME,
        "generatorURL": alert.generator_url or (f"{external_url.rstrip('/')}/alerts" if external_url else ""),
        "fingerprint": alert.fingerprint,
    }


def _common(items: list[dict[str, str]]) -> dict[str, str]:
    if not items:
        return {}
    first = items[0]
    return {k: v for k, v in first.items() if all(other.get(k) == v for other in items[1:])}


def build_payload(notification: Notification, external_url: str = "") -> dict[str, Any]:
    """The version-4 payload of a notification (firing alerts first, then resolved)."""
    entries = [alert_item(a, "firing", external_url) for a in notification.firing]
    entries += [alert_item(a, "resolved", external_url) for a in notification.resolved]
    truncated = max(0, len(entries) - MAX_ALERTS)
    entries = entries[:MAX_ALERTS]
    return {
        "version": "4",
        "groupKey": notification.group_key,
        "truncatedAlerts": truncated,
        "status": "firing" if notification.firing else "resolved",
        "receiver": notification.receiver,
        "groupLabels": dict(notification.group_labels),
        "commonLabels": _common([e["labels"] for e in entries]),
        "commonAnnotations": _common([e["annotations"] for e in entries]),
        "externalURL": external_url,
        "alerts": entries,
    }


def without_resolved(payload: dict[str, Any]) -> dict[str, Any] | None:
    """The payload without resolved alerts (for receivers with send_resolved off); None if empty."""
    firing = [a for a in payload["alerts"] if a["status"] == "firing"]
    if not firing:
        return None
    return {**payload, "alerts": firing, "status": "firing"}


def title(payload: dict[str, Any]) -> str:
    """A one-line subject: ``[FIRING:2] HostDown site=ministry``."""
    count = sum(1 for a in payload["alerts"] if a["status"] == payload["status"])
    groups = " ".join(f"{k}={v}" for k, v in sorted(payload.get("groupLabels", {}).items()) if v)
    return f"[{payload['status'].upper()}:{count}] {groups}".strip()


def markdown(payload: dict[str, Any]) -> str:
    """A markdown message for chat robots: one paragraph per alert with its runbook link."""
    lines = [f"### {title(payload)}"]
    for alert in payload["alerts"]:
        labels, notes = alert["labels"], alert["annotations"]
        mark = "🔥" if alert["status"] == "firing" else "✅"
        head = f"{mark} **{labels.get('alertname', '')}** {labels.get('severity', '')} — {labels.get('host', '')}"
        lines.append(head + (f" ({labels['site']})" if labels.get("site") else ""))
        if notes.get("summary"):
            lines.append(f"> {notes['summary']}")
        if notes.get("runbook_url"):
            name = notes.get("runbook") or notes["runbook_url"]
            lines.append(f"> runbook: [{name}]({notes['runbook_url']})")
        if notes.get("runbook_run"):
            lines.append(f"> {notes.get('runbook_auto', 'runbook started')}: [run]({notes['runbook_run']})")
        elif notes.get("runbook_auto"):
            lines.append(f"> {notes['runbook_auto']}")
        if notes.get("acknowledged_by"):
            lines.append(f"> acknowledged by {notes['acknowledged_by']}")
        since = alert["endsAt"] if alert["status"] == "resolved" else alert["startsAt"]
        lines.append(f"> {'resolved' if alert['status'] == 'resolved' else 'since'} {since}")
    if payload.get("externalURL"):
        lines.append(f"[open the console]({payload['externalURL'].rstrip('/')}/alerts)")
    return "\n\n".join(lines)


def plain_text(payload: dict[str, Any]) -> str:
    """A plain-text body for e-mail."""
    lines = [title(payload), ""]
    for alert in payload["alerts"]:
        labels, notes = alert["labels"], alert["annotations"]
        lines.append(f"{alert['status'].upper()} {labels.get('alertname', '')} [{labels.get('severity', '')}]")
        for key in ("summary", "description", "runbook", "runbook_url", "runbook_auto", "runbook_run",
                    "acknowledged_by"):  # fmt: skip
            if notes.get(key):
                lines.append(f"  {key}: {notes[key]}")
        lines.append("  labels: " + ", ".join(f"{k}={v}" for k, v in sorted(labels.items())))
        lines.append(f"  starts: {alert['startsAt']}")
        if alert["status"] == "resolved":
            lines.append(f"  ends:   {alert['endsAt']}")
        lines.append("")
    if payload.get("externalURL"):
        lines.append(f"Console: {payload['externalURL'].rstrip('/')}/alerts")
    return "\n".join(lines)
