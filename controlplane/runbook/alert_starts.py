"""Starting a runbook because an alert fired: the caller is the alerting host's site, the rule is the confirmation.

The monitoring engine decides *that* a rule's runbook starts (claimed,
rate-limited); it is handed a function that does the start (see
:mod:`controlplane.monitoring.autorun`), built by the composition root from
these: ``egov serve`` queues the run and gives it to the console's
dispatcher, ``egov monitor run`` executes it in the monitor's thread.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controlplane.runbook.engine import Result, execute_claimed, queue
from controlplane.runbook.loader import get_runbook
from controlplane.runbook.scope import caller_for_alert
from controlplane.runs import claim
from controlplane.store.models import RunStatus

if TYPE_CHECKING:
    from controlplane.config import Config
    from controlplane.inventory import Inventory
    from controlplane.runbook.definition import Runbook
    from controlplane.store import Store


def queue_for_alert(
    store: Store,
    inventory: Inventory,
    folder: Path,
    name: str,
    *,
    mode: str,
    params: Mapping[str, Any],
    actor: str,
    host: str | None,
) -> tuple[Runbook, int]:
    """Check and queue an alert's runbook run; return the runbook and the run id.

    A real run needs no typed confirmation: the rule saying ``run`` is the
    operator's written one. Raises ScopeRefused when a named host lies
    outside the alerting host's site, BadInputError for an unknown runbook
    or bad parameters (no run row either way).
    """
    runbook = get_runbook(Path(folder), name)
    run_id = queue(
        store,
        inventory,
        runbook,
        mode=mode,
        params=params,
        actor=actor,
        trigger="alert",
        confirmed=mode == "run",
        caller=caller_for_alert(actor, host, inventory),
    )
    return runbook, run_id


def run_for_alert(
    config: Config,
    store: Store,
    inventory: Inventory,
    name: str,
    *,
    mode: str,
    params: Mapping[str, Any],
    actor: str,
    host: str | None,
    on_run: Callable[[int], None],
) -> Result:
    """Queue an alert's runbook run, then claim and execute it in this thread (a process without a dispatcher)."""
    runbook, run_id = queue_for_alert(
        store, inventory, Path(config.runbooks), name, mode=mode, params=params, actor=actor, host=host
    )
    on_run(run_id)
    with store.session() as session:
        run = claim(session, run_id)
        if run is not None:
            session.expunge(run)
    if run is None:
        return Result(run_id, RunStatus.CANCELLED, error="cancelled before it started")
    return execute_claimed(config, store, inventory, runbook, run)
