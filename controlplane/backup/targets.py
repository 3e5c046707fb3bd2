"""Where every dataset's backups live: the one place a (dataset, host) unit is resolved to its repositories.

A policy's dataset runs on every inventory host its pattern selects (or on
the control plane itself when it is ``local``); each such unit has one
repository per backup center, laid out as documented in
:mod:`controlplane.backup` (one per site, host and dataset), and one
password secret shared by both. :class:`Resolver` makes the units once per
policy, inventory and active center; the engine's context, the read-only
console view, the scheduler's planning and the policy checks all ask it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from controlplane.errors import BadInputError

from .policy import CONTROLPLANE, Center, Dataset, Policy

if TYPE_CHECKING:
    from controlplane.inventory import Inventory

# The vault's rule for secret names (controlplane.vault.SECRET_NAME).
_SECRET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
CENTER_NAMES = ("primary", "secondary")


@dataclass(frozen=True)
class BackupTarget:
    """One unit of scheduling: a dataset on one host, with its repository on each center.

    ``repository`` is the one on the active center (where backups, checks,
    prunes, restores and drills go); ``primary_repository`` and
    ``secondary_repository`` (None without a secondary center) are what an
    off-site copy reads and writes.
    """

    dataset: Dataset
    host: str
    site: str
    repository: str
    password_secret: str
    primary_repository: str = ""
    secondary_repository: str | None = None

    def repository_on(self, center: str) -> str:
        """The unit's repository on the ``primary`` or ``secondary`` center.

        Raises BadInputError when that center is not defined.
        """
        location = self.primary_repository if center == "primary" else self.secondary_repository
        if center not in CENTER_NAMES or not location:
            raise BadInputError(f"no {center} backup center is defined or resolvable (centers.{center}, inventory)")
        return location


def password_secret_name(site: str, host: str, dataset: str) -> str:
    """Return the vault secret holding one repository's password.

    ``restic:<site>:<host>:<dataset>``. Raises BadInputError when the name
    would break the vault's rules (too long).
    """
    name = f"restic:{site}:{host}:{dataset}"
    if not _SECRET_NAME.match(name):
        raise BadInputError(f"secret name {name!r} is longer than the vault allows (128)")
    return name


def repository_url(center: Center, address: str, site: str, host: str, dataset: str) -> str:
    """Return the restic repository location of a dataset on a host.

    ``sftp:USER@ADDRESS:PATH`` for port 22, else ``sftp://USER@ADDRESS:PORT//PATH``
    (restic's form with a port; IPv6 addresses in brackets), with the
    center's address from the inventory. Raises BadInputError for an invalid
    SFTP account.
    """
    user = center.sftp_user(site)
    path = center.repository_path(site, host, dataset)
    if center.port == 22 and ":" not in address:
        return f"sftp:{user}@{address}:{path}"
    where = f"[{address}]" if ":" in address else address
    return f"sftp://{user}@{where}:{center.port}/{path}"


class Resolver:
    """The units of a policy on an inventory, with the active center's repository first; cached per dataset.

    Cheap to build (nothing is resolved until asked); one dataset's units
    cost one inventory selection.
    """

    def __init__(self, policy: Policy, inventory: Inventory, active: str = "primary") -> None:
        self.policy = policy
        self.inventory = inventory
        self.active = active
        self._targets: dict[str, list[BackupTarget]] = {}

    def center(self, name: str | None = None) -> Center:
        """The ``primary`` or ``secondary`` center (default: the active one).

        Raises BadInputError when the policy does not define it.
        """
        name = name or self.active
        center = self.policy.primary if name == "primary" else self.policy.secondary if name == "secondary" else None
        if center is None:
            raise BadInputError(f"no {name} backup center is defined (centers.{name} in backup/*.yml)")
        return center

    def address(self, center: Center) -> str:
        """The center's address from the inventory (BadInputError when it is not an inventory host)."""
        return str(self.inventory.host(center.host).address)

    def targets(self, dataset: Dataset) -> list[BackupTarget]:
        """Every (dataset, host) unit of a dataset.

        Raises BadInputError when the pattern matches nothing, the active
        center is undefined or not in the inventory, or an account or secret
        name is invalid.
        """
        if dataset.name not in self._targets:
            self._targets[dataset.name] = self._resolve(dataset)
        return self._targets[dataset.name]

    def _resolve(self, dataset: Dataset) -> list[BackupTarget]:
        if self.active == "primary" and self.policy.primary is None:
            raise BadInputError("no backup center is defined (centers.primary)")
        active = self.center()
        address = self.address(active)
        other_name = "secondary" if self.active == "primary" else "primary"
        other = self.policy.secondary if other_name == "secondary" else self.policy.primary
        if dataset.local:
            hosts = [(CONTROLPLANE, CONTROLPLANE)]
        else:
            hosts = [(host.name, host.site) for host in self.inventory.select(dataset.hosts)]
        found = []
        for host, site in hosts:
            locations = {self.active: repository_url(active, address, site, host, dataset.name)}
            if other is not None:
                locations[other_name] = self._other(other, site, host, dataset.name)
            found.append(
                BackupTarget(
                    dataset=dataset,
                    host=host,
                    site=site,
                    repository=locations[self.active],
                    password_secret=password_secret_name(site, host, dataset.name),
                    primary_repository=locations.get("primary") or "",
                    secondary_repository=locations.get("secondary"),
                )
            )
        return found

    def _other(self, center: Center, site: str, host: str, dataset: str) -> str | None:
        """The unit's repository on the inactive center; None when that center cannot be resolved.

        Only off-site copies use it, and they name the problem
        (:meth:`BackupTarget.repository_on`); the policy checks report a
        center outside the inventory on their own.
        """
        try:
            return repository_url(center, self.address(center), site, host, dataset)
        except BadInputError:
            return None

    def select(self, dataset: str | None = None, host: str | None = None) -> list[BackupTarget]:
        """The units matching an optional dataset name and host name.

        Raises BadInputError for an unknown dataset, or when nothing matches.
        """
        datasets = [self.policy.dataset(dataset)] if dataset else list(self.policy.datasets)
        found = [t for d in datasets for t in self.targets(d) if host is None or t.host == host]
        if not found:
            where = f"dataset {dataset!r}" if dataset else "any dataset"
            raise BadInputError(f"host {host!r} is not a host of {where} in the backup policy")
        return found

    def target(self, dataset: str, host: str | None) -> BackupTarget:
        """Exactly one unit; ``host`` may be omitted when the dataset has one host.

        Raises BadInputError when it is ambiguous or unknown.
        """
        found = self.select(dataset, host)
        if len(found) > 1:
            hosts = ", ".join(t.host for t in found)
            raise BadInputError(f"dataset {dataset!r} runs on several hosts ({hosts}): give --host")
        return found[0]


def targets_of(policy: Policy, inventory: Inventory, dataset: Dataset, active: str = "primary") -> list[BackupTarget]:
    """Return the (dataset, host) units of one dataset with their repositories (see :class:`Resolver`).

    Raises BadInputError as :meth:`Resolver.targets`.
    """
    return Resolver(policy, inventory, active).targets(dataset)
