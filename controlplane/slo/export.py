"""``egov export slo``: the objectives as OpenSLO v1 documents and as Prometheus recording and alerting rules.

A site that runs Prometheus (scraping the console's ``/metrics``, see
``egov export prometheus``) gets the same numbers there:

* ``egov:slo_slice_good:min{slo, site}`` is 1 when every check of the
  service passed (``max`` for ``require: any``), evaluated once per slice
  (the rule group's ``interval`` is the service's slice), absent when no
  check was probed — unknown, as here;
* ``egov:slo_error_ratio:rate<W>`` is 1 - the mean of those slices over
  each window W the burn-rate pairs use;
* ``ErrorBudgetBurn`` fires when both windows of a pair burn at least its
  factor times the budget (the same labels ``slo``, ``window``, ``severity``).

Maintenance windows live in the control plane's store, so Prometheus
cannot leave them out: there they are what its own silences are.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from controlplane.monitoring.export import prometheus_template, promql_value
from controlplane.monitoring.labels import format_duration
from controlplane.monitoring.metrics import metric_name
from controlplane.slo.burn import ALERT, SUMMARY
from controlplane.slo.spec import Service, SloSpec

OPENSLO_FILE = "openslo.yaml"
RULES_FILE = "egov-slo-rules.yml"
GOOD = "egov:slo_slice_good:min"


def ratio_name(window: float) -> str:
    """The recording rule of the error ratio over a window (``egov:slo_error_ratio:rate1h``)."""
    return f"egov:slo_error_ratio:rate{format_duration(window)}"


def slice_expr(service: Service) -> str:
    """PromQL: 1 when the service's checks passed now (min for all, max for any)."""
    selectors = [
        f"{metric_name('probe_success')}{{check={json.dumps(probe)},host={json.dumps(host)}}}"
        for probe, host in service.checks
    ]
    joined = " or ".join(selectors)
    return f"{'max' if service.require == 'any' else 'min'}({joined})"


def rules_document(slo: SloSpec) -> dict[str, Any]:
    """The Prometheus rules file as data: one group per service, evaluated once per slice."""
    groups = []
    for service in slo.services:
        selector = f"{{slo={json.dumps(service.name)}}}"
        labels = {"slo": service.name, "site": service.site}
        rules: list[dict[str, Any]] = [{"record": GOOD, "expr": slice_expr(service), "labels": labels}]
        windows = sorted({w for rate in service.burn_rates for w in (rate.long, rate.short)})
        for window in windows:
            rules.append({
                "record": ratio_name(window),
                "expr": f"1 - avg_over_time({GOOD}{selector}[{format_duration(window)}])",
                "labels": {"slo": service.name},
            })  # fmt: skip
        for rate in service.burn_rates:
            limit = promql_value(round(rate.factor * service.budget_fraction, 10))
            expr = (f"{ratio_name(rate.long)}{selector} >= {limit} and "
                    f"{ratio_name(rate.short)}{selector} >= {limit}")  # fmt: skip
            rules.append({
                "alert": ALERT,
                "expr": expr,
                "labels": {"severity": rate.severity, "window": rate.label, "slo": service.name},
                "annotations": {"summary": prometheus_template(SUMMARY.replace("{value}x", f"{rate.factor:g}x"))},
            })  # fmt: skip
        groups.append({"name": f"egov-slo-{service.name}", "interval": f"{service.slice_seconds}s", "rules": rules})
    return {"groups": groups}


def openslo_documents(slo: SloSpec) -> list[dict[str, Any]]:
    """OpenSLO v1 Service, SLO and AlertPolicy documents for every objective."""
    documents: list[dict[str, Any]] = []
    for service in slo.services:
        documents.append({
            "apiVersion": "openslo/v1",
            "kind": "Service",
            "metadata": {"name": service.name, "displayName": service.title("en")},
            "spec": {"description": service.description or service.title("zh")},
        })  # fmt: skip
        if service.rolling_days:
            window = {"duration": f"{service.rolling_days}d", "isRolling": True}
        else:
            window = {"duration": "1M", "isRolling": False,
                      "calendar": {"startTime": "2026-01-01 00:00:00", "timeZone": slo.timezone}}  # fmt: skip
        query = {"metricSource": {"type": "Prometheus", "spec": {"query": f'{GOOD}{{slo="{service.name}"}}'}}}
        documents.append({
            "apiVersion": "openslo/v1",
            "kind": "SLO",
            "metadata": {"name": service.name, "displayName": service.title("en")},
            "spec": {
                "description": f"{service.title('zh')} ({service.site})",
                "service": service.name,
                "indicator": {
                    "metadata": {"name": f"{service.name}-slices"},
                    "spec": {"ratioMetric": {"counter": False, "rawType": "success", "raw": query}},
                },
                "timeWindow": [window],
                "budgetingMethod": "Timeslices",
                "objectives": [{
                    "displayName": f"{service.objective * 100:g} % of {service.slice_seconds} s slices good",
                    "target": round(service.objective, 6),
                    "timeSliceTarget": 1,
                    "timeSliceWindow": f"{service.slice_seconds}s",
                }],
                "alertPolicies": [f"{service.name}-burn-rate"] if service.burn_rates else [],
            },
        })  # fmt: skip
        if service.burn_rates:
            documents.append({
                "apiVersion": "openslo/v1",
                "kind": "AlertPolicy",
                "metadata": {"name": f"{service.name}-burn-rate"},
                "spec": {
                    "alertWhenBreaching": True,
                    "conditions": [{"kind": "AlertCondition", "metadata": {"name": f"{service.name}-{index}"},
                                    "spec": {"severity": rate.severity,
                                             "condition": {"kind": "burnrate", "op": "gte", "threshold": rate.factor,
                                                           "lookbackWindow": format_duration(rate.long),
                                                           "alertAfter": format_duration(rate.short)}}}
                                   for index, rate in enumerate(service.burn_rates)],
                    "notificationTargets": [],
                },
            })  # fmt: skip
    return documents


def export_slo(slo: SloSpec, folder: Path) -> list[Path]:
    """Write openslo.yaml and egov-slo-rules.yml into ``folder``; return the paths written."""
    folder.mkdir(parents=True, exist_ok=True)
    header = "# Generated by `egov export slo` from monitoring/slo.yml; edit that file instead.\n"
    openslo = folder / OPENSLO_FILE
    openslo.write_text(
        header + yaml.safe_dump_all(openslo_documents(slo), sort_keys=False, allow_unicode=True), encoding="utf-8"
    )
    rules = folder / RULES_FILE
    rules.write_text(
        header + yaml.safe_dump(rules_document(slo), sort_keys=False, allow_unicode=True), encoding="utf-8"
    )
    return [openslo, rules]
