"""Backups for the console and the API: the policy view, one unit in scope, and starting an operation.

Run now, drill, copy and restore create their run ``queued`` and hand it to
the dispatcher (:mod:`controlplane.dispatch`); the run row shows the
progress on the runs page, and :func:`execute_task` is the dispatcher's task
for backup runs. Restores are admin-only and audited with the console user
as actor. Everything is site-scoped: a user sees and acts on the units of
the sites in scope only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import abort, g

from controlplane.errors import BadInputError
from controlplane.web.policy import require_site
from controlplane.web.services.dispatching import dispatch
from controlplane.web.state import state

if TYPE_CHECKING:
    from controlplane.backup.report import PolicyView
    from controlplane.backup.targets import BackupTarget
    from controlplane.store.models import Run
    from controlplane.web.state import ConsoleState

ACTIONS = ("backup", "drill", "copy")
# The operations the console starts (a restore has its own form).
KINDS = (*ACTIONS, "restore")


def run_kinds() -> tuple[str, ...]:
    """The run kinds of every backup operation (``backup``, ``backup-drill``, ...): the task table maps each here."""
    from controlplane.backup.operations import BY_RUN_KIND

    return tuple(BY_RUN_KIND)


def policy_view() -> PolicyView:
    """The read-only policy view of the console's config, store and inventory."""
    from controlplane.backup.report import PolicyView

    return PolicyView(state().config, state().store, state().inventory)


def find_unit(view: PolicyView, dataset: str, host: str) -> BackupTarget:
    """The (dataset, host) unit, after the site check; 404 when the policy has no such unit."""
    try:
        found = [t for t in view.targets(view.policy.dataset(dataset)) if t.host == host]
    except BadInputError:
        abort(404)
    if not found:
        abort(404)
    require_site(found[0].site)
    return found[0]


def start_operation(kind: str, dataset: str, host: str, **options: Any) -> int:
    """Create a backup, drill, copy or restore run for the current user (queued) and dispatch it; return its id.

    ``options`` are the restore's (directory, snapshot, to_host), kept in
    the run's params so that the task can carry them out. Raises
    BadInputError for an unknown kind or unit, ApiError 503 when the
    dispatcher is full.
    """
    from controlplane.backup.context import open_context
    from controlplane.backup.operations import queue_operation

    if kind not in KINDS:
        raise BadInputError(f"unknown backup operation {kind!r}")
    console = state()
    actor = f"{g.egov_user.name}@console"
    ctx = open_context(console.config, console.store, console.vault, actor=actor, trigger="console")
    try:
        run_id = queue_operation(ctx, kind, ctx.target(dataset, host), **options)
    finally:
        ctx.close()
    return dispatch(run_id)


def execute_task(console: ConsoleState, run: Run) -> None:
    """The dispatcher's task for backup runs: carry out the operation the run was queued for."""
    from controlplane.backup.context import open_context
    from controlplane.backup.operations import run_queued

    ctx = open_context(console.config, console.store, console.vault, actor=run.actor, trigger=run.trigger)
    try:
        run_queued(ctx, run)
    finally:
        ctx.close()


def centers_of(view: PolicyView) -> dict[str, Any]:
    """The active center's name and both centers' hosts, for the pages' header line."""
    policy = view.policy
    return {
        "active": view.active,
        "primary": policy.primary.host if policy.primary else None,
        "secondary": policy.secondary.host if policy.secondary else None,
    }
