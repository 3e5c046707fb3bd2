"""Run requests of critical runbooks (a second approver), shared by the console and the JSON API.

A real run of a runbook whose ``approvals_required`` is above 1 becomes a
request (:func:`ask_for_approval`) that another person holding
``runbooks.approve``, whose scope covers every host the request names
(targets and host parameters), approves or rejects (:func:`decide`). An
approval records a one-use engine approval and starts the run as the
requester (:func:`start_approved`); the engine's check runs for the
approver and again for the requester as they are now (a requester since
disabled or moved to another site no longer starts anything). The console pages
(controlplane.web.views.runbooks) and the API (controlplane.web.api.runbooks)
call these functions with their channel (``console`` or ``api``), which ends
up in the audit actor (``<user>@<channel>``). The storage and the
conditional decision (two deciders cannot both win) live in
controlplane.runbook.approvals.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import g

from controlplane.errors import BadInputError
from controlplane.runbook.scope import Caller, hosts_of_run
from controlplane.web.errors import ApiError
from controlplane.web.policy import current_scope, require_site
from controlplane.web.services.runbooks import (
    checked,
    load_definition,
    queue_and_dispatch,
    request_caller,
    target_sites,
)
from controlplane.web.state import state

if TYPE_CHECKING:
    from controlplane.runbook.definition import Runbook

MAX_REASON = 500


class DecisionRefused(BadInputError):
    """A decision that was refused (and audited): HTTP status and code for the API, message for everyone.

    ``status`` is 403 for one's own request, 404 when the request vanished,
    409 when it is no longer pending (decided by someone else, or expired).
    """

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def ask_for_approval(
    definition: Runbook, resolved: dict[str, Any], user: str, reason: str, channel: str = "console"
) -> dict[str, Any]:
    """Record a real run of ``definition`` waiting for a second approver; audit it; return the request.

    The parameters must already be checked for the requester
    (:func:`controlplane.web.services.runbooks.checked`); ``reason`` is cut
    to 500 characters. Returns the request dict with its ``id``.
    """
    from controlplane import audit
    from controlplane.runbook import approvals
    from controlplane.runbook.params import named_hosts, resolve_targets

    targets = resolve_targets(definition, resolved, state().inventory)
    made = approvals.request_run(
        state().store,
        runbook=definition.name,
        params=resolved,
        targets=targets,
        hosts=named_hosts(definition, resolved, targets),
        requester=user,
        reason=reason[:MAX_REASON],
    )
    audit.append(
        state().store,
        actor=f"{user}@{channel}",
        action="runbook.request",
        target=definition.name,
        outcome="pending",
        details={"request": made["id"], "targets": targets, "params": resolved},
        site=audit.common_site(_request_sites(made)),
    )
    return made


def _request_sites(item: dict[str, Any]) -> list[str | None]:
    """The sites of every host a run request names (its targets, hosts and host-valued parameters)."""
    return target_sites(hosts_of_run(item, state().inventory))


def visible_requests(limit: int = 100) -> list[dict[str, Any]]:
    """Run requests (pending first, then newest first) whose every named host lies in the current user's scope."""
    from controlplane.runbook.approvals import list_requests

    scope = current_scope()
    return [
        item
        for item in list_requests(state().store, limit=limit * 4)
        if all(scope.allows(site) for site in _request_sites(item))
    ][:limit]


def request_in_scope(request_id: str) -> dict[str, Any]:
    """The run request of that id.

    Raises ApiError 404 when there is none, aborts 403 when a target lies out
    of the current user's scope.
    """
    from controlplane.runbook.approvals import get_request
    from controlplane.web.errors import ApiError

    item = get_request(state().store, request_id[:64])
    if item is None:
        raise ApiError(404, "not_found", f"no run request {request_id[:64]}")
    for site in _request_sites(item):
        require_site(site)
    return item


def decide(request_id: str, *, approve: bool, reason: str, channel: str) -> dict[str, Any]:
    """Approve or reject a request as the current user, audited; return the decided request.

    The one place the console and the API decide (``channel`` names which in
    the actor); ``reason`` is cut to 500 characters. Raises ApiError 404 /
    aborts 403 as :func:`request_in_scope`;
    DecisionRefused (audited with outcome ``refused``) for one's own request
    (403) or a request no longer pending (409).
    """
    from controlplane import audit
    from controlplane.runbook import approvals

    item = request_in_scope(request_id)
    user = g.egov_user.name
    actor = f"{user}@{channel}"
    action = "runbook.approve" if approve else "runbook.reject"
    reason = reason[:MAX_REASON]
    try:
        decided = approvals.decide(state().store, item["id"], decider=user, approve=approve, reason=reason)
    except BadInputError as error:
        audit.append(state().store, actor=actor, action=action, target=item["runbook"], outcome="refused",
                     details={"request": item["id"], "reason": error.message},
                     site=audit.common_site(_request_sites(item)))  # fmt: skip
        if isinstance(error, approvals.RequestConflict):
            raise DecisionRefused(409, "already_decided", error.message) from None
        if item["requester"] == user:
            raise DecisionRefused(403, "own_request", error.message) from None
        raise DecisionRefused(404, "not_found", error.message) from None
    audit.append(
        state().store,
        actor=actor,
        action=action,
        target=item["runbook"],
        outcome=decided["status"],
        details={"request": item["id"], "requester": item["requester"], "params": item["params"], "reason": reason},
        site=audit.common_site(_request_sites(item)),
    )
    return decided


def start_approved(decided: dict[str, Any], channel: str) -> tuple[Runbook, int]:
    """Start the run of an approved request as its requester; return (the runbook, the run id).

    The engine's check runs for the approver, then (when the run is queued)
    for the requester as they are now. Records the engine approval
    (approver ``<current user>@<channel>``, bound to the resolved
    parameters) and notes the run id (or the error) on the request. Raises
    BadInputError or ApiError (the reason noted on the request) when the run
    could not start, e.g. the requester's account was disabled.
    """
    from controlplane.runbook import approvals

    approver = f"{g.egov_user.name}@{channel}"
    try:
        definition = load_definition(decided["runbook"])
        resolved = checked(definition, "run", decided["params"], decided["runbook"], request_caller())
        requester = requester_caller(decided["requester"])
        approvals.approve(state().store, runbook=definition.name, params=resolved, approver=approver)
        run_id = queue_and_dispatch(definition, "run", resolved, f"{decided['requester']}@{channel}", requester)
    except (BadInputError, ApiError) as error:
        approvals.record_start(state().store, decided["id"], error=error.message)
        raise
    approvals.record_start(state().store, decided["id"], run_id=run_id)
    return definition, run_id


def approve_and_start(
    request_id: str, reason: str, channel: str
) -> tuple[dict[str, Any], Runbook | None, int | None, str | None]:
    """Approve a request and start its run: (decided request, runbook, run id, why it did not start).

    The one approve path for the console and the API. Raises what
    :func:`decide` raises; a run that could not start after the approval is
    recorded is not an exception: its reason comes back as the fourth item.
    """
    decided = decide(request_id, approve=True, reason=reason, channel=channel)
    try:
        definition, run_id = start_approved(decided, channel)
    except (BadInputError, ApiError) as error:
        return decided, None, None, error.message
    return decided, definition, run_id, None


def requester_caller(name: str) -> Caller:
    """The engine's caller for the user who asked for a run, as their account is now.

    Raises BadInputError when the account no longer exists or is disabled.
    """
    from controlplane import users
    from controlplane.runbook.scope import caller_for_user

    with state().store.session() as db:
        user = users.get_user(db, name)
        if user is None or user.disabled:
            raise BadInputError(f"the requester {name!r} no longer has an enabled account")
        role, sites = user.role, list(user.sites or [])
    return caller_for_user(name, role, sites, state().inventory)
