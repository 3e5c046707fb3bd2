"""Scheduled work of service levels: the previous month's reports, and retention of the rollups.

* ``slo-reports`` runs every day at 01:10 in the objectives' time zone
  (Asia/Shanghai by default) and writes the previous month's reports when
  they are not written yet — on the 1st, or on the first day the control
  plane runs after it: the national report in Chinese and English (HTML,
  PDF, CSV, JSON) and each province's in Chinese (HTML, PDF), under
  ``STATE/reports/``, each recorded in ``slo_reports`` for the console.
* ``slo-rollup-retention`` runs daily and deletes minute rollups older than
  ``retention.slo_minute_days`` and hour rollups older than
  ``retention.slo_hour_days`` (egov.yml; 0 keeps them), in batches.

Persisted jobs carry only the config path (see :mod:`controlplane.scheduler`).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select

from controlplane.slo.models import ReportFile, SloHour, SloMinute
from controlplane.store.models import utcnow

if TYPE_CHECKING:
    from apscheduler.schedulers.base import BaseScheduler

    from controlplane.config import Config
    from controlplane.slo.site import SiteLevels
    from controlplane.store import Store

log = logging.getLogger(__name__)
REPORT_JOB, REPORT_FUNC = "slo-reports", "controlplane.slo.schedule:scheduled_reports"
RETENTION_JOB, RETENTION_FUNC = "slo-rollup-retention", "controlplane.slo.schedule:scheduled_retention"
ACTOR = "scheduler"
BATCH = 5000
NATIONAL_FILES = (("zh", "html"), ("zh", "pdf"), ("en", "html"), ("en", "pdf"), ("zh", "csv"), ("zh", "json"))
PROVINCE_FILES = (("zh", "html"), ("zh", "pdf"))


def add_jobs(scheduler: BaseScheduler, config_path: str | Path, timezone: str = "Asia/Shanghai") -> None:
    """Add (or update) the report and retention jobs on an APScheduler scheduler."""
    scheduler.add_job(REPORT_FUNC, trigger="cron", hour=1, minute=10, timezone=timezone, args=[str(config_path)],
                      id=REPORT_JOB, name="availability reports", replace_existing=True)  # fmt: skip
    scheduler.add_job(RETENTION_FUNC, trigger="cron", hour=3, minute=40, timezone=timezone, args=[str(config_path)],
                      id=RETENTION_JOB, name="service-level rollup retention", replace_existing=True)  # fmt: skip


def report_folder(config: Config) -> Path:
    """Where written reports live: STATE/reports (0700)."""
    folder = Path(config.state_dir) / "reports"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


def write_report(
    store: Store, levels: SiteLevels, config: Config, month: str, *, site: str | None, lang: str, fmt: str,
    actor: str, now: dt.datetime | None = None, report: dict[str, Any] | None = None,
) -> Path:  # fmt: skip
    """Render one report file under STATE/reports, record it (replacing an older one) and return its path.

    Raises BadInputError for a bad month, site, language or format, EgovError when chromium fails.
    """
    from controlplane import audit
    from controlplane.slo.render import render
    from controlplane.slo.report import build_report

    data = report or build_report(store, levels, month, site=site, now=now)
    content = render(data, fmt, lang)
    name = f"availability-{month}-{site or 'national'}-{lang}.{fmt}"
    path = report_folder(config) / name
    temporary = path.with_suffix(path.suffix + ".part")
    temporary.write_bytes(content)
    os.chmod(temporary, 0o600)
    temporary.replace(path)
    with store.session() as session:
        row = session.scalars(
            select(ReportFile).where(
                ReportFile.month == month,
                ReportFile.site == (site or ""),
                ReportFile.lang == lang,
                ReportFile.format == fmt,
            )
        ).first()
        if row is None:
            row = ReportFile(month=month, site=site or "", lang=lang, format=fmt)
            session.add(row)
        row.path, row.size, row.created_by, row.created_at = str(path), len(content), actor[:128], now or utcnow()
    audit.append(store, actor=actor, action="report.availability", target=name, site=site,
                 details={"month": month, "format": fmt, "lang": lang, "bytes": len(content)})  # fmt: skip
    return path


def monthly_reports(store: Store, levels: SiteLevels, config: Config, now: dt.datetime | None = None) -> list[Path]:
    """Write the previous month's reports that are not written yet; return the paths written.

    A PDF that chromium cannot print is logged and retried the next day; the other files are still written.
    """
    from controlplane.errors import EgovError
    from controlplane.slo.report import build_report, previous_month, region_of

    now = now or utcnow()
    month = previous_month(now, levels.slo.zone)
    with store.session() as session:
        done = {
            (r.site, r.lang, r.format) for r in session.scalars(select(ReportFile).where(ReportFile.month == month))
        }
    provinces = sorted({region_of(levels.inventory, s.site) for s in levels.slo.services} - {"national"})
    plan = [(None, lang, fmt) for lang, fmt in NATIONAL_FILES]
    plan += [(province, lang, fmt) for province in provinces for lang, fmt in PROVINCE_FILES]
    written: list[Path] = []
    cache: dict[str | None, dict[str, Any]] = {}
    for site, lang, fmt in plan:
        if (site or "", lang, fmt) in done:
            continue
        if site not in cache:
            cache[site] = build_report(store, levels, month, site=site, now=now)
        try:
            written.append(write_report(store, levels, config, month, site=site, lang=lang, fmt=fmt, actor=ACTOR,
                                        now=now, report=cache[site]))  # fmt: skip
        except EgovError as error:
            log.error("availability report %s %s %s not written: %s", month, site or "national", fmt, error.message)
    return written


def rollup_retention(store: Store, minute_days: int, hour_days: int, now: dt.datetime | None = None) -> dict[str, int]:
    """Delete minute and hour rollups older than their retention (0: keep); return the rows removed."""
    moment = (now or utcnow()).timestamp()
    removed = {"minutes": 0, "hours": 0}
    for key, model, column, days in (("minutes", SloMinute, SloMinute.minute, minute_days),
                                     ("hours", SloHour, SloHour.hour, hour_days)):  # fmt: skip
        if days <= 0:
            continue
        cutoff = int(moment - days * 86400)
        while True:
            with store.session() as session:
                keys = session.execute(select(model.service, column).where(column < cutoff).limit(BATCH)).all()
                for service, when in keys:
                    session.execute(delete(model).where(model.service == service, column == when))
            removed[key] += len(keys)
            if len(keys) < BATCH:
                break
    return removed


def _context(config_path: str, store: Store | None) -> tuple[Config, Store]:
    from controlplane.config import load_config

    if store is None:
        from controlplane.scheduler import current_store

        store = current_store()
    return load_config(config_path), store


def scheduled_reports(config_path: str, store: Store | None = None, now: dt.datetime | None = None) -> list[str]:
    """The job: write last month's missing reports (see :func:`monthly_reports`); return their paths."""
    from controlplane.slo.site import load_levels

    config, store = _context(config_path, store)
    levels = load_levels(config, strict=False)
    if not levels.slo.services:
        return []
    paths = monthly_reports(store, levels, config, now)
    if paths:
        log.info("availability reports written: %s", ", ".join(p.name for p in paths))
    return [str(p) for p in paths]


def scheduled_retention(config_path: str, store: Store | None = None, now: dt.datetime | None = None) -> dict[str, int]:
    """The job: apply the rollups' retention of egov.yml."""
    config, store = _context(config_path, store)
    return rollup_retention(store, config.retention_slo_minute_days, config.retention_slo_hour_days, now)
