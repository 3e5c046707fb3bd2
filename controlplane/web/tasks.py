"""What the console's dispatcher executes: one task per run kind, named where the process is assembled.

The dispatcher (:mod:`controlplane.dispatch`) is core and knows no engine;
the app factory hands it this table. Each task receives a claimed run and
carries it to its final state with the console's objects bound here (tasks
run in worker threads, outside any request). A new kind of background work
adds its task here and creates its runs ``queued``.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from controlplane.dispatch import Task
    from controlplane.simulated_ping import SimulatedPing
    from controlplane.web.state import ConsoleState


def task_table(console: ConsoleState, pings: SimulatedPing) -> dict[str, Task]:
    """Every run kind the console starts in the background, with the task that executes it."""
    from controlplane.simulated_ping import KIND as PING
    from controlplane.web.services import automation, backup, network, runbooks

    tasks: dict[str, Task] = {PING: pings.execute, "runbook": partial(runbooks.execute_task, console)}
    for kind in automation.KINDS:
        tasks[kind] = partial(automation.execute_task, console)
    for kind in backup.run_kinds():
        tasks[kind] = partial(backup.execute_task, console)
    tasks[network.KIND] = partial(network.execute_task, console)
    return tasks
