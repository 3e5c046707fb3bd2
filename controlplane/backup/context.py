"""Everything a backup operation needs, loaded once: config, store, vault, inventory, policy, SSH.

:class:`BackupContext` resolves a dataset and host to its repository (the
layout of :mod:`controlplane.backup`), gives the executor for the host where
restic must run, the :class:`~controlplane.backup.commands.Repo` as that host
sees it (its own backup key and pinned center key), and the repository's
password from the vault, created on first use.
"""

from __future__ import annotations

import secrets as secrets_module
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from controlplane.errors import EgovError
from controlplane.ssh import SSHPool, Target

from . import commands
from .executor import Executor, LocalExecutor, RemoteExecutor
from .policy import CONTROLPLANE, Center, Dataset, Policy, load_policies
from .targets import BackupTarget, Resolver

if TYPE_CHECKING:
    from controlplane.config import Config
    from controlplane.inventory import Inventory
    from controlplane.store import Store
    from controlplane.vault import Vault

PASSWORD_BYTES = 32


@dataclass
class BackupContext:
    """The loaded pieces; build it with :func:`open_context` and close it when done."""

    config: Config
    store: Store
    vault: Vault | None  # None: a context that only plans (the scheduler's sync)
    inventory: Inventory
    policy: Policy
    pool: SSHPool
    restic_remote: str
    restic_local: str
    actor: str = "system"
    trigger: str = "cli"
    active: str = "primary"
    _resolver: Resolver | None = None

    # -- resolution (all of it in :class:`Resolver`) --------------------------
    @property
    def resolver(self) -> Resolver:
        """The policy's units on the active center, made on first use."""
        if self._resolver is None or self._resolver.active != self.active:
            self._resolver = Resolver(self.policy, self.inventory, self.active)
        return self._resolver

    @property
    def center(self) -> Center:
        """The active backup center (:mod:`.centers`). Raises BadInputError when the policy lacks it."""
        return self.resolver.center()

    def named_center(self, name: str) -> Center:
        """The policy's ``primary`` or ``secondary`` center. Raises BadInputError when it is not defined."""
        return self.resolver.center(name)

    def center_address(self, center: Center | None = None) -> str:
        """The center's address from the inventory."""
        return self.resolver.address(center or self.center)

    def targets(self, dataset: Dataset) -> list[BackupTarget]:
        """Every (dataset, host) unit of a dataset (:meth:`Resolver.targets`)."""
        return self.resolver.targets(dataset)

    def select(self, dataset: str | None = None, host: str | None = None) -> list[BackupTarget]:
        """The units matching an optional dataset and host (:meth:`Resolver.select`; BadInputError when none)."""
        return self.resolver.select(dataset, host)

    def target(self, dataset: str, host: str | None) -> BackupTarget:
        """Exactly one unit (:meth:`Resolver.target`; BadInputError when ambiguous or unknown)."""
        return self.resolver.target(dataset, host)

    # -- where restic runs ---------------------------------------------------
    def executor(self, host: str) -> Executor:
        """The executor of a host: local for the control plane itself, SSH otherwise."""
        if host == CONTROLPLANE:
            return LocalExecutor(cwd=str(self.config.root))
        return RemoteExecutor(self.pool, Target.from_host(self.inventory.host(host), user=self.config.ssh_user))

    def local_key_dir(self) -> Path:
        """Where the control plane keeps its own backup key and the center's pinned key."""
        return Path(self.config.state_dir) / "backup"

    def repo(
        self, target: BackupTarget, on_host: str | None = None, retry_lock: bool = True, *, center: str | None = None
    ) -> commands.Repo:
        """The Repo of a unit on a center (default: the active one) as seen from the host that runs restic.

        On the control plane the key and known_hosts live in the state folder;
        on a managed host in the center's ``identity_file``/``known_hosts``.
        ``sftp.command`` names the center, so restic needs no other ssh words.
        """
        host = on_host or target.host
        name = center or self.active
        where = self.named_center(name)
        return commands.repo_for(
            self.seen_from(where, host),
            self.center_address(where),
            target.site,
            target.repository_on(name) if center else target.repository,
            restic=self._restic(host),
            retry_lock=target.dataset.retry_lock if retry_lock else "",
        )

    def copy_repo(self, target: BackupTarget, center: str, on_host: str | None = None) -> commands.Repo:
        """The Repo of a unit on the ``primary`` or ``secondary`` center for ``restic copy``.

        Its ssh words go by ``sftp.args`` (see :func:`commands.copy`): one
        ``sftp.command`` cannot name both centers.
        """
        host = on_host or target.host
        return commands.Repo(
            location=target.repository_on(center),
            restic=self._restic(host),
            sftp_args=commands.sftp_args(self.seen_from(self.named_center(center), host)),
            retry_lock=target.dataset.retry_lock,
        )

    def _restic(self, host: str) -> str:
        return self.restic_local if host == CONTROLPLANE else self.restic_remote

    def seen_from(self, center: Center, host: str) -> Center:
        """The center with the key files as ``host`` has them (the control plane keeps its own)."""
        if host != CONTROLPLANE:
            return center
        keys = self.local_key_dir()
        return Center(
            **{**center.__dict__, "identity_file": str(keys / "id_ed25519"), "known_hosts": str(keys / "known_hosts")}
        )

    # -- passwords -----------------------------------------------------------
    def password(self, target: BackupTarget, create: bool = False) -> str | None:
        """The repository password from the vault; with ``create``, a new random one when missing.

        The new password is stored *before* the repository is initialised, so
        a crash between the two never leaves a repository nobody can open.
        """
        if self.vault is None:
            raise EgovError("this backup context was opened without a vault: it can plan, not run")
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
    config: Config,
    store: Store,
    vault: Vault | None,
    *,
    actor: str = "system",
    trigger: str = "cli",
    inventory: Inventory | None = None,
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
