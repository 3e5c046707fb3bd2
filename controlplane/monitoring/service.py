"""The monitor: probes on their intervals, rule evaluation, grouping, delivery — one loop.

Each :meth:`Monitor.step` (every half second in :meth:`Monitor.run_forever`):

1. collects finished probes and starts the checks that are due (probes run
   on the runner's threads, each within its timeout; a wedged host never
   blocks the loop, and a probe stuck past its timeout is reported failed);
2. stores the new results (latest and bounded history);
3. in one store transaction: loads alerts, groups and silences, advances
   the lifecycle, decides notifications and writes them to the outbox;
4. delivers due outbox rows (with retries and backoff).

The latest results are restored from the store on start, so a restart
neither resolves firing alerts for lack of data nor re-sends anything: the
group timers and what was already told live in the store.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from controlplane import providers
from controlplane.monitoring import alerts as lifecycle
from controlplane.monitoring import autorun
from controlplane.monitoring.alert_records import (
    claim_write_lock,
    load_alerts,
    load_groups,
    load_silences,
    save_alerts,
    save_groups,
)
from controlplane.monitoring.delivery import Backoff, Deliverer, enqueue
from controlplane.monitoring.dispatch import Notification, plan
from controlplane.monitoring.probes.runner import ProbeRunner, lab_guard
from controlplane.monitoring.results import ProbeResult, latest_results, save_results
from controlplane.monitoring.rule_runbooks import RunbookCatalog
from controlplane.monitoring.spec import MonitoringSpec, expand_checks
from controlplane.monitoring.spec_loader import load_monitoring
from controlplane.monitoring.suppress import suppression
from controlplane.store.models import utcnow

if TYPE_CHECKING:
    from controlplane.config import Config
    from controlplane.inventory import Inventory
    from controlplane.monitoring.receivers import Sender
    from controlplane.ssh import SSHPool
    from controlplane.store import Store

log = logging.getLogger(__name__)
TICK_SECONDS = 0.5


@dataclass
class StepReport:
    """What one step did: new results, notifications queued, deliveries attempted."""

    results: list[ProbeResult] = field(default_factory=list)
    notifications: list[Notification] = field(default_factory=list)
    deliveries: list[dict[str, Any]] = field(default_factory=list)


class Monitor:
    """Probes, alert engine and delivery for one site configuration.

    The monitoring spec, inventory, SSH pool, secret resolver, senders,
    clocks and the function that starts alert-driven runbooks can be
    injected (tests and the benchmark do). The spec and inventory are
    otherwise loaded at construction, the vault only when a secret is first
    resolved, and an SSH pool is opened only when a health probe needs one.
    ``lab_bridge_up`` is the lab's bridge check
    (:func:`controlplane.lab.probe.bridge_is_up`, handed in by ``egov serve``
    and ``egov monitor``): without it, lab addresses are not probed.
    ``runbooks`` is the runbook engine's catalog the rules' runbooks are
    checked against when the spec is loaded here (handed in the same way;
    without it they are not checked). Raises ConfigError when the monitoring
    folder is invalid.
    """

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        spec: MonitoringSpec | None = None,
        inventory: Inventory | None = None,
        pool: SSHPool | None = None,
        resolve: Callable[[str], str] | None = None,
        senders: Mapping[str, Sender] | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
        backoff: Backoff | None = None,
        workers: int = 32,
        autorunner: autorun.Runner | None = None,
        lab_bridge_up: Callable[[], bool] | None = None,
        runbooks: RunbookCatalog | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        receivers = {r.name: r for r in config.receivers}
        # Routes are checked against egov.yml's receivers once the site has any (a fresh site can probe).
        spec = spec or load_monitoring(config.monitoring, tuple(receivers) or None, runbooks=runbooks)
        self.external_url = spec.external_url or (config.public_url or "")
        # Rules naming a runbook link their alerts to its console page.
        self.spec = autorun.with_runbook_links(spec, self.external_url)
        if inventory is None:
            from controlplane.inventory import load_inventory

            inventory = load_inventory(config.inventory)
        self.inventory = inventory
        self.auto = bool(autorun.auto_rules(self.spec))
        self.autorunner = autorun.AutoRunner(config, store, inventory, runner=autorunner)
        self.checks = expand_checks(self.spec, inventory)
        # The service levels (slo/, built on this engine) as the composition root provided them: their
        # burn-rate rules join self.spec; without them this monitor only probes and alerts.
        companion = providers.provided().monitor_companion
        self.service_levels = None if companion is None else companion(self)
        self._own_pool = pool is None and any(c.probe.type == "health" for c in self.checks)
        if self._own_pool:
            from controlplane.ssh import SSHPool

            pool = SSHPool.from_config(config)
        self.pool = pool
        guard = lab_guard(inventory, lab_bridge_up)  # the lab's bridge check comes from the composition root
        self.runner = ProbeRunner(
            self.checks, pool=pool, store=store, ssh_user=config.ssh_user, workers=workers, guard=guard,
            ca_file=str(config.state_dir / "pki" / "root.pem"),  # the CA that issued the lab services' certificates
        )  # fmt: skip
        self.deliverer = Deliverer(receivers, resolve or self._vault_resolver(), senders=senders, backoff=backoff)
        wanted = {c.key for c in self.checks}
        with store.session() as session:
            self.latest: dict[tuple[str, str], ProbeResult] = {
                (r.check, r.host): r for r in latest_results(session) if (r.check, r.host) in wanted
            }

    def _vault_resolver(self) -> Callable[[str], str]:
        state: dict[str, Any] = {}

        def resolve(reference: str) -> str:
            if "vault" not in state:  # opened on first use: a site without secrets needs no key
                from controlplane.vault import open_vault

                state["vault"] = open_vault(self.config, self.store)
            return str(state["vault"].resolve(reference))

        return resolve

    # -- probing ------------------------------------------------------------
    def collect(self) -> list[ProbeResult]:
        """Harvest finished probes and start the due ones; return the new results (never waits on a host).

        A probe stuck past its timeout is reported failed on time and never
        started twice (:meth:`ProbeRunner.tick`).
        """
        return self.runner.tick()

    def record(self, results: list[ProbeResult]) -> None:
        """Store results and make them the latest known."""
        if not results:
            return
        with self.store.session() as session:
            save_results(session, results, self.spec.history)
        for result in results:
            self.latest[(result.check, result.host)] = result

    def probe_all(self) -> list[ProbeResult]:
        """Run every check now (blocking), store and return the results."""
        results = self.runner.run()
        self.record(results)
        return results

    # -- alerting -----------------------------------------------------------
    def evaluate(self, now: dt.datetime | None = None) -> list[Notification]:
        """Advance alerts and groups from the latest results; queue notifications; return them."""
        now = now or self.clock()
        if self.service_levels is not None:  # rollups, burn-rate results, incidents (slo/)
            self.service_levels.observe(self, now)
        found, frozen = lifecycle.candidates(self.spec.rules, self.latest.values())
        with self.store.session() as session:
            claim_write_lock(session, now)
            alerts = load_alerts(session)
            groups = load_groups(session)
            new_alerts = lifecycle.evaluate(alerts, found, frozen, now, self.spec.flapping)
            silences = [*self.spec.silences, *load_silences(session, now)]
            muted = suppression(new_alerts, silences, self.spec.inhibit_rules, now)
            decision = autorun.Decision()
            if self.auto:  # claim automatic runbook starts, and link each alert to its run
                decision = autorun.decide(session, self.spec, alerts, new_alerts, muted, self.inventory, now)
                autorun.annotate(session, new_alerts, self.external_url)
            new_groups, notifications = plan(self.spec, new_alerts, groups, muted, now)
            save_alerts(session, alerts, new_alerts)
            save_groups(session, groups, new_groups)
            enqueue(session, notifications, now, self.external_url)
        if decision.starts or decision.skipped:  # after the commit: the claims are written; never wait for runs
            self.autorunner.launch(decision)
        for note in notifications:
            log.info("alert group %s: %s to %s (%d firing, %d resolved)", note.group_key, note.kind,
                     note.receiver, len(note.firing), len(note.resolved))  # fmt: skip
        return notifications

    def deliver(self, now: dt.datetime | None = None) -> list[dict[str, Any]]:
        """Send due notifications; return the delivery report."""
        return self.deliverer.deliver_due(self.store, now or self.clock())

    def step(self) -> StepReport:
        """One turn of the loop: collect, record, evaluate, deliver."""
        results = self.collect()
        self.record(results)
        notifications = self.evaluate()
        deliveries = self.deliver()
        return StepReport(results, notifications, deliveries)

    def run_forever(
        self, stop: threading.Event, tick: float = TICK_SECONDS, gate: Callable[[], bool] | None = None
    ) -> None:
        """Step every ``tick`` seconds until ``stop`` is set (SIGTERM sets it in ``egov monitor run``).

        ``gate`` (``egov serve``: the leader lease, :mod:`controlplane.leader`)
        is asked before every step; the loop ends as soon as it says no.
        """
        while not stop.is_set() and (gate is None or gate()):
            started = time.monotonic()
            try:
                self.step()
            except Exception:  # one bad step (store busy, bug) must not end monitoring
                log.exception("monitor step failed")
            stop.wait(max(0.0, tick - (time.monotonic() - started)))

    def close(self) -> None:
        """Stop probe threads and close an SSH pool this monitor opened."""
        self.runner.close()
        if self._own_pool and self.pool is not None:
            self.pool.close()
