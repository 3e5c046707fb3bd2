"""The audit log's scheduled jobs: anchor the head every few minutes, archive old records daily.

Wired by ``egov serve``'s job sources (:mod:`controlplane.web.schedules`)
through :func:`add_jobs`. Like every persisted job they carry only the egov.yml path
and use the scheduler's open store (:func:`controlplane.scheduler.current_store`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apscheduler.schedulers.base import BaseScheduler

    from controlplane.config import Config
    from controlplane.store import Store

log = logging.getLogger(__name__)

ANCHOR_JOB_ID = "audit-anchor"
ANCHOR_MINUTES = 10
ARCHIVE_JOB_ID = "audit-archive"
# 03:40 UTC: after the nightly backups and prune of the default policy, before the compliance scan's day.
ARCHIVE_HOUR, ARCHIVE_MINUTE = 3, 40


def add_jobs(scheduler: BaseScheduler, config: Config) -> None:
    """Add (or update) the anchor and archive jobs of a site."""
    scheduler.add_job(
        "controlplane.audit.schedule:anchor_job",
        trigger="interval",
        minutes=ANCHOR_MINUTES,
        args=[str(config.source)],
        id=ANCHOR_JOB_ID,
        name="audit anchor",
        replace_existing=True,
    )
    scheduler.add_job(
        "controlplane.audit.schedule:archive_job",
        trigger="cron",
        hour=ARCHIVE_HOUR,
        minute=ARCHIVE_MINUTE,
        args=[str(config.source)],
        id=ARCHIVE_JOB_ID,
        name="audit archive",
        replace_existing=True,
    )


def _site(config_path: str, store: Store | None) -> tuple[Config, Store]:
    from controlplane.config import load_config

    if store is None:
        from controlplane.scheduler import current_store

        store = current_store()
    return load_config(config_path), store


def anchor_job(config_path: str, store: Store | None = None) -> list[dict[str, Any]]:
    """The job: anchor the head locally and on the backup centers; return what happened (errors are logged)."""
    from .anchor import anchor_head

    config, store = _site(config_path, store)
    results = anchor_head(config, store)
    for result in results:
        if result.written:
            log.info("audit head record %d anchored on %s", result.seq, result.where)
    return [result.__dict__ for result in results]


def archive_job(config_path: str, store: Store | None = None) -> dict[str, Any] | None:
    """The job: archive records older than ``retention.audit_days`` (0: none); return the archive made."""
    from controlplane.errors import EgovError

    from .archive import archive_older_than

    config, store = _site(config_path, store)
    if config.retention_audit_days == 0:
        return None
    try:
        made = archive_older_than(config, store, config.retention_audit_days)
    except EgovError as error:  # a chain that does not verify is never archived: the next day tries again
        log.error("audit archive: %s", error.message)
        return None
    if made is not None:
        log.info("audit records %d-%d archived to %s", made.first_seq, made.last_seq, made.path)
    return {"path": str(made.path), "first_seq": made.first_seq, "last_seq": made.last_seq} if made else None
