"""What ``egov serve``'s scheduler runs: each feature's job source, named where the process is assembled.

The scheduler (:mod:`controlplane.scheduler`) is core and knows no engine;
``egov serve`` (:class:`controlplane.web.duties.LeaderDuties`) hands it this
list. Each source adds (or updates) one feature's persisted jobs. A new
feature with a schedule adds its source here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from apscheduler.schedulers.base import BaseScheduler

    from controlplane.config import Config
    from controlplane.store import Store


def compliance_scan(scheduler: BaseScheduler, config: Config, _store: Store) -> None:
    """The daily compliance scan."""
    from controlplane.compliance.schedule import add_daily_scan

    add_daily_scan(scheduler, config.source)


def retention(scheduler: BaseScheduler, config: Config, _store: Store) -> None:
    """Retention of run output, deliveries and probe history."""
    from controlplane.retention import add_retention_job

    add_retention_job(scheduler, config.source)


def audit(scheduler: BaseScheduler, config: Config, _store: Store) -> None:
    """Anchor the audit head every few minutes; archive old records daily."""
    from controlplane.audit.schedule import add_jobs

    add_jobs(scheduler, config)


def lease_witness(scheduler: BaseScheduler, config: Config, _store: Store) -> None:
    """The leader's lease witnessed on the backup centers (what a restored copy reads)."""
    from controlplane.recovery.witness import add_job

    add_job(scheduler, config)


def service_levels(scheduler: BaseScheduler, config: Config, _store: Store) -> None:
    """Last month's availability reports; rollup retention."""
    from controlplane.slo.schedule import add_jobs

    add_jobs(scheduler, config.source)


def backups(scheduler: BaseScheduler, config: Config, store: Store) -> None:
    """The backup policies' schedules (a policy that does not load is logged by the scheduler)."""
    from controlplane.backup.schedule import sync_jobs

    sync_jobs(scheduler, config, store)


def tls_renewal(scheduler: BaseScheduler, config: Config, _store: Store) -> None:
    """The console's and the web hosts' TLS certificates from the CA, renewed past pki.renew_at."""
    from controlplane.web.tls_renewal import add_job

    add_job(scheduler, config.source)



def host_certificates(scheduler: BaseScheduler, config: Config, _store: Store) -> None:
    """Renewal of SSH host certificates at ``pki.renew_at`` of their validity (issue 15)."""
    from controlplane.automation.host_renewal import add_job

    add_job(scheduler, config)


def network_verify(scheduler: BaseScheduler, config: Config, _store: Store) -> None:
    """The daily verify of the network's reachability matrix (issue 16; a site without network.yml skips it)."""
    from controlplane.network.watch import add_job

    add_job(scheduler, config.source)


JOB_SOURCES = (
    compliance_scan,
    retention,
    audit,
    lease_witness,
    service_levels,
    backups,
    tls_renewal,
    host_certificates,
    network_verify,
)
