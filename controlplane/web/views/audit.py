"""The audit log: newest records first, filters, and whether the hash chain verifies."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from controlplane import audit
from controlplane.web.policy import requires
from controlplane.web.state import state
from controlplane.web.validation import query_int, query_text

bp = Blueprint("audit", __name__)
PER_PAGE = 50


@bp.get("/audit")
@requires("audit.view")
def index() -> Any:
    """List audit records (security officer, auditor, admin) with the chain's verification."""
    before = query_int("before", 0, 0, 10**12) or None
    actor = query_text("actor")
    action = query_text("action", r"^[a-z0-9_.-]{1,64}$")
    records = audit.list_records(state().store, limit=PER_PAGE, before=before, actor=actor, action=action)
    verification = audit.verify(state().store)
    older = records[-1].seq if len(records) == PER_PAGE else None
    return render_template(
        "audit.html", records=records, verification=verification, actor=actor, action=action, older=older
    )
