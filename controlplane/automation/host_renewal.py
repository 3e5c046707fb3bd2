"""Renewal of SSH host certificates: a scheduled job, and the state the expiry alert reads.

``host-cert-renewal`` (added by ``egov serve``'s scheduler through
:mod:`controlplane.web.schedules`) re-certifies every inventory host whose
newest certificate has passed ``pki.renew_at`` of its validity (two thirds
by default; :func:`controlplane.pki.records.due_for_renewal`), so a host
never reaches expiry while the control plane runs. It runs every
:func:`job_seconds` (an hour for weeks of validity; less for the short
validities tests use). A host that fails keeps its certificate and is tried
again next time; the monitoring probe ``host_certificates``
(:mod:`controlplane.monitoring.probes.host_certs`) turns a certificate that
is close to expiry or expired into an alert.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apscheduler.schedulers.base import BaseScheduler

    from controlplane.automation.certify import HostOutcome
    from controlplane.config import Config
    from controlplane.ssh import SSHPool
    from controlplane.store import Store

log = logging.getLogger(__name__)
JOB_ID, JOB_FUNC = "host-cert-renewal", "controlplane.automation.host_renewal:scheduled_renewal"
ACTOR = "scheduler"
KIND = "ssh-host"
MIN_SECONDS, MAX_SECONDS = 30.0, 3600.0


def job_seconds(config: Config) -> float:
    """How often the job looks: a quarter of the time between renewal and expiry, between 30 s and an hour."""
    window = config.pki.host_validity.total_seconds() * (1 - config.pki.renew_at)
    return max(MIN_SECONDS, min(MAX_SECONDS, window / 4))


def add_job(scheduler: BaseScheduler, config: Config) -> None:
    """Add (or update) the renewal job; persisted by import path with the config file path as argument."""
    scheduler.add_job(JOB_FUNC, trigger="interval", seconds=job_seconds(config), args=[str(config.source)],
                      id=JOB_ID, name="SSH host certificate renewal", replace_existing=True)  # fmt: skip


def renew_due(
    config: Config,
    store: Store,
    *,
    now: dt.datetime | None = None,
    requester: str = ACTOR,
    pool: SSHPool | None = None,
    validity: dt.timedelta | None = None,
) -> list[HostOutcome]:
    """Re-certify the inventory hosts whose certificate is due; one HostOutcome per host tried.

    A certificate of a host no longer in the inventory is not renewed.
    Raises CANotInitialisedError when there is no CA (then nothing is due).
    """
    from controlplane.automation.certify import certify_hosts
    from controlplane.inventory import load_inventory
    from controlplane.pki.records import due_for_renewal

    moment = now or dt.datetime.now(dt.UTC)
    due = {row.subject for row in due_for_renewal(store, KIND, moment, config.pki.renew_at)}
    if not due:
        return []
    inventory = load_inventory(config.inventory)
    hosts = [host for host in inventory.hosts if host.name in due]
    return certify_hosts(config, store, hosts, requester=requester, pool=pool, inventory=inventory, validity=validity)


def scheduled_renewal(config_path: str, store: Store | None = None) -> dict[str, Any]:
    """The job: renew what is due; returns ``{"renewed": [...], "failed": {host: message}}`` (logged)."""
    from controlplane.config import load_config
    from controlplane.pki.authority import CANotInitialisedError

    if store is None:
        from controlplane.scheduler import current_store

        store = current_store()
    config = load_config(Path(config_path))
    try:
        outcomes = renew_due(config, store)
    except CANotInitialisedError:
        return {"renewed": [], "failed": {}}
    renewed = [o.host for o in outcomes if o.ok]
    failed = {o.host: o.message for o in outcomes if not o.ok}
    if renewed:
        log.info("host certificates renewed: %s", ", ".join(renewed))
    for host, message in failed.items():
        log.warning("host certificate renewal failed on %s: %s", host, message)
    return {"renewed": renewed, "failed": failed}
