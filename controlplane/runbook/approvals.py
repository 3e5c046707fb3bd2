"""Second-person approval of critical runbooks.

A runbook declaring ``approvals_required=2`` runs for real only after another
person approved that runbook with the same parameters (``egov runbook
approve``, or the console). The approval is bound to the parameters by a
hash, expires, and is consumed by the one run that uses it.

In the console, a real run of such a runbook is first a *request*
(:func:`request_run`) that waits for another person with the right role and
scope to approve or reject it (:func:`decide`); on approval the console
records the approval and starts the run as the requester.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from controlplane.audit import canonical_json
from controlplane.errors import BadInputError
from controlplane.runbook.models import RunbookApproval
from controlplane.store.models import Setting, utcnow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from controlplane.store import Store

DEFAULT_TTL = dt.timedelta(hours=1)


def params_hash(runbook: str, params: Mapping[str, Any]) -> str:
    """Return the SHA-256 of a runbook name and its resolved parameters (canonical JSON)."""
    return hashlib.sha256(canonical_json({"runbook": runbook, "params": dict(params)}).encode("utf-8")).hexdigest()


def approve(
    store: Store,
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


def consume(session: Session, *, runbook: str, params: Mapping[str, Any], runner: str, run_id: int) -> RunbookApproval:
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


# --------------------------------------------------------------------------- run requests (the console)
# A real run of a runbook that needs a second approver, asked for in the console, waits here until another
# person approves or rejects it. Requests are rows of the settings table (key ``runbook.request:<id>``, value
# JSON): no table of their own. A decision is a conditional UPDATE on the row's old value, so two people
# deciding at once cannot both win.
REQUEST_PREFIX = "runbook.request:"
REQUEST_TTL = dt.timedelta(hours=4)
PENDING, APPROVED, REJECTED, EXPIRED = "pending", "approved", "rejected", "expired"


class RequestConflict(BadInputError):
    """The request was already decided (or expired) when this decision arrived."""


def _load(row: Setting) -> dict[str, Any]:
    data = json.loads(row.value)
    data["id"] = row.key[len(REQUEST_PREFIX) :]
    expires = dt.datetime.fromisoformat(data["expires_at"])
    if data["status"] == PENDING and expires <= utcnow():
        data["status"] = EXPIRED
    return data


def request_run(
    store: Store,
    *,
    runbook: str,
    params: Mapping[str, Any],
    targets: list[str],
    requester: str,
    reason: str = "",
    ttl: dt.timedelta = REQUEST_TTL,
    hosts: list[str] | None = None,
) -> dict[str, Any]:
    """Record a real run waiting for a second approver; return the request (with its ``id``).

    ``hosts`` (default: the targets) decides who may see and decide the
    request. Requests live in the settings table, not a table of their own;
    one expires after ``ttl``.
    """
    now = utcnow()
    request_id = secrets.token_hex(6)
    data = {
        "runbook": runbook,
        "mode": "run",
        "params": dict(params),
        "targets": list(targets),
        "hosts": list(hosts if hosts is not None else targets),
        "requester": requester,
        "reason": reason,
        "status": PENDING,
        "requested_at": now.isoformat(),
        "expires_at": (now + ttl).isoformat(),
        "decided_by": None,
        "decided_at": None,
        "decision_reason": "",
        "run_id": None,
        "error": None,
    }
    with store.session() as session:
        session.add(Setting(key=REQUEST_PREFIX + request_id, value=json.dumps(data, default=str)))
    return {**data, "id": request_id}


def get_request(store: Store, request_id: str) -> dict[str, Any] | None:
    """The request of that id (status ``expired`` once past its time), or None."""
    if not re.fullmatch(r"[0-9a-f]{12}", request_id):
        return None
    with store.session() as session:
        row = session.get(Setting, REQUEST_PREFIX + request_id)
        return _load(row) if row is not None else None


def list_requests(store: Store, limit: int = 100) -> list[dict[str, Any]]:
    """Requests, pending first, then newest first (at most ``limit``)."""
    with store.session() as session:
        rows = session.scalars(select(Setting).where(Setting.key.startswith(REQUEST_PREFIX))).all()
        items = [_load(row) for row in rows]
    pending = sorted((r for r in items if r["status"] == PENDING), key=lambda r: r["requested_at"])
    done = sorted((r for r in items if r["status"] != PENDING), key=lambda r: r["requested_at"], reverse=True)
    return (pending + done)[:limit]


def decide(store: Store, request_id: str, *, decider: str, approve: bool, reason: str = "") -> dict[str, Any]:
    """Approve or reject a pending request as ``decider``; return the updated request.

    Raises BadInputError when the request does not exist or the decider is
    the requester (nobody approves their own run), RequestConflict when it is
    no longer pending (decided by someone else first, or expired).
    """
    with store.session() as session:
        row = session.get(Setting, REQUEST_PREFIX + request_id)
        if row is None:
            raise BadInputError(f"no run request {request_id}")
        data = _load(row)
        if data["requester"] == decider:
            raise BadInputError("a second approver must be another person than the one who asked for the run")
        if data["status"] != PENDING:
            raise RequestConflict(f"run request {request_id} is already {data['status']}")
        old = row.value
        stored = {k: v for k, v in data.items() if k != "id"}
        stored.update(
            status=APPROVED if approve else REJECTED,
            decided_by=decider,
            decided_at=utcnow().isoformat(),
            decision_reason=reason,
        )
        done = session.execute(
            update(Setting)
            .where(Setting.key == row.key, Setting.value == old)
            .values(value=json.dumps(stored, default=str))
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]
            raise RequestConflict(f"run request {request_id} was decided by someone else at the same moment")
    return {**stored, "id": request_id}


def record_start(store: Store, request_id: str, *, run_id: int | None = None, error: str | None = None) -> None:
    """Note on an approved request the run it started (or why it could not start)."""
    with store.session() as session:
        row = session.get(Setting, REQUEST_PREFIX + request_id)
        if row is None:
            return
        data = json.loads(row.value)
        data.update(run_id=run_id, error=error)
        row.value = json.dumps(data, default=str)
