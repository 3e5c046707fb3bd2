"""What a runbook reaches outside the control plane, behind small interfaces.

The engine hands every helper one :class:`Adapters` bundle, so tests (and a
future distributed worker) can replace any part, and so a runbook that needs
an engine still being built (the backup engine's restore, the playbook
runner, the alert receivers) fails its step with a clear "unavailable"
message instead of failing to load.

* :class:`HostRunner`: run an argv on a host (default: SSH with the pool,
  pinned host keys, argv quoted per word).
* :class:`BackupAdapter`: restore a dataset, verify it, switch the backup
  center, take a backup now.
* :class:`Notifier`: tell people (default: the audit log and the journal).
* :class:`PlaybookRunner`: run a playbook on some hosts.
* :class:`SecretStore`: the vault (list, read, write secrets), for rotation.
* :class:`NetworkAdapter`: the zone gateway of a host, isolation rules for its
  boundary, a verify of the host's paths (issue 16).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

from controlplane.errors import EgovError

if TYPE_CHECKING:
    from controlplane.config import Config
    from controlplane.inventory import Host
    from controlplane.store import Store
    from controlplane.vault import Vault


class AdapterUnavailable(EgovError):
    """The engine a helper needs is not available in this installation."""


@dataclass
class HostResult:
    """What a command on a host left (``dry_run`` when it was not run at all)."""

    host: str
    argv: list[str]
    exit_code: int
    stdout: str = ""
    stderr: str = ""
    duration: float = 0.0
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


class HostRunner(Protocol):
    """Runs an argv on an inventory host."""

    def run(self, host: Host, argv: list[str], *, timeout: float, input_text: str | None = None) -> HostResult:
        """Run ``argv`` on ``host`` and return its result; raise on no connection."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


class SSHHostRunner:
    """The default HostRunner: :class:`controlplane.ssh.SSHPool` with the site's key and known_hosts."""

    def __init__(self, config: Config) -> None:
        from controlplane.ssh import SSHPool

        self.config = config
        self.pool = SSHPool.from_config(config)

    def run(self, host: Host, argv: list[str], *, timeout: float, input_text: str | None = None) -> HostResult:
        """Run argv on the host over SSH; raises UnreachableError/HostKeyError when it cannot connect."""
        from controlplane.ssh import Target

        target = Target.from_host(host, user=self.config.ssh_user)
        result = self.pool.run(target, argv, timeout=timeout, input_text=input_text)
        return HostResult(host.name, list(argv), result.exit_code, result.stdout, result.stderr, result.duration)

    def close(self) -> None:
        """Close every pooled SSH connection."""
        self.pool.close()


class BackupAdapter(Protocol):
    """The backup engine as runbooks need it."""

    def unavailable(self) -> str | None:
        """Why the adapter cannot work here, or None when it can."""
        ...

    def restore(
        self, *, dataset: str, source_host: str, target_host: str, restore_dir: str, snapshot: str = "latest"
    ) -> dict[str, Any]:
        """Restore ``source_host``'s snapshot of ``dataset`` into ``restore_dir`` on ``target_host``."""
        ...

    def verify(self, *, dataset: str, target_host: str, restore_dir: str) -> dict[str, Any]:
        """Verify a restore (manifest, checks of the dataset's policy); raise when it does not hold."""
        ...

    def switch_center(self, *, to_center: str) -> dict[str, Any]:
        """Point every backup policy at ``to_center``; return {"previous": name}."""
        ...

    def backup_now(self, *, dataset: str, host: str) -> dict[str, Any]:
        """Back ``dataset`` of ``host`` up now to the active center; return the snapshot id and center."""
        ...


@dataclass
class UnavailableBackup:
    """A BackupAdapter that says why there is none (every call raises AdapterUnavailable)."""

    reason: str

    def unavailable(self) -> str | None:
        return self.reason

    def _refuse(self, **_kwargs: Any) -> dict[str, Any]:
        raise AdapterUnavailable(f"backup engine unavailable: {self.reason}")

    restore = verify = switch_center = backup_now = _refuse


# The backup engine's runbook facade and the functions this adapter needs from it.
BACKUP_ENGINE_MODULE = "controlplane.backup.runbook_facade"
BACKUP_ENGINE_FUNCTIONS = ("restore", "verify_restore", "switch_center", "backup_now")


class EngineBackupAdapter:
    """A BackupAdapter over the backup engine's facade (:mod:`controlplane.backup.runbook_facade`).

    When the module cannot be imported or lacks a function of
    ``BACKUP_ENGINE_FUNCTIONS`` (a trimmed installation), every call raises
    AdapterUnavailable naming what is missing.
    """

    def __init__(self, config: Config, store: Store) -> None:
        self.config, self.store = config, store
        self._engine: ModuleType | None = None
        self._reason: str | None = None
        try:
            engine = importlib.import_module(BACKUP_ENGINE_MODULE)
        except ImportError as error:
            self._reason = f"{BACKUP_ENGINE_MODULE} cannot be imported ({error})"
            return
        missing = [name for name in BACKUP_ENGINE_FUNCTIONS if not callable(getattr(engine, name, None))]
        if missing:
            self._reason = f"{BACKUP_ENGINE_MODULE} lacks {', '.join(missing)}"
        else:
            self._engine = engine

    def unavailable(self) -> str | None:
        return self._reason

    def _call(self, name: str, **kwargs: Any) -> dict[str, Any]:
        if self._engine is None:
            raise AdapterUnavailable(f"backup engine unavailable: {self._reason}")
        return dict(getattr(self._engine, name)(self.config, self.store, **kwargs) or {})

    def restore(
        self, *, dataset: str, source_host: str, target_host: str, restore_dir: str, snapshot: str = "latest"
    ) -> dict[str, Any]:
        return self._call(
            "restore",
            dataset=dataset,
            source_host=source_host,
            target_host=target_host,
            restore_dir=restore_dir,
            snapshot=snapshot,
        )

    def verify(self, *, dataset: str, target_host: str, restore_dir: str) -> dict[str, Any]:
        return self._call("verify_restore", dataset=dataset, target_host=target_host, restore_dir=restore_dir)

    def switch_center(self, *, to_center: str) -> dict[str, Any]:
        return self._call("switch_center", to_center=to_center)

    def backup_now(self, *, dataset: str, host: str) -> dict[str, Any]:
        return self._call("backup_now", dataset=dataset, host=host)


class Notifier(Protocol):
    """Tells people what a runbook does."""

    def notify(self, message: str, *, severity: str, run_id: int | None) -> str:
        """Deliver ``message``; return where it went."""
        ...


class AuditNotifier:
    """The default Notifier: an audit record (alert receivers come with the monitoring engine)."""

    def __init__(self, store: Store, actor: str) -> None:
        self.store, self.actor = store, actor

    def notify(self, message: str, *, severity: str, run_id: int | None) -> str:
        from controlplane import audit

        audit.append(
            self.store,
            actor=self.actor,
            action="runbook.notify",
            target=f"run:{run_id}",
            details={"severity": severity, "message": message[:2000]},
            site=audit.run_site(self.store, run_id),
        )
        return "audit log"


class PlaybookRunner(Protocol):
    """Runs a playbook through the automation engine."""

    def unavailable(self) -> str | None:
        """Why playbooks cannot run here, or None when they can."""
        ...

    def run(self, playbook: str, *, limit: str, extra_vars: dict[str, Any], check: bool) -> dict[str, Any]:
        """Run ``playbook`` on the hosts of ``limit``; return its run id and status; raise on failure."""
        ...


PLAYBOOK_ENGINE_MODULE = "controlplane.automation.engine"


class AutomationPlaybookRunner:
    """A PlaybookRunner over :func:`controlplane.automation.engine.run_playbook`.

    The automation engine runs its known playbooks by kind (``provision``,
    ``harden``); a playbook is named by kind or file name. Each call is its
    own automation run (with its own host locks), linked from the journal by
    its run id.
    """

    def __init__(self, config: Config, store: Store, actor: str) -> None:
        self.config, self.store, self.actor = config, store, actor
        self._engine: ModuleType | None = None
        self._reason: str | None = None
        try:
            self._engine = importlib.import_module(PLAYBOOK_ENGINE_MODULE)
        except ImportError as error:
            self._reason = f"{PLAYBOOK_ENGINE_MODULE} cannot be imported ({error})"
            return
        if not callable(getattr(self._engine, "run_playbook", None)):
            self._reason = f"{PLAYBOOK_ENGINE_MODULE} has no run_playbook()"

    def unavailable(self) -> str | None:
        return self._reason

    def run(self, playbook: str, *, limit: str, extra_vars: dict[str, Any], check: bool) -> dict[str, Any]:
        if self._reason:
            raise AdapterUnavailable(f"playbook runner unavailable: {self._reason}")
        if extra_vars:
            raise AdapterUnavailable("the automation engine takes no extra vars: put them in the inventory")
        kind = playbook.removesuffix(".yml")
        request = self._engine.PlaybookRequest(kind=kind, limit=limit, check=check, actor=self.actor, trigger="runbook")
        outcome = self._engine.run_playbook(self.config, self.store, request)
        result = dict(outcome.as_dict())
        if outcome.exit_code != 0:
            raise EgovError(f"playbook {kind} on {limit}: run {outcome.run_id} {outcome.status}: {outcome.message}")
        return {"run_id": result["run_id"], "status": result["status"], "hosts": result["hosts"]}


class SecretStore(Protocol):
    """The secrets a runbook may list and rotate (the vault: :class:`controlplane.vault.Vault`)."""

    def names(self) -> list[str]: ...

    def get(self, name: str) -> str: ...

    def set(self, name: str, value: str) -> None: ...

    def delete(self, name: str) -> None: ...


class NetworkAdapter(Protocol):
    """The network engine as runbooks need it (isolate-host)."""

    def unavailable(self) -> str | None:
        """Why the adapter cannot work here, or None when it can."""
        ...

    def boundary_of(self, host: str) -> dict[str, str] | None:
        """``{"gateway", "zone", "address"}`` of the host's zone gateway, or None (no network.yml, no zone)."""
        ...

    def isolation_rules(self, host: str, address: str, note: str = "") -> str:
        """The nft text inserting drop rules for the host's zone address at the top of the boundary."""
        ...

    def isolation_handles(self, listing: str, host: str) -> list[int]:
        """The handles of the host's isolation rules in ``nft -j list chain`` output."""
        ...

    def verify_host(self, host: str) -> dict[str, Any]:
        """Verify the paths from and to the host (a run of its own); its report's JSON document."""
        ...


NETWORK_ENGINE_MODULE = "controlplane.network.runbook_facade"


class EngineNetworkAdapter:
    """A NetworkAdapter over :mod:`controlplane.network.runbook_facade` (unavailable when it does not import)."""

    def __init__(self, config: Config, store: Store, actor: str) -> None:
        self.config, self.store, self.actor = config, store, actor
        self._engine: ModuleType | None = None
        self._reason: str | None = None
        try:
            self._engine = importlib.import_module(NETWORK_ENGINE_MODULE)
        except ImportError as error:
            self._reason = f"{NETWORK_ENGINE_MODULE} cannot be imported ({error})"

    def unavailable(self) -> str | None:
        return self._reason

    def _module(self) -> ModuleType:
        if self._engine is None:
            raise AdapterUnavailable(f"network engine unavailable: {self._reason}")
        return self._engine

    def boundary_of(self, host: str) -> dict[str, str] | None:
        return self._module().boundary_of(self.config, host)

    def isolation_rules(self, host: str, address: str, note: str = "") -> str:
        return str(self._module().isolation_rules(host, address, note))

    def isolation_handles(self, listing: str, host: str) -> list[int]:
        return list(self._module().isolation_handles(listing, host))

    def verify_host(self, host: str) -> dict[str, Any]:
        return dict(self._module().verify_host(self.config, self.store, host, actor=self.actor))


@dataclass
class Adapters:
    """Everything outside the engine a runbook's helpers use."""

    hosts: HostRunner
    backup: BackupAdapter
    notifier: Notifier
    playbooks: PlaybookRunner
    secrets: SecretStore | Callable[[], SecretStore] | None = None  # a function: the vault opens lazily
    extra: dict[str, Any] = field(default_factory=dict)
    network: NetworkAdapter | None = None  # None: runbooks act on hosts only (no gateway, no verify)

    def secret_store(self) -> SecretStore:
        """Return the SecretStore (opening the vault on first use)."""
        if callable(self.secrets) and not hasattr(self.secrets, "names"):
            self.secrets = self.secrets()
        if self.secrets is None:
            raise AdapterUnavailable("no secret store configured")
        return self.secrets  # type: ignore[return-value]

    def availability(self) -> dict[str, str]:
        """Each optional adapter with "available" or why it is not (for the plan)."""
        return {
            "backup": self.backup.unavailable() or "available",
            "playbooks": self.playbooks.unavailable() or "available",
            "network": "not configured" if self.network is None else self.network.unavailable() or "available",
        }

    def close(self) -> None:
        """Release what the adapters hold (SSH connections)."""
        self.hosts.close()


def default_adapters(config: Config, store: Store, actor: str) -> Adapters:
    """The production adapters of a site: SSH, backup engine, audit notifier, automation, vault."""

    def open_vault() -> Vault:
        from controlplane.vault import open_vault as open_site_vault

        return open_site_vault(config, store)

    return Adapters(
        hosts=SSHHostRunner(config),
        backup=EngineBackupAdapter(config, store),
        notifier=AuditNotifier(store, actor),
        playbooks=AutomationPlaybookRunner(config, store, actor),
        secrets=open_vault,
        network=EngineNetworkAdapter(config, store, actor),
    )
