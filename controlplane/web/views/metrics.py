"""``/metrics``: Prometheus text format from an injected registry.

The registry is passed to :func:`init_app` (tests give their own). Run
counts are read from the store at scrape time by a custom collector
(``egov_runs{kind,status}``); request latency is a histogram labelled by the
Flask endpoint name and the method, both bounded sets. Loopback clients may
scrape without logging in; anyone else needs a bearer token (or a session).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from controlplane.store.models import Run
from controlplane.web.policy import requires

bp = Blueprint("metrics", __name__)
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


class RunCountsCollector(Collector):
    """Collects the number of runs per kind and status from the store at scrape time."""

    def __init__(self, store: Any) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("egov_runs", "Runs in the store by kind and status.", labels=["kind", "status"])
        with self.store.session() as session:
            rows = session.execute(select(Run.kind, Run.status, func.count()).group_by(Run.kind, Run.status))
            for kind, status, count in rows:
                family.add_metric([kind, status], float(count))
        yield family


@bp.get("/metrics")
@requires("metrics.view", open_on_loopback=True)
def metrics() -> Response:
    """Return every metric of the app's registry in the Prometheus text format."""
    registry: CollectorRegistry = current_app.extensions["egov.registry"]
    return Response(generate_latest(registry), mimetype="text/plain; version=0.0.4; charset=utf-8")


def init_app(app: Flask, registry: CollectorRegistry, store: Any) -> None:
    """Register the collectors on ``registry`` and the latency hooks on the app."""
    app.extensions["egov.registry"] = registry
    registry.register(RunCountsCollector(store))
    # Feature state that lives in the database: one custom collector each.
    from controlplane.backup.metrics import BackupCollector
    from controlplane.compliance.metrics import ComplianceCollector
    from controlplane.monitoring.metrics import AlertCollector, ProbeCollector

    registry.register(ComplianceCollector(store))
    registry.register(BackupCollector(store))
    registry.register(ProbeCollector(store))
    registry.register(AlertCollector(store))
    latency = Histogram(
        "egov_http_request_duration_seconds",
        "Time to produce an HTTP response, by endpoint and method.",
        labelnames=["endpoint", "method"],
        registry=registry,
    )

    @app.before_request
    def start_timer() -> None:
        g.egov_started = time.perf_counter()

    @app.after_request
    def observe(response: Response) -> Response:
        started = g.get("egov_started")
        if started is not None:
            endpoint = request.endpoint if request.url_rule is not None else "unmatched"
            method = request.method if request.method in METHODS else "other"
            latency.labels(endpoint or "unmatched", method).observe(time.perf_counter() - started)
        return response

    app.register_blueprint(bp)
