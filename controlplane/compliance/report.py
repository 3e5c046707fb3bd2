"""The JSON compliance report: one documented document per scan (a pure data builder).

:data:`REPORT_SCHEMA` is the published schema of ``egov report compliance
--format json``; the HTML, CSV and console views are meant to be rendered from
this same document, so they cannot disagree. It states the catalog version,
scan time and scope, scores (before and after waivers) per host, site,
severity and MLPS 2.0 category, every result with its evidence, fix and
references, the waivers in force and expired, and the change since the
previous scan when one is given.

A report restricted to some hosts (a site, or a reader's scope) shows only
the waivers that name one of its hosts or their sites, each reduced to those
hosts and sites, in the waiver lists and on every waived result alike
(:func:`waivers_for`, :func:`reduce_waiver`): no other site's host or site
name reaches it, and every waived result's waiver is one of the listed ones.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable
from datetime import date
from typing import Any

from controlplane.compliance.catalog import Catalog
from controlplane.compliance.evaluate import Result
from controlplane.compliance.scanner import Scan
from controlplane.compliance.schema import SEVERITIES, STATUSES
from controlplane.compliance.scoring import by_host, by_severity, by_site, diff_scans, score
from controlplane.compliance.waivers import Waiver

REPORT_FORMAT = 1

_PERCENT = {"type": ["number", "null"], "minimum": 0, "maximum": 100}
_SCORE = {
    "type": "object",
    "description": "Counts per status; percentages of applicable results held (null when none applies).",
    "required": ["passed", "failed", "errors", "waived", "not_applicable", "before_waivers", "after_waivers"],
    "additionalProperties": False,
    "properties": {
        "passed": {"type": "integer", "minimum": 0},
        "failed": {"type": "integer", "minimum": 0},
        "errors": {"type": "integer", "minimum": 0},
        "waived": {"type": "integer", "minimum": 0},
        "not_applicable": {"type": "integer", "minimum": 0},
        "before_waivers": _PERCENT,
        "after_waivers": _PERCENT,
    },
}
_SCORES = {"type": "object", "additionalProperties": _SCORE}
_PAIRS = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["host", "control"],
        "additionalProperties": False,
        "properties": {"host": {"type": "string"}, "control": {"type": "string"}},
    },
}
_WAIVER = {
    "type": "object",
    "required": ["control", "justification", "approver", "expires", "hosts", "sites", "source"],
    "additionalProperties": False,
    "properties": {
        "control": {"type": "string"},
        "justification": {"type": "string"},
        "approver": {"type": "string"},
        "expires": {"type": "string", "format": "date"},
        "hosts": {"type": "array", "items": {"type": "string"}},
        "sites": {"type": "array", "items": {"type": "string"}},
        "source": {"type": "string"},
    },
}

REPORT_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "EduGov compliance report",
    "type": "object",
    "additionalProperties": False,
    "required": ["format", "catalog_version", "scan", "scope", "scores", "controls", "results", "waivers", "diff"],
    "properties": {
        "format": {"const": REPORT_FORMAT, "description": "Version of this document's layout."},
        "catalog_version": {"type": "string", "description": "Baseline measured against (shipped + site digest)."},
        "scan": {
            "type": "object",
            "required": ["started", "finished", "hosts", "unreachable"],
            "additionalProperties": False,
            "properties": {
                "started": {"type": "string", "format": "date-time"},
                "finished": {"type": "string", "format": "date-time"},
                "hosts": {"type": "integer", "minimum": 0},
                "unreachable": {"type": "array", "items": {"type": "string"}},
            },
        },
        "scope": {"type": "string", "description": "What was scanned, e.g. 'all sites' or 'site school-gd-1'."},
        "scores": {
            "type": "object",
            "required": ["overall", "by_host", "by_site", "by_severity", "by_mlps"],
            "additionalProperties": False,
            "properties": {
                "overall": _SCORE,
                "by_host": _SCORES,
                "by_site": _SCORES,
                "by_severity": _SCORES,
                "by_mlps": {**_SCORES, "description": "Per MLPS 2.0 category (安全计算环境—身份鉴别 ...)."},
            },
        },
        "controls": {
            "type": "object",
            "description": "The controls in force, by id.",
            "additionalProperties": {
                "type": "object",
                "required": ["title_en", "title_zh", "severity", "remediation", "references"],
                "properties": {
                    "title_en": {"type": "string"},
                    "title_zh": {"type": "string"},
                    "severity": {"enum": list(SEVERITIES)},
                    "remediation": {"type": "object"},
                    "references": {"type": "object"},
                },
            },
        },
        "results": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["control_id", "host", "site", "severity", "status", "found", "expected", "message"],
                "properties": {
                    "control_id": {"type": "string"},
                    "host": {"type": "string"},
                    "site": {"type": "string"},
                    "severity": {"enum": list(SEVERITIES)},
                    "status": {"enum": list(STATUSES)},
                    "found": {"type": "string"},
                    "expected": {"type": "string"},
                    "message": {"type": "string"},
                    "remediation": {"type": "object"},
                    "waiver": {"oneOf": [{"type": "null"}, _WAIVER]},
                    "original_status": {"enum": [None, "fail"]},
                },
            },
        },
        "waivers": {
            "type": "object",
            "required": ["active", "expired"],
            "additionalProperties": False,
            "properties": {
                "active": {"type": "array", "items": _WAIVER},
                "expired": {"type": "array", "items": _WAIVER},
            },
        },
        "diff": {
            "description": "Change since the previous scan; null for a first scan.",
            "oneOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "required": ["new_failures", "fixed", "new_errors", "still_failing"],
                    "additionalProperties": False,
                    "properties": {
                        "new_failures": _PAIRS,
                        "fixed": _PAIRS,
                        "new_errors": _PAIRS,
                        "still_failing": _PAIRS,
                    },
                },
            ],
        },
    },
}


def reduce_waiver(waiver: dict[str, Any], hosts: Collection[str], sites: Collection[str]) -> dict[str, Any]:
    """A waiver (as a dict) naming only those of its hosts and sites that lie in ``hosts`` and ``sites``."""
    return {
        **waiver,
        "hosts": [name for name in waiver.get("hosts") or [] if name in hosts],
        "sites": [name for name in waiver.get("sites") or [] if name in sites],
    }


def waivers_for(waivers: Iterable[Waiver], hosts: Collection[str], sites: Collection[str]) -> list[Waiver]:
    """The waivers naming one of ``hosts`` or ``sites``, each reduced to those hosts and sites (file order)."""
    kept = []
    for waiver in waivers:
        own_hosts = tuple(name for name in waiver.hosts if name in hosts)
        own_sites = tuple(name for name in waiver.sites if name in sites)
        if own_hosts or own_sites:
            kept.append(dataclasses.replace(waiver, hosts=own_hosts, sites=own_sites))
    return kept


def restrict_results(results: Iterable[Result], hosts: Collection[str], sites: Collection[str]) -> list[Result]:
    """Results whose waiver (if any) names only ``hosts`` and ``sites`` (see :func:`reduce_waiver`)."""
    return [
        dataclasses.replace(result, waiver=reduce_waiver(result.waiver, hosts, sites)) if result.waiver else result
        for result in results
    ]


def _scores(groups: dict[str, Any]) -> dict[str, Any]:
    return {name: value.to_dict() for name, value in groups.items()}


def by_mlps(results: Iterable[Result], catalog: Catalog) -> dict[str, Any]:
    """Scores per MLPS 2.0 category; a control mapped to two categories counts in both."""
    pairs = []
    for result in results:
        control = catalog.get(result.control_id)
        titles = dict.fromkeys(control.mlps_titles) if control else {}
        pairs += [(title, result) for title in titles]
    grouped: dict[str, list[Result]] = {}
    for title, result in pairs:
        grouped.setdefault(title, []).append(result)
    return {title: score(grouped[title]) for title in sorted(grouped)}


def json_report(
    scan: Scan,
    catalog: Catalog,
    waivers: Iterable[Waiver] = (),
    previous: Iterable[Result] | None = None,
    scope: str = "all sites",
) -> dict[str, Any]:
    """Build the JSON report of a scan (valid against :data:`REPORT_SCHEMA`).

    ``previous`` is None for a first scan (no change section to compare).
    Waivers are split into active and expired on the scan's day, not
    today, so an old report reads as it did then.
    """
    results = scan.results
    today: date = scan.started.date()
    waiver_list = list(waivers)
    return {
        "format": REPORT_FORMAT,
        "catalog_version": scan.catalog_version,
        "scan": {
            "started": scan.started.isoformat(),
            "finished": scan.finished.isoformat(),
            "hosts": len(scan.hosts),
            "unreachable": [host.host.name for host in scan.hosts if not host.reachable],
        },
        "scope": scope,
        "scores": {
            "overall": score(results).to_dict(),
            "by_host": _scores(by_host(results)),
            "by_site": _scores(by_site(results)),
            "by_severity": _scores(by_severity(results)),
            "by_mlps": _scores(by_mlps(results, catalog)),
        },
        "controls": {
            control.id: {
                "title_en": control.title_en,
                "title_zh": control.title_zh,
                "severity": control.severity,
                "remediation": control.remediation,
                "references": control.references,
            }
            for control in catalog
        },
        "results": [result.to_dict() for result in results],
        "waivers": {
            "active": [w.to_dict() for w in waiver_list if w.active(today)],
            "expired": [w.to_dict() for w in waiver_list if not w.active(today)],
        },
        "diff": diff_scans(previous, results).to_dict() if previous is not None else None,
    }
