"""Builders shared by the monitoring unit tests: specs, results, a fake clock."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import yaml

from controlplane.monitoring.results import ProbeResult, Sample
from controlplane.monitoring.spec import MonitoringSpec
from controlplane.monitoring.spec_loader import load_monitoring

T0 = dt.datetime(2026, 3, 2, 8, 0, 0, tzinfo=dt.UTC)  # a Monday

RULES = [
    {"alert": "HostDown", "probe": "ssh", "for": "10s", "severity": "critical",
     "annotations": {"summary": "{host} down: {message}", "runbook_url": "https://runbooks.example/host-down"}},
    {"alert": "ServiceDown", "probe": "health", "metric": "service_active", "op": "==", "value": 0, "for": "10s",
     "severity": "critical", "annotations": {"summary": "{service} stopped on {host}"}},
    {"alert": "DiskAlmostFull", "probe": "health", "metric": "host_disk_used_ratio", "op": ">", "value": 0.9,
     "severity": "warning", "annotations": {"summary": "{mount} on {host} is {value} full"}},
]  # fmt: skip
PROBES = [
    {"name": "ssh", "type": "ssh", "interval": "10s", "timeout": "3s"},
    {"name": "health", "type": "health", "interval": "30s", "timeout": "10s"},
]
ALERTING = {
    "route": {
        "receiver": "oncall",
        "group_by": ["alertname", "site"],
        "group_wait": "10s",
        "group_interval": "1m",
        "repeat_interval": "1h",
        "escalate": [{"after": "30m", "receiver": "lead"}],
    },
    "inhibit_rules": [
        {"source_matchers": ["alertname=HostDown"], "target_matchers": ["alertname!=HostDown"], "equal": ["host"]}
    ],
    "flapping": {"window": "10m", "threshold": 4},
}


def write_monitoring(folder: Path, **files: Any) -> Path:
    """Write probes/rules/alerting/silences YAML documents into ``folder``; return it."""
    folder.mkdir(parents=True, exist_ok=True)
    defaults = {"probes": {"probes": PROBES}, "rules": {"rules": RULES}, "alerting": ALERTING}
    for name, document in {**defaults, **files}.items():
        if document is not None:
            (folder / f"{name}.yml").write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return folder


def make_spec(folder: Path, **files: Any) -> MonitoringSpec:
    """A loaded spec from the default documents with ``files`` overriding some."""
    return load_monitoring(write_monitoring(folder, **files), ("oncall", "lead", "webhook"))


def ssh_result(host: str, ok: bool, site: str = "ministry", at: dt.datetime = T0) -> ProbeResult:
    """An ssh probe result for a host."""
    return ProbeResult("ssh", "ssh", host, site, "portal", ok, 0.01, "SSH-2.0" if ok else "connection refused", at=at)


def health_result(host: str, services: dict[str, bool], site: str = "ministry", ok: bool = True,
                  disk: float = 0.5) -> ProbeResult:  # fmt: skip
    """A health result with service samples (empty samples when ``ok`` is False: host unreachable)."""
    samples = [Sample("service_active", 1.0 if up else 0.0, {"service": name}) for name, up in services.items()]
    samples.append(Sample("host_disk_used_ratio", disk, {"mount": "/"}))
    return ProbeResult("health", "health", host, site, "portal", ok, 0.05, "" if ok else "unreachable",
                       samples if ok else [])  # fmt: skip


def seconds(n: float) -> dt.timedelta:
    """A timedelta of ``n`` seconds."""
    return dt.timedelta(seconds=n)
