"""Watching the network: a verify every day, and one after every succeeded provision.

``network-verify`` (added by ``egov serve``'s scheduler through
:mod:`controlplane.web.schedules`) verifies the whole matrix daily at 02:00
UTC, half an hour before the daily compliance scan, so the scan's network
controls read a verify of the same night. A provision can change a gateway's
boundary (or a service behind a flow), so :func:`after_provision` (handed to
the automation engine as ``providers.after_provision``: that engine does not
know this one) verifies again when a provision run succeeds and puts the
counts into the provision run's output. Each verify is its own run (kind
``network-verify``) with its saved report; a violation in it raises the
``NetworkPathViolation`` alert (monitoring/rules.yml) at the next probe.

Both do nothing (and say so) on a site without ``network.yml``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apscheduler.job import Job
    from apscheduler.schedulers.base import BaseScheduler

    from controlplane.config import Config
    from controlplane.network.results import VerifyReport
    from controlplane.store import Store

log = logging.getLogger(__name__)

JOB_ID = "network-verify"
JOB_FUNC = "controlplane.network.watch:scheduled_verify"
ACTOR = "scheduler"
# 02:00 UTC (10:00 in China): before the 02:30 compliance scan, whose network controls read the newest verify.
DEFAULT_HOUR = 2
DEFAULT_MINUTE = 0
SHOWN = 5  # violations and breakages named in a provision run's output; the rest are counted


def add_job(
    scheduler: BaseScheduler, config_path: str | Path, hour: int = DEFAULT_HOUR, minute: int = DEFAULT_MINUTE
) -> Job:
    """Add (or update) the daily verify; persisted by import path with the config file path as its argument."""
    return scheduler.add_job(JOB_FUNC, trigger="cron", hour=hour, minute=minute, args=[str(config_path)],
                             id=JOB_ID, name="daily network verify", replace_existing=True)  # fmt: skip


def has_network(config: Config) -> bool:
    """Whether the site describes its network (``network.yml`` next to the inventory)."""
    from controlplane.network.model import network_file

    return network_file(config).exists()


def verify_now(
    config: Config, store: Store, *, actor: str, trigger: str, hosts: tuple[str, ...] = (), isolated: bool = False
) -> VerifyReport:
    """The verify service (:mod:`controlplane.network.verify`): one run, its report saved and audited.

    ``isolated``: the ``hosts`` are isolated on purpose (isolate-host), so their paths are expected closed.
    """
    from controlplane.network.verify import run_verify

    return run_verify(config, store, actor=actor, trigger=trigger, hosts=hosts, isolated=hosts if isolated else ())


def report_lines(report: VerifyReport) -> list[str]:
    """What a verify found, in a few lines: the counts, then the first violations and breakages by path."""
    from controlplane.network.facts import describe_path

    head = (
        f"network verify {report.id} (run {report.run_id}): {len(report.paths)} path(s), "
        f"{len(report.violations)} violation(s), {len(report.breakages)} breakage(s)"
    )
    lines = [head]
    for kind, paths in (("violation", report.violations), ("breakage", report.breakages)):
        lines += [f"  {kind}: {describe_path(path)}" for path in paths[:SHOWN]]
        if len(paths) > SHOWN:
            lines.append(f"  ... and {len(paths) - SHOWN} more {kind}(s): `egov network verify` shows them all")
    lines += [f"  unreachable: {finding.where}: {finding.detail}" for finding in report.incomplete]
    return lines


def scheduled_verify(config_path: str, store: Store | None = None) -> dict[str, Any]:
    """The job: verify the whole network as the ``scheduler`` actor; returns the report's summary (logged).

    Takes a path because persisted jobs cannot carry live objects; the store
    defaults to the scheduler's (tests pass one). A bad network.yml fails the
    job (logged; tomorrow's run tries again) without a verify.
    """
    from controlplane.config import load_config

    if store is None:
        from controlplane.scheduler import current_store

        store = current_store()
    config = load_config(Path(config_path))
    if not has_network(config):
        return {"skipped": "no network.yml"}
    report = verify_now(config, store, actor=ACTOR, trigger="schedule")
    summary = report.summary()
    if report.ok:
        log.info("network verify %s: %s path(s), clean", report.id, summary["paths"])
    else:
        log.warning("; ".join(report_lines(report)))
    return summary


def after_provision(config: Config, store: Store, run_id: int, actor: str) -> list[str]:
    """Verify after a succeeded provision run; the lines for that run's output (none without network.yml)."""
    if not has_network(config):
        return []
    report = verify_now(config, store, actor=actor, trigger="provision")
    return [*report_lines(report), f"  (after provision run {run_id}: `egov runs show {report.run_id}`)"]
