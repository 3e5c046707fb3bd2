"""Which hosts the backup policy covers: the answer compliance's backup controls are handed.

A host is covered when a dataset that is not the control plane's own
(``local: true``) selects it. Compliance (another engine) does not read the
policy itself: the composition root provides this function
(:mod:`controlplane.providers`).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from controlplane.config import Config
    from controlplane.inventory import Inventory

log = logging.getLogger(__name__)


def backed_up_hosts(config: Config, inventory: Inventory) -> set[str] | None:
    """Names of hosts some backup dataset selects; None when the policy cannot be read (logged)."""
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
