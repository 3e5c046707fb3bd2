"""API: compliance scores (per site and host), one host's current results, the waivers in the user's scope."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flask import jsonify

from controlplane.web import queries
from controlplane.web.api import bp
from controlplane.web.api.docs import operation, path_param
from controlplane.web.policy import current_scope, requires
from controlplane.web.state import state

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue


@bp.get("/compliance/scores")
@requires("compliance.view", scoped=True)
def compliance_scores() -> ResponseReturnValue:
    """Current scores per site and per host (each host's newest scan), before and after waivers."""
    from controlplane.web.views.compliance import matrix_data

    hosts = queries.visible_hosts(state().inventory, current_scope())
    data = matrix_data(hosts)
    return jsonify(
        {
            "sites": {name: value.to_dict() for name, value in data["by_site"].items()},
            "hosts": {
                name: {
                    **value.to_dict(),
                    "scan_id": data["facts"].get(name, {}).get("scan_id"),
                    "assessed": data["facts"].get(name, {}).get("reachable", True),
                    "finished_at": _iso(data["facts"].get(name, {}).get("finished_at")),
                }
                for name, value in data["by_host"].items()
            },
        }
    )


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


@bp.get("/compliance/hosts/<name>")
@requires("compliance.view", scoped=True)
def compliance_host(name: str) -> ResponseReturnValue:
    """One host's current results with evidence and fix (an empty list before its first scan)."""
    from controlplane.web.views.compliance import matrix_data, scoped_host

    host = scoped_host(name)
    data = matrix_data([host])
    value = data["by_host"].get(host.name)
    facts = data["facts"].get(host.name, {})
    return jsonify(
        {
            "host": host.name,
            "site": host.site,
            "scan_id": facts.get("scan_id"),
            "finished_at": _iso(facts.get("finished_at")),
            "score": value.to_dict() if value else None,
            "results": [result.to_dict() for result in data["results"]],
        }
    )


@bp.get("/compliance/waivers")
@requires("compliance.view", scoped=True)
def compliance_waivers() -> ResponseReturnValue:
    """The waivers of the site's waiver file that lie inside the user's scope, with whether each is in force."""
    from controlplane.compliance.service import waiver_path
    from controlplane.compliance.waivers import load_waivers
    from controlplane.web.views.compliance import visible_waivers

    today = datetime.now(UTC).date()
    items = load_waivers(waiver_path(state().config))
    return jsonify(
        {
            "items": [
                {**waiver.to_dict(), "index": index, "active": waiver.active(today)}
                for index, waiver in visible_waivers(items)
            ]
        }
    )


# The OpenAPI part of this module (assembled by controlplane.web.openapi; see controlplane.web.api.docs).
# No component schemas: the answers reuse the compliance report's schema inline.
OPENAPI_SCHEMAS: dict[str, dict[str, Any]] = {}


def openapi_paths() -> dict[str, Any]:
    """The OpenAPI path items of the compliance API (assembled by controlplane.web.openapi)."""
    from controlplane.compliance.report import REPORT_SCHEMA

    score = REPORT_SCHEMA["properties"]["scores"]["properties"]["overall"]
    result = REPORT_SCHEMA["properties"]["results"]["items"]
    host_score = {**score, "properties": {**score["properties"], "scan_id": {"type": ["integer", "null"]},
                  "assessed": {"type": "boolean"}, "finished_at": {"type": ["string", "null"]}},
                  "additionalProperties": False}  # fmt: skip
    waiver = REPORT_SCHEMA["properties"]["waivers"]["properties"]["active"]["items"]
    return {
        "/api/v1/compliance/scores": {
            "get": operation(
                "Current compliance scores per site and per host (each host's newest scan)",
                {
                    "type": "object",
                    "required": ["sites", "hosts"],
                    "properties": {
                        "sites": {"type": "object", "additionalProperties": score},
                        "hosts": {"type": "object", "additionalProperties": host_score},
                    },
                },
                tag="compliance",
            )
        },
        "/api/v1/compliance/hosts/{name}": {
            "get": operation(
                "One host's current results with evidence and fix",
                {
                    "type": "object",
                    "required": ["host", "site", "results"],
                    "properties": {
                        "host": {"type": "string"},
                        "site": {"type": "string"},
                        "scan_id": {"type": ["integer", "null"]},
                        "finished_at": {"type": ["string", "null"]},
                        "score": {"oneOf": [{"type": "null"}, score]},
                        "results": {"type": "array", "items": result},
                    },
                },
                params=[path_param("name")],
                tag="compliance",
            )
        },
        "/api/v1/compliance/waivers": {
            "get": operation(
                "Waivers in the caller's scope (in force and expired)",
                {
                    "type": "object",
                    "required": ["items"],
                    "properties": {
                        "items": {
                            "type": "array",
                            "items": {
                                **waiver,
                                "required": [*waiver["required"], "index", "active"],
                                "properties": {
                                    **waiver["properties"],
                                    "index": {"type": "integer", "minimum": 0},
                                    "active": {"type": "boolean"},
                                },
                            },
                        }
                    },
                },
                tag="compliance",
            )
        },
    }
