"""The audit log: newest records first, filters, and whether the chain verifies, within the user's sites.

Scope (decided in issue 12 item 5): a site-scoped auditor or security
officer sees only records whose site lies in their scope; ministry-level
records (site None: logins, secrets, users of several sites, the chain's own
checkpoints) only ministry-level users see. The chain's verdict is shown to
everyone who may read the log, through :func:`controlplane.audit.for_sites`
for a scoped user: whether it holds, never the content, number or position of
another site's records.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from flask import Blueprint, current_app, render_template
from sqlalchemy import func, select

from controlplane import audit
from controlplane.store.models import AuditRecord
from controlplane.web.cache import ViewCache
from controlplane.web.policy import current_scope, requires
from controlplane.web.state import state
from controlplane.web.validation import query_int, query_text

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

bp = Blueprint("audit", __name__)
PER_PAGE = 50
# Verifying the whole chain reads every record (0.8 s at 100,000): each page view would pay it. A result
# is kept while no record is added, at most this long, so an edit of an old record shows within it.
VERIFY_EVERY_SECONDS = 60.0


def _verification() -> tuple[audit.Verification, dt.datetime]:
    """Return the chain's verification and when it ran (kept per newest record, at most VERIFY_EVERY_SECONDS)."""
    cache = current_app.extensions.get("egov_audit_verify")
    if cache is None:
        seconds = float(current_app.config.get("EGOV_AUDIT_VERIFY_SECONDS", VERIFY_EVERY_SECONDS))
        cache = current_app.extensions.setdefault("egov_audit_verify", ViewCache(ttl=seconds, max_entries=4))
    store = state().store
    with store.session() as db:
        newest = db.scalar(select(func.max(AuditRecord.seq))) or 0
    # The archives are not reread every minute: their prefix is trusted through its keyed voucher here, and
    # read in full by `egov audit verify` and /api/v1/audit/verify.
    return cache.get_or_compute(
        ("chain", newest), lambda: (audit.verify(store, read_archives=False), dt.datetime.now(dt.UTC))
    )


def scoped_verification() -> tuple[audit.Verification, dt.datetime]:
    """The verification as the current user may see it (see the module docstring), and when it ran."""
    verification, verified_at = _verification()
    scope = current_scope()
    if not scope.all_sites:
        verification = audit.for_sites(verification, state().store, scope.sites)
    return verification, verified_at


@bp.get("/audit")
@requires("audit.view", scoped=True)
def index() -> ResponseReturnValue:
    """List the audit records of the user's sites (security officer, auditor, admin) with the chain's verdict."""
    before = query_int("before", 0, 0, 10**12) or None
    actor = query_text("actor")
    action = query_text("action", r"^[a-z0-9_.-]{1,64}$")
    scope = current_scope()
    records = audit.list_records(
        state().store,
        limit=PER_PAGE,
        before=before,
        actor=actor,
        action=action,
        sites=None if scope.all_sites else scope.sites,
    )
    verification, verified_at = scoped_verification()
    older = records[-1].seq if len(records) == PER_PAGE else None
    return render_template(
        "audit.html",
        records=records,
        verification=verification,
        verified_at=verified_at,
        scoped=not scope.all_sites,
        actor=actor,
        action=action,
        older=older,
    )
