"""Control-plane facts about hosts for ``store`` checks: data the host itself cannot show.

Today these are backup facts, read from the backup policies (``folders.backup``,
through the backup engine's answer handed over by the composition root) and
from the runs table:

* ``backup.has_policy`` — a (non-local) dataset of the backup policy selects the host;
* ``backup.last_success`` — the end time of the newest succeeded run of kind
  ``backup`` whose target (or ``params.host``) is the host;
* ``pki.ssh_ca`` and ``pki.x509_chain`` — the control plane's SSH CA public
  lines and its X.509 intermediate + root (PEM), the trust the certificate
  controls verify hosts against; absent until ``egov ca init``;
* ``network.zoned``, ``network.flows``, ``network.verify`` -- the network
  engine's answer (network.yml and the newest whole-network verify, see
  :mod:`controlplane.network.facts`), handed over like the backup one. A
  network.yml that does not load gives every host ``network.error``, which
  the network controls report as ``error`` with its message.

A policy folder that does not load makes every host's facts unknown (None):
the backup controls then report ``error`` with that reason instead of
quietly becoming not applicable.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.store.models import Run, RunStatus

if TYPE_CHECKING:
    from controlplane.config import Config
    from controlplane.inventory import Host, Inventory
    from controlplane.store import Store

log = logging.getLogger(__name__)

BACKUP_KIND = "backup"


def backed_up_hosts(config: Config, inventory: Inventory) -> set[str] | None:
    """Names of hosts some backup dataset selects; None when the policy cannot be read.

    The backup engine reads its policy (:func:`controlplane.backup.coverage.backed_up_hosts`);
    the composition root provides that answer (:mod:`controlplane.providers`),
    since engines do not import each other. With nothing provided, a site
    with a backup folder gets unknown facts (its backup controls report
    ``error`` saying why), never a quiet "no backup".
    """
    if not Path(config.backup).exists():
        return set()  # a site without backup policies: backup controls are not applicable
    from controlplane import providers

    provided = providers.provided().backed_up_hosts
    if provided is None:
        log.warning("no backup policy reader was provided: backup controls will be errors")
        return None
    return provided(config, inventory)


def last_backup_success(session: Session, hosts: Iterable[str]) -> dict[str, Any]:
    """Per host, the finish time of its newest succeeded backup run (hosts without one are left out)."""
    wanted = set(hosts)
    found: dict[str, Any] = {}
    query = (
        select(Run)
        .where(Run.kind == BACKUP_KIND, Run.status == RunStatus.SUCCEEDED)
        .order_by(Run.finished_at.desc())
        .limit(5000)
    )
    for run in session.scalars(query):
        host = (run.params or {}).get("host") or run.target
        if host in wanted and host not in found and run.finished_at is not None:
            found[host] = run.finished_at
    return found


def pki_facts(config: Config) -> dict[str, str]:
    """The CA's public files (``STATE/pki``), by fact name; missing or unreadable files are left out."""
    found = {}
    for fact, name in (("pki.ssh_ca", "ssh_ca.pub"), ("pki.x509_chain", "chain.pem")):
        try:
            text = (config.state_dir / "pki" / name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if text.strip():
            found[fact] = text
    return found


def network_facts(config: Config, store: Store, inventory: Inventory) -> dict[str, dict[str, Any]]:
    """The network engine's facts by host ({} when nothing was provided or there is no network.yml)."""
    from controlplane import providers
    from controlplane.errors import EgovError

    provided = providers.provided().network_facts
    if provided is None:
        return {}
    try:
        return provided(config, store, inventory)
    except EgovError as error:
        log.error("network facts unavailable: %s", error)
        reason = f"the network model does not load: {error}"
        return {host.name: {"network.zoned": True, "network.error": reason} for host in inventory.hosts}


def store_facts(
    config: Config, store: Store, inventory: Inventory, hosts: Iterable[Host]
) -> dict[str, dict[str, Any] | None]:
    """The facts of every host, by host name (None: the control plane's data could not be read)."""
    host_list = list(hosts)
    backed_up = backed_up_hosts(config, inventory)
    if backed_up is None:
        return {host.name: None for host in host_list}
    with store.session() as session:
        last = last_backup_success(session, [h.name for h in host_list])
    pki = pki_facts(config)
    network = network_facts(config, store, inventory)
    facts: dict[str, dict[str, Any] | None] = {}
    for host in host_list:
        values: dict[str, Any] = {"backup.has_policy": host.name in backed_up, **pki, **network.get(host.name, {})}
        if host.name in last:
            values["backup.last_success"] = last[host.name]
        facts[host.name] = values
    return facts
