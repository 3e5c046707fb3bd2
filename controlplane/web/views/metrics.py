"""``/metrics``: Prometheus text format from an injected registry, within the caller's sites.

The registry is passed to :func:`init_app` (tests give their own). Run
counts are read from the store at scrape time by a custom collector
(``egov_runs{kind,status}``); request latency is a histogram labelled by the
Flask endpoint name and the method, both bounded sets. Loopback clients may
scrape without logging in; anyone else needs a bearer token (or a session).

Scope (decided in issue 12 item 5): a logged-in site-scoped user or a
site-scoped token gets only the samples whose ``site`` label lies in its
scope, or, for a sample without a site label, whose ``host`` label is a host
of such a site (:class:`ScopedMetrics`); national-only series (no site and no
host label: run counts by kind, alert counts, notification counts, request
latency) are left out whole. A ministry-level user or token, and an anonymous
scrape from loopback (the local Prometheus, as before), get everything.
A new metric is therefore hidden from scoped callers until it carries a site
or host label: the filter fails closed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from controlplane.store.models import Run
from controlplane.web.policy import Scope, current_scope, requires
from controlplane.web.state import state

if TYPE_CHECKING:
    from controlplane.store import Store

bp = Blueprint("metrics", __name__)
METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


class RunCountsCollector(Collector):
    """Collects the number of runs per kind and status from the store at scrape time."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("egov_runs", "Runs in the store by kind and status.", labels=["kind", "status"])
        with self.store.session() as session:
            rows = session.execute(select(Run.kind, Run.status, func.count()).group_by(Run.kind, Run.status))
            for kind, status, count in rows:
                family.add_metric([kind, status], float(count))
        yield family


class ScopedMetrics(Collector):
    """A registry view with only the samples a scope covers (see the module docstring)."""

    def __init__(self, registry: CollectorRegistry, scope: Scope, host_sites: dict[str, str]) -> None:
        self.registry, self.scope, self.host_sites = registry, scope, host_sites

    def covers(self, labels: dict[str, str]) -> bool:
        """True when a sample's site (or its host's site) lies in the scope."""
        site = labels.get("site") or self.host_sites.get(labels.get("host", ""))
        return bool(site) and self.scope.allows(site)

    def describe(self) -> list[Metric]:
        """Nothing at registration (the view is made per request and never collides with a name)."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Yield each family with the covered samples only; a family left empty is dropped."""
        for family in self.registry.collect():
            kept = [sample for sample in family.samples if self.covers(sample.labels)]
            if kept:
                scoped = Metric(family.name, family.documentation, family.type, family.unit)
                scoped.samples = kept
                yield scoped


@bp.get("/metrics")
@requires("metrics.view", scoped=True, open_on_loopback=True)
def metrics() -> Response:
    """Return the metrics the caller's scope covers (all of them for the ministry level and loopback)."""
    registry: CollectorRegistry = current_app.extensions["egov.registry"]
    scope = current_scope()
    if scope.all_sites:
        text = generate_latest(registry)
    else:
        host_sites = {host.name: host.site for host in state().inventory.hosts}
        view = CollectorRegistry(auto_describe=False)
        view.register(ScopedMetrics(registry, scope, host_sites))
        text = generate_latest(view)
    return Response(text, mimetype="text/plain; version=0.0.4; charset=utf-8")


def init_app(app: Flask, registry: CollectorRegistry, store: Store) -> None:
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
