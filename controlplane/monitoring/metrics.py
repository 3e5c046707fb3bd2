"""Prometheus custom collectors over the store (client_python's Collector protocol).

The web side registers them on its own registry and mounts ``/metrics``::

    registry = CollectorRegistry()
    registry.register(ProbeCollector(store))
    registry.register(AlertCollector(store))

Values come from the database on every scrape, so any process (console,
monitor, CLI) reports the same state. Every probe sample ``NAME`` becomes
``egov_NAME`` with ``site``, ``host``, ``role`` and ``check`` labels plus the
sample's own (``mount``, ``service``, ``kind``): bounded label sets, base
units, as the exported rules (:mod:`~controlplane.monitoring.export`) expect.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from controlplane.monitoring.models import AlertRecord, Delivery, ProbeLatest
from controlplane.monitoring.results import Sample

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from controlplane.store import Store

PREFIX = "egov_"
BASE_LABELS = ("site", "host", "role", "check")
HELP = {
    "probe_success": "1 when the last probe of this check on this host succeeded, else 0.",
    "probe_duration_seconds": "Seconds the last probe took.",
    "http_status_code": "HTTP status of the last HTTP probe.",
    "http_latency_seconds": "Seconds until the HTTP response was read.",
    "tls_cert_expiry_seconds": "Seconds until the server's TLS certificate expires.",
    "tls_cert_days_left": "Days until the server's TLS certificate expires (verified against the CA).",
    "host_load1": "One-minute load average.",
    "host_load1_per_cpu": "One-minute load average divided by the CPU count.",
    "host_memory_used_ratio": "Share of memory not available (0-1).",
    "host_disk_used_ratio": "Share of the file system's space in use (0-1).",
    "service_active": "1 when the service runs, else 0.",
    "host_clock_offset_seconds": "Host clock minus the control plane's clock, in seconds.",
    "runs_failed": "Runs that ended failed or interrupted within the check's window.",
    "run_last_success_age_seconds": "Seconds since the last succeeded run of the kind.",
}


def metric_name(sample_name: str) -> str:
    """The exported metric name of a sample name."""
    return PREFIX + sample_name


class ProbeCollector:
    """Exposes the latest probe results from the store as gauges."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def describe(self) -> list[Metric]:
        """No fixed description: families depend on the probes configured (avoids a scrape at register)."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Yield one gauge family per sample name, plus the last-run timestamp."""
        from prometheus_client.core import GaugeMetricFamily

        with self.store.session() as session:
            rows = session.scalars(select(ProbeLatest)).all()
        series: dict[str, list[tuple[dict[str, str], float]]] = {}
        stamps = GaugeMetricFamily(
            PREFIX + "probe_last_run_timestamp_seconds", "When the last probe ran (Unix time).", labels=BASE_LABELS
        )
        for row in rows:
            base = {"site": row.site, "host": row.host, "role": row.role, "check": row.check}
            samples = [
                Sample("probe_success", 1.0 if row.success else 0.0),
                Sample("probe_duration_seconds", row.duration),
                *(Sample.from_dict(s) for s in row.samples or []),
            ]
            for sample in samples:
                series.setdefault(sample.name, []).append(({**base, **sample.labels}, sample.value))
            stamps.add_metric([base[k] for k in BASE_LABELS], row.at.timestamp())
        for name, points in sorted(series.items()):
            extra = sorted({k for labels, _v in points for k in labels} - set(BASE_LABELS))
            names = [*BASE_LABELS, *extra]
            family = GaugeMetricFamily(metric_name(name), HELP.get(name, f"Probe sample {name}."), labels=names)
            for labels, value in points:
                family.add_metric([labels.get(k, "") for k in names], value)
            yield family
        yield stamps


class AlertCollector:
    """Exposes alert counts by state and severity, and notifications by receiver and status."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def describe(self) -> list[Metric]:
        """See :meth:`ProbeCollector.describe`."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Yield ``egov_alerts`` and ``egov_alert_notifications_total``."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        with self.store.session() as session:
            alerts = session.execute(select(AlertRecord.state, AlertRecord.labels)).all()
            deliveries = session.execute(
                select(Delivery.receiver, Delivery.status, func.count()).group_by(Delivery.receiver, Delivery.status)
            ).all()
        counts: dict[tuple[str, str], int] = {}
        for state, labels in alerts:
            key = (state, str((labels or {}).get("severity", "")))
            counts[key] = counts.get(key, 0) + 1
        gauge = GaugeMetricFamily(PREFIX + "alerts", "Alerts by state and severity.", labels=["state", "severity"])
        for state in ("pending", "firing", "resolved"):
            for severity in ("critical", "warning", "info"):
                gauge.add_metric([state, severity], counts.get((state, severity), 0))
        yield gauge
        counter = CounterMetricFamily(
            PREFIX + "alert_notifications",
            "Notifications by receiver and delivery status.",
            labels=["receiver", "status"],
        )
        for receiver, status, count in deliveries:
            counter.add_metric([receiver, status], count)
        yield counter
