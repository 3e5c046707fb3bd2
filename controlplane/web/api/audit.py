"""API: the audit log and its verification."""

from __future__ import annotations

from typing import Any

from flask import jsonify

from controlplane import audit
from controlplane.web.api import bp
from controlplane.web.policy import requires
from controlplane.web.state import state
from controlplane.web.validation import query_int, query_text


def _record(row: Any) -> dict[str, Any]:
    import json

    return {
        "seq": row.seq,
        "at": row.at,
        "actor": row.actor,
        "action": row.action,
        "target": row.target,
        "outcome": row.outcome,
        "client": row.client,
        "details": json.loads(row.details or "{}"),
        "hash": row.hash,
    }


@bp.get("/audit")
@requires("audit.view")
def audit_list() -> Any:
    """Return audit records newest first (before, limit, actor, action prefix)."""
    before = query_int("before", 0, 0, 10**12) or None
    limit = query_int("limit", 100, 1, 1000)
    actor = query_text("actor")
    action = query_text("action", r"^[a-z0-9_.-]{1,64}$")
    rows = audit.list_records(state().store, limit=limit, before=before, actor=actor, action=action)
    return jsonify({"items": [_record(row) for row in rows]})


@bp.get("/audit/verify")
@requires("audit.view")
def audit_verify() -> Any:
    """Recompute the hash chain and report whether it is intact."""
    result = audit.verify(state().store)
    return jsonify(
        {
            "ok": result.ok,
            "count": result.count,
            "head": result.head,
            "bad_seq": result.bad_seq,
            "reason": result.reason,
        }
    )
