"""Answers one room needs from another, handed over where the process is assembled.

The core does not import the engines, nor an engine another engine's
modules; yet three answers cross those walls:

* the audit log anchors its head on the backup centers, in the control
  plane's own folder there, whose place the **backup** engine knows;
* retention thins the **monitoring** engine's history tables (the delivery
  log, probe history) and closes its intake audit windows;
* the **compliance** engine's backup controls ask which hosts a backup
  policy selects;
* scheduled backups wait while ``egov bootstrap`` (a face-level orchestrator)
  is building the lab: the **backup** engine asks whether one is running;
* the **monitoring** engine's loop feeds the **slo** engine (burn-rate
  rules join its spec, rollups and incidents follow each step), which is
  built on monitoring and so cannot be imported by it;
* the **compliance** engine's network controls and the **monitoring**
  engine's path-violation alert read the **network** engine's stored verifies,
  and a succeeded ``egov provision`` (the **automation** engine) is followed
  by a verify;
* ``provision.yml``'s network roles load each gateway's boundary ruleset and
  the hosts' routes, which the **network** engine renders from the flow file
  (handed to every playbook run as extra variables, like the next one);
* ``provision.yml``'s backup_center role sends the **backup** engine's
  account set-up program to the centers: the **automation** engine hands
  every playbook run its path as an extra variable (nothing provided: the
  role's default, the same file next to the playbooks).

The composition root (:func:`controlplane.cli.wiring.wire`, run by the ``egov``
command group, which ``egov serve`` and its forked workers go through, and by
the console's app factory) provides each answer once at start; the consumer
asks here and says plainly what it does when nothing was provided (a piece
built directly, as a test does). Persisted scheduler jobs carry only the
egov.yml path, so a process-wide hand-over is what reaches them.

This module imports nothing heavy (types only), so providing costs a CLI
command nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import datetime as dt

    from controlplane.audit.anchor import RemoteLog
    from controlplane.config import Config
    from controlplane.inventory import Inventory
    from controlplane.retention import History
    from controlplane.store import Store

CenterFolders = Callable[["Config"], "tuple[list[RemoteLog], list[str]]"]
"""The control plane's folder on each backup center (``path`` is the folder), or notes saying why there is none."""

BackedUpHosts = Callable[["Config", "Inventory"], "set[str] | None"]
"""Names of the hosts some backup dataset selects; None when the policy cannot be read."""

Histories = Callable[[], "tuple[History, ...]"]
"""The engines' history tables retention thins by age (a function: their models load only when retention runs)."""

AfterRetention = Callable[["Store"], "dict[str, int]"]
"""Work the scheduled retention job does after thinning (counts by name, added to its result)."""

BootstrapRun = Callable[["Store"], "int | None"]
"""The id of the ``egov bootstrap`` run in progress, if any."""

MonitorCompanion = Callable[[object], "Companion"]
"""Attaches to a new monitoring Monitor (may add rules to its spec); the result observes every step.

Typed ``object``: the core does not know the monitoring engine's types (the
companion and the Monitor know each other)."""

PlaybookPrograms = Callable[[], "dict[str, str]"]
"""Other engines' programs the playbooks send to hosts, as extra variables (name -> absolute path)."""

NetworkFacts = Callable[["Config", "Store", "Inventory"], "dict[str, dict[str, Any]]"]
"""Per host, the network facts of the compliance controls ({} without network.yml); ConfigError when it is bad."""

NetworkReport = Callable[["Store"], "dict[str, Any] | None"]
"""The newest whole-network verify as its JSON document (None: none stored yet)."""

AfterProvision = Callable[["Config", "Store", int, str], "list[str]"]
"""Work after a succeeded (not --check) provision run, given its run id and actor: lines for the run's output."""

NetworkVariables = Callable[["Config"], "dict[str, Any]"]
"""The network's extra variables for playbooks (egov_network_rulesets, egov_network_hosts; {} without network.yml)."""


class Companion(Protocol):
    """What follows a Monitor's steps (the service levels): called after each evaluation."""

    def observe(self, monitor: object, now: dt.datetime) -> None: ...


@dataclass
class Provided:
    """What the composition root handed over (empty: nothing was)."""

    center_folders: CenterFolders | None = None
    backed_up_hosts: BackedUpHosts | None = None
    histories: Histories | None = None
    after_retention: tuple[AfterRetention, ...] = field(default_factory=tuple)
    bootstrap_run: BootstrapRun | None = None
    playbook_programs: PlaybookPrograms | None = None
    monitor_companion: MonitorCompanion | None = None
    network_facts: NetworkFacts | None = None
    network_report: NetworkReport | None = None
    after_provision: tuple[AfterProvision, ...] = field(default_factory=tuple)
    network_variables: NetworkVariables | None = None


_lock = threading.Lock()
_provided = Provided()


def provide(
    *,
    center_folders: CenterFolders | None = None,
    backed_up_hosts: BackedUpHosts | None = None,
    histories: Histories | None = None,
    after_retention: tuple[AfterRetention, ...] = (),
    bootstrap_run: BootstrapRun | None = None,
    playbook_programs: PlaybookPrograms | None = None,
    monitor_companion: MonitorCompanion | None = None,
    network_facts: NetworkFacts | None = None,
    network_report: NetworkReport | None = None,
    after_provision: tuple[AfterProvision, ...] = (),
    network_variables: NetworkVariables | None = None,
) -> None:
    """Replace what is provided (the composition root calls this once; tests call it with nothing to reset)."""
    global _provided
    with _lock:
        _provided = Provided(
            center_folders,
            backed_up_hosts,
            histories,
            tuple(after_retention),
            bootstrap_run,
            playbook_programs,
            monitor_companion,
            network_facts,
            network_report,
            tuple(after_provision),
            network_variables,
        )


def provided() -> Provided:
    """What was provided so far."""
    with _lock:
        return _provided


def bootstrap_run(store: Store) -> int | None:
    """The ``egov bootstrap`` run in progress, if any (None too when nothing was provided: nothing is waited for)."""
    finder = provided().bootstrap_run
    return None if finder is None else finder(store)


def playbook_variables() -> dict[str, str]:
    """The program paths provided for playbooks (empty when nothing was: the roles' defaults apply)."""
    programs = provided().playbook_programs
    return {} if programs is None else programs()


def network_variables(config: Config) -> dict[str, Any]:
    """The network's variables for playbooks (empty when nothing was provided: the network roles skip themselves).

    Raises ConfigError (exit 2) when the flow file is bad: a boundary is
    never provisioned from a file that does not validate.
    """
    variables = provided().network_variables
    return {} if variables is None else variables(config)


def after_provision(config: Config, store: Store, run_id: int, actor: str) -> list[str]:
    """Run what follows a succeeded provision (the network verify); its lines (none when nothing was provided).

    A failure of one piece is a line saying so, never an exception: the
    hosts are provisioned whatever a follow-up finds.
    """
    lines: list[str] = []
    for follow_up in provided().after_provision:
        try:
            lines += follow_up(config, store, run_id, actor)
        except Exception as error:  # a follow-up's failure must not turn a provisioned run into a failed one
            lines.append(f"after provision: {getattr(follow_up, '__name__', 'follow-up')} failed: {error}")
    return lines
