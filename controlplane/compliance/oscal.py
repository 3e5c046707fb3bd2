"""OSCAL 1.0.6 assessment-results document of one scan (a pure data builder).

Mapping, chosen so an auditor's OSCAL tooling sees the same story as the
HTML report:

* each scanned host is an ``inventory-item`` in the result's local
  definitions (asset-id = inventory name, site and roles as props);
* every control in force is listed in ``reviewed-controls``;
* every (host, control) result is an ``observation`` (method TEST, the host as
  subject, found and expected values as relevant evidence);
* every result except not_applicable is a ``finding`` whose target status is
  ``satisfied`` (pass) or ``not-satisfied`` (fail, error, waived: reason
  ``fail`` for a fail, ``other`` with remarks for an error or a waiver, whose
  justification, approver and expiry are stated). Not-applicable results are
  observations only: OSCAL has no "not applicable" finding state and calling
  them satisfied would overstate compliance.

UUIDs are version 5, derived from the scan id, host and control, so building
the document twice for one scan gives the same document.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from controlplane.compliance.catalog import Catalog
from controlplane.compliance.evaluate import HostContext, Result

OSCAL_VERSION = "1.0.6"
NS = "urn:egov:compliance"  # namespace of our own props (names outside OSCAL's core set)
_ROOT = uuid.uuid5(uuid.NAMESPACE_URL, "urn:egov:compliance:oscal")


def _uuid(*parts: str) -> str:
    """A stable version-5 UUID for a path of names."""
    return str(uuid.uuid5(_ROOT, "/".join(parts)))


def _time(moment: datetime) -> str:
    """RFC 3339 with a time zone (OSCAL's DateTimeWithTimezone)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.isoformat(timespec="seconds")


def _prop(name: str, value: str, ours: bool = True) -> dict[str, str]:
    prop = {"name": name, "value": value}
    if ours:
        prop["ns"] = NS
    return prop


def _text(value: str, fallback: str) -> str:
    """A non-empty value without surrounding blanks (OSCAL's StringDatatype)."""
    return value.strip() or fallback


def _inventory_item(host: HostContext, scan_id: str) -> dict[str, Any]:
    props = [_prop("asset-id", host.name, ours=False)]
    if host.site:
        props.append(_prop("site", host.site))
    props += [_prop("role", role) for role in host.roles]
    return {
        "uuid": _uuid(scan_id, "host", host.name),
        "description": f"Host {host.name}" + (f" of site {host.site}" if host.site else ""),
        "props": props,
    }


def _reference_props(references: dict[str, Any]) -> list[dict[str, str]]:
    props = []
    if "cis" in references:
        cis = references["cis"]
        props.append(_prop("cis-debian12", f"{cis.get('id', '-')} ({cis['version']}): {cis['title']}"))
    props += [_prop("mlps", f"{ref['clause']} {ref['title']}") for ref in references["mlps"]]
    props += [_prop("nist-800-53", control_id) for control_id in references["nist"]]
    return props


def _observation(result: Result, title: str, scan_id: str, collected: str) -> dict[str, Any]:
    evidence = f"found: {result.found or '(nothing)'}; expected: {result.expected or '(see control)'}"
    if result.message:
        evidence += f"; note: {result.message}"
    return {
        "uuid": _uuid(scan_id, "observation", result.host, result.control_id),
        "title": f"{result.control_id} on {result.host}",
        "description": _text(f"{title}: {result.status}", result.control_id),
        "props": [_prop("status", result.status), _prop("severity", result.severity)],
        "methods": ["TEST"],
        "subjects": [{"subject-uuid": _uuid(scan_id, "host", result.host), "type": "inventory-item"}],
        "relevant-evidence": [{"description": evidence}],
        "collected": collected,
    }


def _finding(result: Result, title: str, references: dict[str, Any], scan_id: str) -> dict[str, Any]:
    status: dict[str, Any]
    if result.status == "pass":
        status = {"state": "satisfied", "reason": "pass"}
    elif result.status == "fail":
        status = {"state": "not-satisfied", "reason": "fail"}
    elif result.status == "waived":
        waiver = result.waiver or {}
        remarks = (
            f"failed ({result.found}); waived until {waiver.get('expires')} by {waiver.get('approver')}: "
            f"{waiver.get('justification')}"
        )
        status = {"state": "not-satisfied", "reason": "other", "remarks": remarks}
    else:  # error: we could not show that the control holds
        status = {"state": "not-satisfied", "reason": "other", "remarks": _text(f"error: {result.message}", "error")}
    fix = result.remediation
    return {
        "uuid": _uuid(scan_id, "finding", result.host, result.control_id),
        "title": f"{result.control_id} on {result.host}",
        "description": title,
        "props": [
            _prop("status", result.status),
            _prop("severity", result.severity),
            _prop("host", result.host),
            _prop("remediation", f"{fix.get('playbook', 'harden')} role {fix.get('role')} tag {fix.get('tag')}"),
            *_reference_props(references),
        ],
        "target": {"type": "objective-id", "target-id": result.control_id, "status": status},
        "related-observations": [{"observation-uuid": _uuid(scan_id, "observation", result.host, result.control_id)}],
    }


def assessment_results(
    results: Iterable[Result],
    catalog: Catalog,
    hosts: Iterable[HostContext],
    *,
    scan_id: str,
    started: datetime,
    finished: datetime,
    scope: str,
) -> dict[str, Any]:
    """Build the OSCAL assessment-results document of one scan.

    Every UUID is derived from ``scan_id``, so exporting the same scan twice
    gives the same document. Not-applicable results are observations but
    not findings. Raises nothing: unknown control ids are reported with
    their id as the title.
    """
    result_list = list(results)
    host_list = list(hosts)
    end = _time(finished)
    observations, findings = [], []
    for result in result_list:
        control = catalog.get(result.control_id)
        title = control.title_en if control else result.control_id
        observations.append(_observation(result, title, scan_id, end))
        if result.status != "not_applicable":
            references = control.references if control else {"mlps": [], "nist": []}
            findings.append(_finding(result, title, references, scan_id))
    scan_result: dict[str, Any] = {
        "uuid": _uuid(scan_id, "result"),
        "title": f"Compliance scan {scan_id}",
        "description": f"Agentless scan of {len(host_list)} host(s) against the EduGov baseline; scope: {scope}.",
        "start": _time(started),
        "end": end,
        "props": [_prop("catalog-version", catalog.version), _prop("scope", _text(scope, "all"))],
        "reviewed-controls": {
            "control-selections": [{"include-controls": [{"control-id": control.id} for control in catalog]}]
        },
    }
    if host_list:
        scan_result["local-definitions"] = {"inventory-items": [_inventory_item(h, scan_id) for h in host_list]}
    if observations:
        scan_result["observations"] = observations
    if findings:
        scan_result["findings"] = findings
    return {
        "assessment-results": {
            "uuid": _uuid(scan_id, "document"),
            "metadata": {
                "title": f"EduGov compliance assessment results ({scope})",
                "last-modified": end,
                "version": catalog.version,
                "oscal-version": OSCAL_VERSION,
                "props": [_prop("catalog-version", catalog.version)],
            },
            "import-ap": {"href": f"urn:egov:assessment-plan:{catalog.version}"},
            "results": [scan_result],
        }
    }
