"""API: sites, hosts, the dashboard, and the OpenAPI document."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import jsonify

from controlplane.errors import BadInputError
from controlplane.web import queries
from controlplane.web.api import bp
from controlplane.web.api.docs import list_of, operation, path_param, ref
from controlplane.web.errors import ApiError
from controlplane.web.policy import ANONYMOUS, current_scope, require_site, requires
from controlplane.web.state import state

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue


@bp.get("/openapi.json")
@requires(ANONYMOUS)
def openapi() -> ResponseReturnValue:
    """Return the OpenAPI 3 document of this API."""
    from controlplane.web.openapi import document

    return jsonify(document())


@bp.get("/dashboard")
@requires("dashboard.view", scoped=True)
def dashboard() -> ResponseReturnValue:
    """Return sites with their hosts' latest runs, and run counts, within the caller's scope."""
    scope = current_scope()
    with state().store.session() as db:
        return jsonify(queries.dashboard(db, state().inventory, scope))


@bp.get("/sites")
@requires("sites.view", scoped=True)
def sites() -> ResponseReturnValue:
    """Return the sites in the caller's scope, parents first."""
    inventory = state().inventory
    names = queries.visible_sites(inventory, current_scope())
    return jsonify({"items": [queries.site_dict(inventory, name) for name in names]})


@bp.get("/hosts")
@requires("hosts.view", scoped=True)
def hosts() -> ResponseReturnValue:
    """Return the hosts in the caller's scope with their latest run."""
    scope = current_scope()
    inventory = state().inventory
    visible = queries.visible_hosts(inventory, scope)
    with state().store.session() as db:
        latest = queries.latest_runs(db, scope, visible)
    items = [
        {**queries.host_dict(h), "last_run": latest[h.name].as_dict() if h.name in latest else None} for h in visible
    ]
    return jsonify({"items": items})


@bp.get("/hosts/<name>")
@requires("hosts.view", scoped=True)
def host(name: str) -> ResponseReturnValue:
    """Return one host and the runs that touched it."""
    try:
        found = state().inventory.host(name)
    except BadInputError:
        raise ApiError(404, "not_found", "no such host") from None
    require_site(found.site)
    with state().store.session() as db:
        runs = queries.runs_for_host(db, current_scope(), found)
    return jsonify({**queries.host_dict(found), "runs": [run.as_dict() for run in runs]})


# The OpenAPI part of this module (assembled by controlplane.web.openapi; see controlplane.web.api.docs).
OPENAPI_SCHEMAS: dict[str, dict[str, Any]] = {
    "Site": {
        "type": "object",
        "required": ["name", "level"],
        "properties": {
            "name": {"type": "string"},
            "level": {"type": "string"},
            "parent": {"type": ["string", "null"]},
            "title_zh": {"type": ["string", "null"]},
        },
    },
    "Host": {
        "type": "object",
        "required": ["name", "address", "site", "role", "groups"],
        "properties": {
            "name": {"type": "string"},
            "address": {"type": "string"},
            "site": {"type": "string"},
            "role": {"type": "string"},
            "groups": {"type": "array", "items": {"type": "string"}},
            "last_run": {"oneOf": [ref("Run"), {"type": "null"}]},
        },
    },
    "HostDetail": {
        "allOf": [
            ref("Host"),
            {"type": "object", "properties": {"runs": {"type": "array", "items": ref("Run")}}},
        ]
    },
    "Dashboard": {
        "type": "object",
        "required": ["sites", "counts"],
        "properties": {
            "sites": {
                "type": "array",
                "items": {
                    "allOf": [
                        ref("Site"),
                        {"type": "object", "properties": {"hosts": {"type": "array", "items": ref("Host")}}},
                    ]
                },
            },
            "counts": {
                "type": "object",
                "properties": {
                    "running": {"type": "integer"},
                    "failed": {"type": "integer"},
                    "by_status": {"type": "object", "additionalProperties": {"type": "integer"}},
                },
            },
        },
    },
}


def openapi_paths() -> dict[str, Any]:
    """The OpenAPI path items of this module: the document itself, the dashboard, sites and hosts."""
    return {
        "/api/v1/openapi.json": {
            "get": operation("This document", {"type": "object"}, tag="meta", public=True, errors=())
        },
        "/api/v1/dashboard": {
            "get": operation("Sites, hosts and their latest runs", ref("Dashboard"), tag="inventory")
        },
        "/api/v1/sites": {"get": operation("Sites in the caller's scope", list_of("Site"), tag="inventory")},
        "/api/v1/hosts": {"get": operation("Hosts in the caller's scope", list_of("Host"), tag="inventory")},
        "/api/v1/hosts/{name}": {
            "get": operation("One host and its runs", ref("HostDetail"), params=[path_param("name")], tag="inventory")
        },
    }
