"""Control-plane facts about hosts for ``store`` checks: data the host itself cannot show.

Today these are backup facts, read from the backup policies (``folders.backup``)
and from the runs table:

* ``backup.has_policy`` — a (non-local) dataset of the backup policy selects the host;
* ``backup.last_success`` — the end time of the newest succeeded run of kind
  ``backup`` whose target (or ``params.host``) is the host.

A policy folder that does not load makes every host's facts unknown (None):
the backup controls then report ``error`` with that reason instead of
quietly becoming not applicable.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.store.models import Run, RunStatus

log = logging.getLogger(__name__)

BACKUP_KIND = "backup"


def backed_up_hosts(config: Any, inventory: Any) -> set[str] | None:
    """Names of hosts some backup dataset selects; None when the policy cannot be read."""
    if not Path(config.backup).exists():
        return set()  # a site without backup policies: backup controls are not applicable
    try:
        from controlplane.backup.policy import load_policies

        policy = load_policies(config.backup, inventory)
    except Exception as error:  # an invalid or missing policy module: facts unknown, not "no backup"
        log.warning("backup policy unreadable, backup controls will be errors: %s", error)
        return None
    names: set[str] = set()
    for dataset in policy.datasets:
        if dataset.local or not dataset.hosts:
            continue
        try:
            names |= {host.name for host in inventory.select(dataset.hosts)}
        except Exception:  # noqa: S112 - a pattern matching nothing selects no host
            continue
    return names


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


def store_facts(config: Any, store: Any, inventory: Any, hosts: Iterable[Any]) -> dict[str, dict[str, Any] | None]:
    """The facts of every host, by host name (None: the control plane's data could not be read)."""
    host_list = list(hosts)
    backed_up = backed_up_hosts(config, inventory)
    if backed_up is None:
        return {host.name: None for host in host_list}
    with store.session() as session:
        last = last_backup_success(session, [h.name for h in host_list])
    facts: dict[str, dict[str, Any] | None] = {}
    for host in host_list:
        values: dict[str, Any] = {"backup.has_policy": host.name in backed_up}
        if host.name in last:
            values["backup.last_success"] = last[host.name]
        facts[host.name] = values
    return facts
