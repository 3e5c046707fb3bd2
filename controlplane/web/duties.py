"""What the holder of the leader lease runs in ``egov serve``: the scheduler and the monitor.

:class:`LeaderDuties` starts them when this process takes the lease
(:mod:`controlplane.leader`) and stops them when it loses it or stops. It is
handed the console's dispatcher (scheduled backups become its runs) and the
monitor's runbook starter (alert-started runbooks too), so both background
paths start work the one way (:mod:`controlplane.dispatch`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    import threading

    from apscheduler.schedulers.background import BackgroundScheduler

    from controlplane.config import Config
    from controlplane.dispatch import Dispatcher
    from controlplane.leader import Elector
    from controlplane.monitoring.autorun import Runner
    from controlplane.monitoring.service import Monitor
    from controlplane.store import Store

    # The monitor, the thread running its loop, and the event that stops it.
    RunningMonitor = tuple[Monitor, threading.Thread, threading.Event]


def start_monitor(
    config: Config, store: Store, gate: Callable[[], bool] | None = None, autorunner: Runner | None = None
) -> RunningMonitor | None:
    """Start the probe and alert loop in a thread when the site has a monitoring folder.

    ``gate`` is the leader lease's, asked before every step so only the
    leader evaluates. Returns (monitor, thread, stop event), or None when
    there is no monitoring folder or it is invalid (the console still serves;
    the error is logged with its file and key).
    """
    import threading

    from controlplane.errors import EgovError

    if not config.monitoring.is_dir():
        return None
    from controlplane.lab.probe import bridge_is_up
    from controlplane.monitoring.service import Monitor
    from controlplane.runbook.catalog import RunbookFolder

    try:
        # Lab addresses only while its bridge is up; rules' runbooks checked by the runbook engine's loader.
        monitor = Monitor(
            config, store, lab_bridge_up=bridge_is_up, runbooks=RunbookFolder(config.runbooks), autorunner=autorunner
        )
    except EgovError as error:
        click.echo(f"monitoring not started: {error.message}", err=True)
        return None
    stop = threading.Event()
    thread = threading.Thread(
        target=monitor.run_forever, args=(stop,), kwargs={"gate": gate}, name="egov-monitor", daemon=True
    )
    thread.start()
    return monitor, thread, stop


def stop_monitor(running: RunningMonitor | None) -> None:
    """Stop the monitor thread started by :func:`start_monitor` and close its connections."""
    if not running:
        return
    monitor, thread, stop = running
    stop.set()
    thread.join(timeout=30)
    monitor.close()


class LeaderDuties:
    """What the holder of the leader lease runs: the scheduler and the monitor.

    Started when this process takes the lease, stopped when it loses it (the
    gate, :meth:`Elector.is_leader`, already refuses new jobs and monitor
    steps by then) and when it stops. Only a stopping process waits for a
    running job; one that lost the lease leaves it to finish in its thread.
    """

    def __init__(
        self, config: Config, store: Store, dispatcher: Dispatcher | None = None, autorunner: Runner | None = None
    ) -> None:
        self.config, self.store = config, store
        # Scheduled backups and alert-started runbooks become runs of the console's dispatcher.
        self.dispatcher, self.autorunner = dispatcher, autorunner
        self.gate: Callable[[], bool] = lambda: False
        self.scheduler: BackgroundScheduler | None = None
        self.monitor: RunningMonitor | None = None

    def elector(self) -> Elector:
        """The elector of this process (not started), wired to these duties."""
        from controlplane.leader import Elector

        elector = Elector(
            self.store,
            lease_seconds=self.config.leader_lease_seconds,
            renew_seconds=self.config.leader_renew_seconds,
            on_elected=self.start,
            on_deposed=self.stop,
        )
        self.gate = elector.is_leader
        return elector

    def start(self, term: int) -> None:
        """Start the scheduler and the monitor (the lease is ours, term ``term``)."""
        from controlplane.scheduler import start_scheduler

        click.echo(
            f"leader: this process (pid {os.getpid()}) runs the scheduler and the monitor (term {term})", err=True
        )
        from controlplane.web.schedules import JOB_SOURCES

        self.scheduler = start_scheduler(
            self.store, self.config, gate=self.gate, job_sources=JOB_SOURCES, dispatcher=self.dispatcher
        )
        try:
            self.monitor = start_monitor(self.config, self.store, gate=self.gate, autorunner=self.autorunner)
        except Exception as error:  # an unreadable inventory must not cost the site its schedules
            click.echo(f"monitoring not started: {error}", err=True)

    def stop(self, reason: str) -> None:
        """Stop the monitor and the scheduler (waiting for a running job only when this process stops)."""
        from controlplane.leader import STOPPING
        from controlplane.scheduler import stop_scheduler

        click.echo(f"leader: pid {os.getpid()} stops the scheduler and the monitor: {reason}", err=True)
        monitor, self.monitor = self.monitor, None
        stop_monitor(monitor)
        scheduler, self.scheduler = self.scheduler, None
        stop_scheduler(scheduler, wait=reason == STOPPING)
