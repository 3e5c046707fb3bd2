"""The composition root's hand-overs: each answer one room needs from another (:mod:`controlplane.providers`).

Called at the start of every ``egov`` command (``egov serve`` and its forked
workers included) and by the console's app factory, so the scheduler's
persisted jobs, the CLI and the console all see the same answers. Each
provided function imports its engine only when first called, so wiring costs
a CLI command nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from controlplane import providers

if TYPE_CHECKING:
    from controlplane.audit.anchor import RemoteLog
    from controlplane.config import Config
    from controlplane.inventory import Inventory
    from controlplane.providers import Companion
    from controlplane.retention import History
    from controlplane.store import Store


def control_plane_folders(config: Config) -> tuple[list[RemoteLog], list[str]]:
    """The audit log's anchors go to the control plane's folder on each backup center (the backup engine's layout)."""
    from controlplane.backup.own_folders import control_plane_folders as backup_folders

    return backup_folders(config)


def backed_up_hosts(config: Config, inventory: Inventory) -> set[str] | None:
    """Compliance's backup controls apply to the hosts a backup dataset selects (the backup engine reads its policy)."""
    from controlplane.backup.coverage import backed_up_hosts as covered

    return covered(config, inventory)


def close_intake_windows(store: Store) -> dict[str, int]:
    """After retention, the scheduled job closes the monitoring intake's ended audit windows."""
    from controlplane.monitoring.retention import close_intake_windows as close

    return {"intake_windows_closed": close(store)}


def bootstrap_run(store: Store) -> int | None:
    """Scheduled backups wait while ``egov bootstrap`` builds the lab (it backs the data up itself)."""
    from controlplane.bootstrap import in_progress

    return in_progress(store)


def histories() -> tuple[History, ...]:
    """Retention thins the monitoring engine's delivery log and probe history too."""
    from controlplane.monitoring.retention import HISTORIES

    return HISTORIES


def playbook_programs() -> dict[str, str]:
    """provision.yml sends the backup engine's center set-up program (a standard-library script) to the centers."""
    from pathlib import Path

    from controlplane.backup import center_setup

    return {"egov_center_setup_program": str(Path(center_setup.__file__).resolve())}


def service_levels(monitor: object) -> Companion:
    """Every monitor counts the service levels of slo.yml next to its spec (the slo engine builds on monitoring)."""
    from controlplane.monitoring.service import Monitor
    from controlplane.slo.live import ServiceLevels

    assert isinstance(monitor, Monitor)  # noqa: S101 - providers hands over monitoring's own Monitor
    return ServiceLevels.attach(monitor)


def network_facts(config: Config, store: Store, inventory: Inventory) -> dict[str, dict[str, Any]]:
    """Compliance's network controls read network.yml and the newest verify (the network engine's answer)."""
    from controlplane.network.facts import compliance_facts

    return compliance_facts(config, store, inventory)


def network_report(store: Store) -> dict[str, Any] | None:
    """Monitoring's NetworkPathViolation alert reads the newest whole-network verify."""
    from controlplane.network.facts import latest_document

    return latest_document(store)


def verify_after_provision(config: Config, store: Store, run_id: int, actor: str) -> list[str]:
    """A succeeded provision is followed by a network verify (the automation engine does not know the network one)."""
    from controlplane.network.watch import after_provision

    return after_provision(config, store, run_id, actor)


def network_variables(config: Config) -> dict[str, Any]:
    """Playbooks get the gateways' boundary rulesets and the hosts' data-plane places (the network engine's)."""
    from controlplane.network.playbook_vars import network_variables as variables

    return variables(config)


def wire() -> None:
    """Provide every hand-over (idempotent: the same answers each time)."""
    providers.provide(
        center_folders=control_plane_folders,
        backed_up_hosts=backed_up_hosts,
        histories=histories,
        after_retention=(close_intake_windows,),
        bootstrap_run=bootstrap_run,
        playbook_programs=playbook_programs,
        monitor_companion=service_levels,
        network_facts=network_facts,
        network_report=network_report,
        after_provision=(verify_after_provision,),
        network_variables=network_variables,
    )
