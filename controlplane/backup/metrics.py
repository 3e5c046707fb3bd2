"""Prometheus metrics of backups, read from the store at scrape time (a custom collector).

Register it on the console's registry::

    from controlplane.backup.metrics import BackupCollector
    registry.register(BackupCollector(store))

Per dataset and host (one ``backup_status`` row each; labels ``dataset``,
``host``, ``site``, a bounded set taken from the policy):

* ``egov_backup_last_success_timestamp_seconds`` — end of the last successful backup
* ``egov_backup_last_run_timestamp_seconds`` — end of the last backup run, whatever its outcome
* ``egov_backup_last_run_success`` — 1 when the last backup run succeeded, else 0
* ``egov_backup_last_duration_seconds`` — duration of the last backup run
* ``egov_backup_last_added_bytes`` — bytes the last snapshot added to the repository
* ``egov_backup_last_check_success`` / ``egov_backup_last_check_timestamp_seconds``
* ``egov_backup_last_drill_success`` — 1 passed, 0 failed (absent: never drilled)
* ``egov_backup_last_drill_timestamp_seconds``
* ``egov_backup_last_drill_duration_seconds`` — achieved RTO (restore + verification)
* ``egov_backup_last_drill_data_age_seconds`` — achieved RPO (age of the restored data)

An alert rule such as ``time() - egov_backup_last_success_timestamp_seconds > RPO``
reads the age against the RPO; a value that was never measured is absent, not 0.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from controlplane.store.models import RunStatus

if TYPE_CHECKING:
    from controlplane.store import Store

LABELS = ["dataset", "host", "site"]


class BackupCollector:
    """A prometheus_client custom collector over the ``backup_status`` table of a Store."""

    def __init__(self, store: Store) -> None:

        self.store = store

    def describe(self) -> list[Any]:
        """Nothing at registration: describing would query a store that may not be migrated yet."""
        return []

    def collect(self) -> Iterator[Any]:
        """Yield the metric families (empty when nothing was backed up yet)."""
        from prometheus_client.core import GaugeMetricFamily
        from sqlalchemy import inspect

        from .models import BackupStatus

        def gauge(name: str, text: str) -> Any:
            return GaugeMetricFamily(name, text, labels=LABELS)

        families = {
            "success": gauge("egov_backup_last_success_timestamp_seconds", "End of the last successful backup."),
            "run": gauge("egov_backup_last_run_timestamp_seconds", "End of the last backup run, whatever its outcome."),
            "ok": gauge("egov_backup_last_run_success", "1 when the last backup run succeeded, else 0."),
            "duration": gauge("egov_backup_last_duration_seconds", "Duration of the last backup run."),
            "added": gauge("egov_backup_last_added_bytes", "Bytes the last snapshot added to the repository."),
            "check_ok": gauge("egov_backup_last_check_success", "1 when the last integrity check passed, else 0."),
            "check_at": gauge("egov_backup_last_check_timestamp_seconds", "Time of the last integrity check."),
            "drill_ok": gauge("egov_backup_last_drill_success", "1 when the last restore drill passed, else 0."),
            "drill_at": gauge("egov_backup_last_drill_timestamp_seconds", "Start of the last restore drill."),
            "drill_rto": gauge("egov_backup_last_drill_duration_seconds", "Restore plus verification time (RTO)."),
            "drill_rpo": gauge("egov_backup_last_drill_data_age_seconds", "Age of the data the drill restored (RPO)."),
            "copy_ok": gauge("egov_backup_last_copy_success", "1 when the last off-site copy succeeded, else 0."),
            "copy_at": gauge(
                "egov_backup_last_copy_success_timestamp_seconds", "End of the last successful off-site copy."
            ),
            "copy_newest": gauge(
                "egov_backup_offsite_newest_snapshot_timestamp_seconds",
                "Time of the newest snapshot on the secondary center (copy age = now - this).",
            ),
        }
        if not inspect(self.store.engine).has_table(BackupStatus.__tablename__):
            yield from families.values()
            return
        with self.store.session() as session:
            rows = session.query(BackupStatus).order_by(BackupStatus.dataset, BackupStatus.host).all()
            for row in rows:
                labels = [row.dataset, row.host, row.site]

                def put(key: str, value: Any, labels: list[str] = labels) -> None:
                    if value is not None:
                        families[key].add_metric(labels, float(value))

                put("success", row.last_success_at.timestamp() if row.last_success_at else None)
                put("run", row.last_run_at.timestamp() if row.last_run_at else None)
                put("ok", None if row.last_status is None else row.last_status == RunStatus.SUCCEEDED)
                put("duration", row.last_duration_seconds)
                put("added", row.last_bytes_added)
                put("check_ok", None if row.last_check_status is None else row.last_check_status == RunStatus.SUCCEEDED)
                put("check_at", row.last_check_at.timestamp() if row.last_check_at else None)
                put("drill_ok", row.last_drill_passed)
                put("drill_at", row.last_drill_at.timestamp() if row.last_drill_at else None)
                put("drill_rto", row.last_drill_rto_seconds)
                put("drill_rpo", row.last_drill_rpo_seconds)
                put("copy_ok", None if row.last_copy_status is None else row.last_copy_status == RunStatus.SUCCEEDED)
                put("copy_at", row.last_copy_success_at.timestamp() if row.last_copy_success_at else None)
                put("copy_newest", row.last_copy_snapshot_time.timestamp() if row.last_copy_snapshot_time else None)
        yield from families.values()
