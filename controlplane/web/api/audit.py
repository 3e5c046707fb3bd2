"""API: the audit log and its verification, within the caller's sites (see controlplane.web.views.audit)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from flask import jsonify

from controlplane import audit
from controlplane.web.api import bp
from controlplane.web.api.docs import list_of, operation, query_param, ref
from controlplane.web.policy import current_scope, requires
from controlplane.web.state import state
from controlplane.web.validation import query_int, query_text

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

    from controlplane.store.models import AuditRecord


def _record(row: AuditRecord) -> dict[str, Any]:
    return {
        "seq": row.seq,
        "at": row.at,
        "actor": row.actor,
        "action": row.action,
        "target": row.target,
        "outcome": row.outcome,
        "client": row.client,
        "site": row.site,
        "details": json.loads(row.details or "{}"),
        "hash": row.hash,
    }


@bp.get("/audit")
@requires("audit.view", scoped=True)
def audit_list() -> ResponseReturnValue:
    """Return the audit records of the caller's sites, newest first (before, limit, actor, action prefix)."""
    before = query_int("before", 0, 0, 10**12) or None
    limit = query_int("limit", 100, 1, 1000)
    actor = query_text("actor")
    action = query_text("action", r"^[a-z0-9_.-]{1,64}$")
    scope = current_scope()
    rows = audit.list_records(
        state().store,
        limit=limit,
        before=before,
        actor=actor,
        action=action,
        sites=None if scope.all_sites else scope.sites,
    )
    return jsonify({"items": [_record(row) for row in rows]})


@bp.get("/audit/verify")
@requires("audit.view", scoped=True)
def audit_verify() -> ResponseReturnValue:
    """Recompute the whole chain (archives, database, local anchors) and report it as the caller may see it."""
    result = audit.verify(state().store)
    scope = current_scope()
    if not scope.all_sites:
        result = audit.for_sites(result, state().store, scope.sites)
    return jsonify(result.as_dict())


# The OpenAPI part of this module (assembled by controlplane.web.openapi; see controlplane.web.api.docs).
OPENAPI_SCHEMAS: dict[str, dict[str, Any]] = {
    "AuditRecord": {
        "type": "object",
        "required": ["seq", "at", "actor", "action", "target", "outcome", "client", "hash"],
        "properties": {
            "seq": {"type": "integer"},
            "at": {"type": "string"},
            "actor": {"type": "string"},
            "action": {"type": "string"},
            "target": {"type": "string"},
            "outcome": {"type": "string"},
            "client": {"type": "string"},
            "details": {"type": "object"},
            "hash": {"type": "string"},
        },
    },
    "AuditVerification": {
        "type": "object",
        "required": ["ok", "count", "head"],
        "properties": {
            "ok": {"type": "boolean"},
            "count": {"type": "integer"},
            "head": {"type": "string"},
            "bad_seq": {"type": ["integer", "null"]},
            "reason": {"type": "string"},
        },
    },
}


def openapi_paths() -> dict[str, Any]:
    """The OpenAPI path items of this module: the audit records and the chain verification."""
    return {
        "/api/v1/audit": {
            "get": operation(
                "Audit records, newest first",
                list_of("AuditRecord"),
                params=[
                    query_param("before", {"type": "integer", "minimum": 0}, "only records before this seq"),
                    query_param("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "most records"),
                    query_param("actor", {"type": "string"}, "only this actor"),
                    query_param("action", {"type": "string"}, "only actions starting with this"),
                ],
                tag="audit",
            )
        },
        "/api/v1/audit/verify": {"get": operation("Verify the hash chain", ref("AuditVerification"), tag="audit")},
    }
