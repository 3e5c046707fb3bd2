"""Runbooks for the console and the API: what a user sees, and starting a run, decided once.

A runbook run names hosts: its targets and every host its parameters name
(``host`` and ``hosts`` parameters; a dataset belongs to its ``of`` host). A
user may start a run only when every one of them lies in scope and the role
holds what the runbook needs (``runbooks.start``, and for a drill or a real
run the runbook's own ``permissions``, e.g. ``backup.restore``): the engine's
one check (:func:`controlplane.runbook.params.prepare`) decides, once, when
:func:`controlplane.runbook.engine.queue` creates the run (403 at once, no
run row). The run is then handed to the dispatcher, and the request answers
with its id while the journal fills. A user sees the runs (history,
journal, live stream) whose named hosts all lie in scope; a run naming no
host is ministry level. A real run (mode ``run``) needs the runbook's name
typed as confirmation; one whose runbook needs a second approver becomes a
run request (:mod:`controlplane.web.services.runbook_approvals`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import abort, g

from controlplane.errors import BadInputError
from controlplane.runbook.scope import Caller, ScopeRefused, caller_for_user, hosts_of_run, sites_of
from controlplane.store.models import Run
from controlplane.web.errors import ApiError
from controlplane.web.policy import current_scope
from controlplane.web.services.dispatching import dispatch
from controlplane.web.state import state

if TYPE_CHECKING:
    from collections.abc import Callable

    from controlplane.dispatch import Dispatcher
    from controlplane.monitoring.autorun import AutoStart, Runner
    from controlplane.runbook.definition import Runbook
    from controlplane.web.state import ConsoleState


@dataclass(frozen=True)
class Started:
    """What a start request became: a queued run, or a run request waiting for a second approver."""

    runbook: Runbook
    mode: str
    run_id: int | None = None
    request: dict[str, Any] | None = None


def folder() -> Path:
    """The site's runbooks folder."""
    return Path(state().config.runbooks)


def load_definition(name: str) -> Runbook:
    """The named runbook; ApiError 404 when there is none or it does not load."""
    from controlplane.runbook.loader import get_runbook

    if len(name) > 64:
        raise ApiError(404, "not_found", "no such runbook")
    try:
        return get_runbook(folder(), name)
    except BadInputError as error:
        raise ApiError(404, "not_found", error.message) from None


def listing() -> list[dict[str, Any]]:
    """Every runbook file: name, whether it loads (and its error), title, severity, RTO objective."""
    from controlplane.runbook.loader import load_runbooks

    rows = []
    for item in load_runbooks(folder()):
        row: dict[str, Any] = {"name": item.name, "ok": item.ok, "error": item.error}
        if item.runbook is not None:
            row.update(
                title=item.runbook.title,
                title_zh=item.runbook.title_zh,
                severity=item.runbook.severity,
                rto_objective_seconds=item.runbook.rto_objective,
                approvals_required=item.runbook.approvals_required,
            )
        rows.append(row)
    return rows


def target_sites(targets: list[str]) -> list[str | None]:
    """The sites of some hosts (None for a host the inventory does not know, or for no host at all)."""
    return sites_of(targets, state().inventory) or [None]


def run_in_scope(params: dict[str, Any] | None) -> bool:
    """True when every host a runbook run names (targets, host parameters) lies in the current user's scope."""
    scope = current_scope()
    return all(scope.allows(site) for site in target_sites(hosts_of_run(params, state().inventory)))


def request_caller() -> Caller:
    """The current console user as the runbook engine's caller (their role's permissions, their sites)."""
    current_scope()
    user = g.egov_user
    return caller_for_user(f"{user.name}", user.role, user.sites or [], state().inventory)


def get_runbook_run(run_id: int) -> Run:
    """A runbook run the current user may see; ApiError 404 when missing (or another kind), 403 out of scope."""
    with state().store.session() as db:
        run = db.get(Run, run_id)
    if run is None or run.kind != "runbook":
        raise ApiError(404, "not_found", f"no runbook run {run_id}")
    if not run_in_scope(run.params):
        abort(403)
    return run


def visible_history(name: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Runbook runs newest first whose targets lie in scope."""
    from controlplane.runbook.history import runbook_history

    current_scope()
    rows = runbook_history(state().store, name=name, limit=limit * 4)
    with state().store.session() as db:
        params = {row["run_id"]: (db.get(Run, row["run_id"]).params or {}) for row in rows}
    return [row for row in rows if run_in_scope(params[row["run_id"]])][:limit]


def checked(definition: Runbook, mode: str, given: dict[str, Any], confirmation: str, caller: Caller) -> dict[str, Any]:
    """The engine's check of a start for ``caller`` without creating anything; return the resolved parameters.

    For the starts that do not create a run at once (a run request, an
    approver's check). ApiError 400 for a bad mode, 403 when a named host
    lies out of scope or a permission is missing; BadInputError for a bad
    parameter, a real run without the typed name, a drill on a target that
    is not a drill target.
    """
    from controlplane.runbook.params import prepare

    _check_mode(mode)
    try:
        prepared = prepare(definition, mode, given, state().inventory, caller, confirmed=True)
    except ScopeRefused as refused:
        raise ApiError(403, "forbidden", refused.message) from None
    _check_confirmation(definition, mode, confirmation)
    return dict(prepared.params)


def start(name: str, mode: str, given: dict[str, Any], confirmation: str, channel: str, reason: str = "") -> Started:
    """Start a runbook for the current user: a queued run handed to the dispatcher, or a run request.

    Raises what :func:`checked` raises (and ApiError 404 for an unknown
    runbook, 503 when the dispatcher is full).
    """
    from controlplane.web.services.runbook_approvals import ask_for_approval

    definition = load_definition(name)
    caller = request_caller()
    if mode == "run" and definition.approvals_required > 1:
        resolved = checked(definition, mode, given, confirmation, caller)
        made = ask_for_approval(definition, resolved, g.egov_user.name, reason, channel=channel)
        return Started(definition, mode, request=made)
    _check_mode(mode)
    if mode == "run" and not _confirmed(definition, confirmation):
        checked(definition, mode, given, confirmation, caller)  # scope and parameter errors come first
    run_id = queue_and_dispatch(definition, mode, given, f"{g.egov_user.name}@{channel}", caller)
    return Started(definition, mode, run_id=run_id)


def queue_and_dispatch(definition: Runbook, mode: str, given: dict[str, Any], actor: str, caller: Caller) -> int:
    """Check the start for ``caller`` and create its run (the engine's one check), then dispatch it.

    Raises ApiError 403 for a host out of the caller's scope or a missing
    permission, BadInputError for bad parameters or a missing approval.
    """
    from controlplane.runbook.engine import queue

    try:
        run_id = queue(
            state().store,
            state().inventory,
            definition,
            mode=mode,
            params=given,
            actor=actor,
            trigger="console",
            confirmed=True,
            caller=caller,
        )
    except ScopeRefused as refused:
        raise ApiError(403, "forbidden", refused.message) from None
    return dispatch(run_id)


def execute_task(console: ConsoleState, run: Run) -> None:
    """The dispatcher's task for runbook runs: load the runbook the run names and execute it.

    Runs in a dispatcher worker, outside any request: the console's state is bound by the app factory.
    """
    from controlplane.runbook.engine import execute_claimed
    from controlplane.runbook.loader import get_runbook

    definition = get_runbook(Path(console.config.runbooks), str((run.params or {}).get("runbook")))
    execute_claimed(console.config, console.store, console.inventory, definition, run)


def alert_runner(console: ConsoleState, dispatcher: Dispatcher) -> Runner:
    """The monitor's way to start an alert's runbook in ``egov serve``: queue the run, hand it to the dispatcher.

    Raises what :func:`controlplane.runbook.alert_starts.queue_for_alert`
    raises (the monitor records the start as refused) and Saturated when the
    dispatcher is full.
    """
    from controlplane.monitoring.autorun import actor_of
    from controlplane.runbook.alert_starts import queue_for_alert

    def start(auto: AutoStart, on_run: Callable[[int], None]) -> int:
        assert auto.rule.runbook is not None  # noqa: S101 - only rules with a runbook are claimed
        _runbook, run_id = queue_for_alert(
            console.store,
            console.inventory,
            Path(console.config.runbooks),
            auto.rule.runbook.name,
            mode=auto.mode,
            params=auto.params,
            actor=actor_of(auto.rule),
            host=auto.labels.get("host"),
        )
        on_run(run_id)
        dispatcher.submit(run_id)
        return run_id

    return start


def _check_mode(mode: str) -> None:
    from controlplane.runbook.definition import MODES

    if mode not in MODES:
        raise ApiError(400, "invalid", f"mode must be one of {', '.join(MODES)}")


def _confirmed(definition: Runbook, confirmation: str) -> bool:
    return confirmation.strip() == definition.name


def _check_confirmation(definition: Runbook, mode: str, confirmation: str) -> None:
    if mode == "run" and not _confirmed(definition, confirmation):
        raise BadInputError(f"a real run of {definition.name} needs its name typed as confirmation")
