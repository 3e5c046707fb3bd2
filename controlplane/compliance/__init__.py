"""Compliance: a mapped control catalog, one batched evidence collection per host, a pure evaluator.

The pieces, each in its own module:

* :mod:`.catalog` / :mod:`.schema` — the controls (shipped YAML plus a site's
  folder), validated with every problem reported at once.
* :mod:`.collector` — the single request and remote argv per host
  (:mod:`.collector_script` is the stdlib-only script run on the host).
* :mod:`.checks` / :mod:`.evaluate` — evidence to pass / fail / error /
  not_applicable, with found and expected values and the fix.
* :mod:`.waivers` — approved, expiring exceptions; :mod:`.scoring` — scores
  before and after waivers and the difference between two scans.
* :mod:`.scanner` — one scan: hosts collected in parallel, evaluated, waived.
* :mod:`.report` (JSON, with its published schema) and :mod:`.oscal`
  (OSCAL 1.0.6 assessment results) — report data builders.
"""

from controlplane.compliance.catalog import CATALOG_VERSION, Catalog, Control, load_catalog
from controlplane.compliance.collector import build_request, collect, collector_argv, parse_evidence
from controlplane.compliance.evaluate import HostContext, Result, evaluate_host
from controlplane.compliance.oscal import assessment_results
from controlplane.compliance.report import REPORT_SCHEMA, json_report
from controlplane.compliance.scanner import Scan, ScanTarget, scan
from controlplane.compliance.scoring import Score, by_host, by_severity, by_site, diff_scans, score
from controlplane.compliance.waivers import Waiver, apply_waivers, load_waivers

__all__ = [
    "CATALOG_VERSION",
    "REPORT_SCHEMA",
    "Catalog",
    "Control",
    "HostContext",
    "Result",
    "Scan",
    "ScanTarget",
    "Score",
    "Waiver",
    "apply_waivers",
    "assessment_results",
    "build_request",
    "by_host",
    "by_severity",
    "by_site",
    "collect",
    "collector_argv",
    "diff_scans",
    "evaluate_host",
    "json_report",
    "load_catalog",
    "load_waivers",
    "parse_evidence",
    "scan",
    "score",
]
