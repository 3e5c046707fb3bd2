"""Second-person approval of critical runbooks.

A runbook declaring ``approvals_required=2`` runs for real only after another
person approved that runbook with the same parameters (``egov runbook
approve``; the console later). The approval is bound to the parameters by a
hash, expires, and is consumed by the one run that uses it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update

from controlplane.audit import canonical_json
from controlplane.errors import BadInputError
from controlplane.runbook.models import RunbookApproval
from controlplane.store.models import utcnow

DEFAULT_TTL = dt.timedelta(hours=1)


def params_hash(runbook: str, params: Mapping[str, Any]) -> str:
    """Return the SHA-256 of a runbook name and its resolved parameters (canonical JSON)."""
    return hashlib.sha256(canonical_json({"runbook": runbook, "params": dict(params)}).encode("utf-8")).hexdigest()


def approve(
    store: Any,
    *,
    runbook: str,
    params: Mapping[str, Any],
    approver: str,
    reason: str = "",
    ttl: dt.timedelta = DEFAULT_TTL,
) -> int:
    """Record an approval and return its id."""
    now = utcnow()
    with store.session() as session:
        approval = RunbookApproval(
            runbook=runbook,
            params_hash=params_hash(runbook, params),
            approver=approver,
            reason=reason,
            created_at=now,
            expires_at=now + ttl,
        )
        session.add(approval)
        session.flush()
        return approval.id


def consume(session: Any, *, runbook: str, params: Mapping[str, Any], runner: str, run_id: int) -> RunbookApproval:
    """Use an unexpired approval by someone other than ``runner`` for this run.

    Raises BadInputError when there is none (the message says how to get one).
    """
    candidates = session.scalars(
        select(RunbookApproval)
        .where(
            RunbookApproval.runbook == runbook,
            RunbookApproval.params_hash == params_hash(runbook, params),
            RunbookApproval.used_by_run_id.is_(None),
            RunbookApproval.expires_at > utcnow(),
            RunbookApproval.approver != runner,
        )
        .order_by(RunbookApproval.id)
    ).all()
    if not candidates:
        raise BadInputError(
            f"runbook {runbook} needs a second approver: another person runs "
            f"`egov runbook approve {runbook}` with the same parameters first"
        )
    for approval in candidates:
        # A conditional UPDATE: two runs racing for one approval cannot both use it.
        taken = session.execute(
            update(RunbookApproval)
            .where(RunbookApproval.id == approval.id, RunbookApproval.used_by_run_id.is_(None))
            .values(used_by_run_id=run_id)
        )
        if taken.rowcount == 1:  # type: ignore[attr-defined]
            session.flush()
            return session.get(RunbookApproval, approval.id, populate_existing=True)  # type: ignore[no-any-return]
    raise BadInputError(f"runbook {runbook}: its approval was just used by another run")
