"""Everything a backup operation needs, loaded once: config, store, vault, inventory, policy, SSH.

:class:`BackupContext` resolves a dataset and host to its repository (the
layout of :mod:`controlplane.backup`), gives the executor for the host where
restic must run, the :class:`~controlplane.backup.commands.Repo` as that host
sees it (its own backup key and pinned center key), and the repository's
password from the vault, created on first use.
"""

from __future__ import annotations

import dataclasses
import secrets as secrets_module
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controlplane.errors import BadInputError
from controlplane.ssh import SSHPool, Target

from . import commands
from .executor import Executor, LocalExecutor, RemoteExecutor
from .policy import CONTROLPLANE, BackupTarget, Center, Dataset, Policy, load_policies, repository_url, targets_of

PASSWORD_BYTES = 32


@dataclass
class BackupContext:
    """The loaded pieces; build it with :func:`open_context` and close it when done."""

    config: Any
    store: Any
    vault: Any
    inventory: Any
    policy: Policy
    pool: SSHPool
    restic_remote: str
    restic_local: str
    actor: str = "system"
    trigger: str = "cli"
    active: str = "primary"
    _targets: dict[str, list[BackupTarget]] = field(default_factory=dict)

    # -- resolution --------------------------------------------------------
    @property
    def center(self) -> Center:
        """The active backup center (:mod:`.centers`). Raises BadInputError when the policy lacks it."""
        return self.named_center(self.active)

    def named_center(self, name: str) -> Center:
        """The policy's ``primary`` or ``secondary`` center. Raises BadInputError when it is not defined."""
        center = self.policy.primary if name == "primary" else self.policy.secondary if name == "secondary" else None
        if center is None:
            raise BadInputError(f"no {name} backup center is defined (centers.{name} in backup/*.yml)")
        return center

    def center_address(self, center: Center | None = None) -> str:
        """The center's address from the inventory."""
        return str(self.inventory.host((center or self.center).host).address)

    def targets(self, dataset: Dataset) -> list[BackupTarget]:
        """Every (dataset, host) unit of a dataset, cached."""
        if dataset.name not in self._targets:
            self._targets[dataset.name] = targets_of(self.policy, self.inventory, dataset, self.center)
        return self._targets[dataset.name]

    def target_at(self, target: BackupTarget, center: Center) -> BackupTarget:
        """The same unit with its repository on another center (same password secret)."""
        location = repository_url(center, self.center_address(center), target.site, target.host, target.dataset.name)
        return dataclasses.replace(target, repository=location)

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

    # -- where restic runs ---------------------------------------------------
    def executor(self, host: str) -> Executor:
        """The executor of a host: local for the control plane itself, SSH otherwise."""
        if host == CONTROLPLANE:
            return LocalExecutor(cwd=str(self.config.root))
        return RemoteExecutor(self.pool, Target.from_host(self.inventory.host(host), user=self.config.ssh_user))

    def local_key_dir(self) -> Path:
        """Where the control plane keeps its own backup key and the center's pinned key."""
        return Path(self.config.state_dir) / "backup"

    def repo(self, target: BackupTarget, on_host: str | None = None, retry_lock: bool = True) -> commands.Repo:
        """The Repo of a unit as seen from the host that runs restic (default: the unit's host).

        On the control plane the key and known_hosts live in the state folder;
        on a managed host in the center's ``identity_file``/``known_hosts``.
        """
        host = on_host or target.host
        center = self.seen_from(self.center, host)
        repo = commands.repo_for(
            center,
            self.center_address(),
            target.site,
            target.repository,
            restic=self.restic_local if host == CONTROLPLANE else self.restic_remote,
            retry_lock=target.dataset.retry_lock if retry_lock else "",
        )
        return repo

    def seen_from(self, center: Center, host: str) -> Center:
        """The center with the key files as ``host`` has them (the control plane keeps its own)."""
        if host != CONTROLPLANE:
            return center
        keys = self.local_key_dir()
        return Center(
            **{**center.__dict__, "identity_file": str(keys / "id_ed25519"), "known_hosts": str(keys / "known_hosts")}
        )

    def copy_repo(self, target: BackupTarget, center: Center, on_host: str | None = None) -> commands.Repo:
        """The Repo of a unit on ``center`` for ``restic copy`` (ssh words by ``sftp.args``, see commands.copy)."""
        host = on_host or target.host
        return commands.Repo(
            location=self.target_at(target, center).repository,
            restic=self.restic_local if host == CONTROLPLANE else self.restic_remote,
            sftp_args=commands.sftp_args(self.seen_from(center, host)),
            retry_lock=target.dataset.retry_lock,
        )

    # -- passwords -----------------------------------------------------------
    def password(self, target: BackupTarget, create: bool = False) -> str | None:
        """The repository password from the vault; with ``create``, a new random one when missing.

        The new password is stored *before* the repository is initialised, so
        a crash between the two never leaves a repository nobody can open.
        """
        if self.vault.exists(target.password_secret):
            return str(self.vault.get(target.password_secret))
        if not create:
            return None
        value = secrets_module.token_urlsafe(PASSWORD_BYTES)
        self.vault.set(target.password_secret, value)
        return value

    def close(self) -> None:
        """Close the SSH connections (the store belongs to the caller)."""
        self.pool.close()


def open_context(
    config: Any, store: Any, vault: Any, *, actor: str = "system", trigger: str = "cli", inventory: Any = None
) -> BackupContext:
    """Load the inventory and policies and build a context on an open store and vault.

    Raises ConfigError for invalid policies, BadInputError for policies that
    disagree with the inventory, EgovError when restic is missing.
    """
    from controlplane.inventory import load_inventory
    from controlplane.tools import restic_path

    from .centers import active_center
    from .models import require_tables

    require_tables(store)
    inventory = inventory or load_inventory(Path(config.inventory))
    policy = load_policies(Path(config.backup), inventory)
    local = restic_path()
    # Managed hosts use the policy's restic, else the same path as here
    # (true for the lab, whose hosts see the machine's own files).
    remote = policy.restic or local
    return BackupContext(
        config=config,
        store=store,
        vault=vault,
        inventory=inventory,
        policy=policy,
        pool=SSHPool.from_config(config),
        restic_remote=remote,
        restic_local=local,
        actor=actor,
        trigger=trigger,
        active=active_center(store),
    )
