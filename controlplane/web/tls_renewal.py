"""The scheduled renewal of TLS certificates from the control plane's CA: the console's and the web hosts'.

Wired in :mod:`controlplane.web.schedules` (``egov serve``'s leader runs it). Every
RENEW_HOURS it renews what is past ``pki.renew_at`` of its validity (or names a
CA that was replaced):

* the console's own certificate (``state/pki/console.pem``), when the console
  serves one from the CA (``listen.tls: auto``, no ``tls_cert``): reissued for the
  names it has plus the ones it should have; the serving processes pick up the
  new files within seconds (:class:`controlplane.web.console_tls.TLSFiles`);
* the portal, DR and office hosts' certificates
  (:func:`controlplane.automation.tls_deploy.deploy_service_certificates`), one
  SSH ``cat`` per host when nothing is due. Lab hosts are skipped while the lab
  bridge is down (their addresses would be routed off the machine).

Each issuance is audited by the CA; the job adds one audit record
``pki.tls_renewal`` with what it renewed and what failed.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from apscheduler.job import Job
    from apscheduler.schedulers.base import BaseScheduler

    from controlplane.config import Config
    from controlplane.store import Store

log = logging.getLogger(__name__)

JOB_ID = "pki-tls-renewal"
JOB_FUNC = "controlplane.web.tls_renewal:scheduled_renewal"
ACTOR = "scheduler"
RENEW_HOURS = 6


def add_job(scheduler: BaseScheduler, config_path: str | Path, hours: float = RENEW_HOURS) -> Job:
    """Add (or update) the TLS renewal job, persisted by import path with the config file path; return it."""
    return scheduler.add_job(
        JOB_FUNC,
        trigger="interval",
        minutes=int(hours * 60),
        args=[str(config_path)],
        id=JOB_ID,
        name="TLS certificate renewal",
        replace_existing=True,
    )


def renew_console(config: Config, store: Store) -> str | None:
    """Renew the console's CA certificate when due; return its new serial's message, or None when nothing was done.

    Raises CANotInitialisedError, VaultKeyError, OSError.
    """
    from controlplane import tls_check
    from controlplane.web.console_tls import CERT_FILE, ensure_console_certificate, pki_dir

    current = pki_dir(config) / CERT_FILE
    if config.listen_tls == "off" or (config.tls_cert and config.tls_key) or not current.exists():
        return None  # the console serves no certificate of the CA
    dns, ips = tls_check.names_in(current.read_bytes())
    _files, issued = ensure_console_certificate(
        config, store, config.listen_host, requester=ACTOR, also=sorted(dns) + sorted(ips)
    )
    return "console certificate renewed" if issued else None


def renew_services(config: Config, store: Store) -> dict[str, list[str]]:
    """Renew the web hosts' certificates that are due; return host names by outcome (issued, kept, failed, skipped)."""
    from controlplane.automation.tls_deploy import deploy_service_certificates, serves_web
    from controlplane.inventory import load_inventory
    from controlplane.lab.probe import bridge_is_up
    from controlplane.monitoring.probes.runner import lab_guard
    from controlplane.ssh import SSHPool

    inventory = load_inventory(config.inventory)
    guard = lab_guard(inventory, bridge_is_up)
    web = [host for host in inventory.hosts if serves_web(host)]
    reachable = [host for host in web if guard(host.address) is None]
    outcome: dict[str, list[str]] = {"issued": [], "kept": [], "failed": [], "skipped": []}
    outcome["skipped"] = [host.name for host in web if host not in reachable]
    if not reachable:
        return outcome
    with SSHPool.from_config(config) as pool:
        for result in deploy_service_certificates(config, store, pool, reachable, requester=ACTOR):
            outcome[result.action].append(result.host if result.ok else f"{result.host}: {result.message}")
    return outcome


def scheduled_renewal(config_path: str, store: Store | None = None) -> dict[str, Any]:
    """The job: renew the console's and the web hosts' certificates that are due; return what it did.

    A site without a CA has nothing to renew (an empty answer, no audit record).
    Uses the scheduler's store unless one is given (tests).
    """
    from controlplane import audit
    from controlplane.config import load_config
    from controlplane.pki.authority import CANotInitialisedError, open_authority

    if store is None:
        from controlplane.scheduler import current_store

        store = current_store()
    config = load_config(config_path)
    try:
        open_authority(config, store)  # nothing to renew before `egov ca init`
        console = renew_console(config, store)
        services = renew_services(config, store)
    except CANotInitialisedError:
        return {}
    report: dict[str, Any] = {"console": console or "kept", **services}
    if console or services["issued"] or services["failed"]:
        audit.append(
            store,
            actor=ACTOR,
            action="pki.tls_renewal",
            target="tls",
            outcome="failed" if services["failed"] else "ok",
            details=report,
        )
    if services["failed"]:
        log.warning("TLS renewal failed on: %s", "; ".join(services["failed"]))
    return report
