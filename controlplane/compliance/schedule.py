"""The daily compliance scan as a scheduler job.

Wired where ``egov serve`` hands the scheduler its job sources (:mod:`controlplane.web.schedules`)::

    from controlplane.compliance.schedule import add_daily_scan
    add_daily_scan(scheduler, config.source)

The job is persisted by import path with the config file path as its only
argument (persisted jobs cannot carry live objects); it opens no store of its
own but uses the scheduler's (:func:`controlplane.scheduler.current_store`).
``replace_existing`` keeps one job across restarts; APScheduler's
``coalesce`` and ``max_instances=1`` (scheduler defaults) mean a scan missed
while the process was down runs once on start, and never twice at a time.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apscheduler.job import Job
    from apscheduler.schedulers.base import BaseScheduler

    from controlplane.store import Store

log = logging.getLogger(__name__)

JOB_ID = "compliance-daily-scan"
JOB_FUNC = "controlplane.compliance.schedule:daily_scan"
ACTOR = "scheduler"
# 02:30 UTC (10:30 in China): after the nightly backups of the default policy, before office hours.
DEFAULT_HOUR = 2
DEFAULT_MINUTE = 30


def add_daily_scan(
    scheduler: BaseScheduler, config_path: str | Path, hour: int = DEFAULT_HOUR, minute: int = DEFAULT_MINUTE
) -> Job:
    """Add (or update) the daily scan job of a site on an APScheduler scheduler; return the job."""
    return scheduler.add_job(
        JOB_FUNC,
        trigger="cron",
        hour=hour,
        minute=minute,
        args=[str(config_path)],
        id=JOB_ID,
        name="daily compliance scan",
        replace_existing=True,
    )


def daily_scan(config_path: str, store: Store | None = None) -> dict[str, Any]:
    """The job: scan every host of the site's inventory as the ``scheduler`` actor.

    Takes a path because persisted jobs cannot carry live objects; the
    store defaults to the scheduler's (tests pass one). Returns the run's
    summary. A malformed control or waiver file fails the job (logged, and
    the next day's run tries again) without creating a run.
    """
    from controlplane.compliance.service import run_scan
    from controlplane.config import load_config

    if store is None:
        from controlplane.scheduler import current_store

        store = current_store()
    config = load_config(config_path)
    outcome = run_scan(config, store, actor=ACTOR, trigger="schedule")
    log.info("daily compliance scan %s: run %s %s", outcome.scan_id, outcome.run_id, outcome.status)
    return {"scan_id": outcome.scan_id, "run_id": outcome.run_id, "status": outcome.status}
