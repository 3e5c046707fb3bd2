"""Prometheus metrics of compliance, read from the store at scrape time (a custom collector).

Register it on the console's registry (the monitoring side does)::

    from controlplane.compliance.metrics import ComplianceCollector
    registry.register(ComplianceCollector(store))

Per site, from each host's newest scan (the same "current" state the console shows):

* ``egov_compliance_score_ratio{site}`` — share of applicable results held, waivers counted as held (0..1)
* ``egov_compliance_score_before_waivers_ratio{site}`` — the same, waived failures counted as failures
* ``egov_compliance_results{site,severity,status}`` — number of (host, control) results
* ``egov_compliance_hosts{site,assessed}`` — hosts whose newest scan could (true) or could not (false) assess them
* ``egov_compliance_last_scan_timestamp_seconds{site}`` — end of the newest scan that covered the site

Label sets are bounded: sites come from the inventory, severities and statuses are fixed lists.
A site with no applicable result exports no score (absent, not 0 or 1).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from controlplane.compliance.schema import SEVERITIES, STATUSES
from controlplane.compliance.scoring import by_site

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from controlplane.store import Store


class ComplianceCollector:
    """A prometheus_client custom collector over the compliance tables of a Store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def describe(self) -> list[Metric]:
        """No description at registration: describing would query the store (and it may not be migrated)."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Yield the metric families (empty families when nothing was scanned)."""
        from prometheus_client.core import GaugeMetricFamily

        from controlplane.compliance.history import current_results, host_facts, latest_scan_per_host

        score = GaugeMetricFamily(
            "egov_compliance_score_ratio",
            "Share of applicable controls held, waivers counted as held.",
            labels=["site"],
        )
        before = GaugeMetricFamily(
            "egov_compliance_score_before_waivers_ratio",
            "Share of applicable controls held, waived failures counted as failures.",
            labels=["site"],
        )
        results = GaugeMetricFamily(
            "egov_compliance_results", "Compliance results by site, severity and status.",
            labels=["site", "severity", "status"],
        )  # fmt: skip
        hosts = GaugeMetricFamily(
            "egov_compliance_hosts", "Hosts by whether their newest scan assessed them.", labels=["site", "assessed"]
        )
        last = GaugeMetricFamily(
            "egov_compliance_last_scan_timestamp_seconds", "End of the newest scan covering the site.", labels=["site"]
        )
        with self.store.session() as session:
            latest = latest_scan_per_host(session)
            current = current_results(session)
            facts = host_facts(session, latest) if latest else {}
        for site, value in by_site(current).items():
            if value.applicable:
                score.add_metric([site], (value.passed + value.waived) / value.applicable)
                before.add_metric([site], value.passed / value.applicable)
        counts: dict[tuple[str, str, str], int] = {}
        for result in current:
            key = (result.site, result.severity, result.status)
            counts[key] = counts.get(key, 0) + 1
        sites = sorted({result.site for result in current} | {f.get("site", "") for f in facts.values()})
        for site in sites:
            for severity in SEVERITIES:
                for status in STATUSES:
                    results.add_metric([site, severity, status], counts.get((site, severity, status), 0))
        host_counts: dict[tuple[str, str], int] = {}
        newest: dict[str, float] = {}
        for fact in facts.values():
            site = fact.get("site", "")
            key = (site, "true" if fact.get("reachable", True) else "false")
            host_counts[key] = host_counts.get(key, 0) + 1
            newest[site] = max(newest.get(site, 0.0), fact["finished_at"].timestamp())
        for site in sites:
            for assessed in ("true", "false"):
                hosts.add_metric([site, assessed], host_counts.get((site, assessed), 0))
            if site in newest:
                last.add_metric([site], newest[site])
        yield from (score, before, results, hosts, last)
