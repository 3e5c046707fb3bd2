"""The monitor's hook: rollups, burn-rate results and incidents while the monitor runs.

:meth:`ServiceLevels.attach` (called once from the Monitor's constructor)
reads ``slo.yml`` next to the monitoring spec and adds the burn-rate rules
to the monitor's rules; :meth:`ServiceLevels.observe` (called at the start
of every evaluation, with the evaluation's clock) then

1. once per shortest slice, rolls up the probe results stored since the
   last time (:class:`~controlplane.slo.rollup.Rollup`) and recomputes each
   service's burn rates from the recent minute masks it keeps in memory
   (loaded from the store on the first run, so a restart keeps its windows);
2. puts each service's ``slo:<name>`` result among the monitor's latest
   results, where the engine's rules read it like any probe's;
3. every few seconds, opens and closes incidents from the alert rows.

A failure here is logged and never stops monitoring; the rollup reloads its
state from the store on its next run. Without an slo.yml it does nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from controlplane.monitoring.results import ProbeResult
from controlplane.slo import timeslices as ts
from controlplane.slo.burn import burn_result, burn_rules
from controlplane.slo.incidents import sync_incidents
from controlplane.slo.maintenance import Span, load_spans
from controlplane.slo.rollup import LAG_SECONDS, Rollup, stored_minutes
from controlplane.slo.spec import SloSpec, load_slo

if TYPE_CHECKING:
    from controlplane.inventory import Inventory
    from controlplane.monitoring.service import Monitor
    from controlplane.store import Store

log = logging.getLogger(__name__)
INCIDENT_SECONDS = 2.0
MAINTENANCE_SECONDS = 15.0


class ServiceLevels:
    """Service-level accounting inside one monitor process."""

    def __init__(self, store: Store, slo: SloSpec, inventory: Inventory, external_url: str = "") -> None:
        self.store = store
        self.slo = slo
        self.inventory = inventory
        self.rollup = Rollup(slo)
        self.rules = burn_rules(slo, external_url)
        self.period = float(min((s.slice_seconds for s in slo.services), default=10))
        self.longest = max((rate.long for s in slo.services for rate in s.burn_rates), default=0.0)
        self.recent: dict[str, dict[int, tuple[int, int]]] = {}
        self.results: list[ProbeResult] = []
        self.spans: dict[str, list[Span]] = {}
        self._loaded = False
        self._last_rollup: float | None = None
        self._last_incidents: float | None = None
        self._last_spans: float | None = None

    @classmethod
    def attach(cls, monitor: Monitor) -> ServiceLevels:
        """Read the objectives next to the monitor's spec and add their burn-rate rules to it.

        A broken slo.yml is logged with every problem and leaves the monitor
        without service levels — it never stops alerting (``egov slo check``
        exits 2 on it); services whose sites or hosts left the inventory are
        skipped.
        """
        from controlplane.errors import ConfigError

        try:
            slo = load_slo(monitor.spec.folder, monitor.spec, monitor.inventory, strict=False)
        except ConfigError as error:
            log.error("service levels not counted: %s", error.message)
            slo = SloSpec(monitor.spec.folder / "slo.yml")
        levels = cls(monitor.store, slo, monitor.inventory, monitor.external_url)
        if levels.rules:
            monitor.spec = replace(monitor.spec, rules=(*monitor.spec.rules, *levels.rules))
        return levels

    def observe(self, monitor: Monitor, now: dt.datetime) -> None:
        """Roll up, refresh the burn-rate results in ``monitor.latest`` and sync incidents, when due."""
        if not self.slo.services:
            return
        moment = ts.epoch(now)
        try:
            if self._due(self._last_rollup, moment, self.period):
                self._last_rollup = moment
                self.step(now)
            for result in self.results:
                monitor.latest[(result.check, result.host)] = result
            if self._due(self._last_incidents, moment, INCIDENT_SECONDS):
                self._last_incidents = moment
                with self.store.session() as session:
                    sync_incidents(session, self.slo, now)
        except Exception:  # service levels must never stop the monitor
            self.rollup.reset()
            self._loaded = False
            log.exception("service levels: rollup or incident sync failed (retried next time)")

    def reload_maintenance(self) -> None:
        """Read the maintenance windows again at the next rollup (else every MAINTENANCE_SECONDS)."""
        self._last_spans = None

    @staticmethod
    def _due(last: float | None, moment: float, period: float) -> bool:
        return last is None or moment - last >= period or moment < last

    def step(self, now: dt.datetime) -> None:
        """One rollup and burn-rate evaluation at ``now``."""
        moment = ts.epoch(now)
        oldest = ts.minute_of(moment - self.longest - ts.MINUTE)
        with self.store.session() as session:
            report = self.rollup.run(session, now)
            if not self._loaded:
                names = [s.name for s in self.slo.services]
                self.recent = stored_minutes(session, names, oldest, ts.minute_of(moment) + ts.MINUTE)
                self._loaded = True
        for name, minutes in report.merged.items():
            self.recent.setdefault(name, {}).update(minutes)
        for minutes in self.recent.values():
            for minute in [m for m in minutes if m < oldest]:
                del minutes[minute]
        if self._due(self._last_spans, moment, MAINTENANCE_SECONDS):
            self._last_spans = moment
            self.spans = load_spans(self.store, self.slo, self.inventory, ts.at(oldest), now + dt.timedelta(hours=1))
        end = moment - LAG_SECONDS
        self.results = [
            burn_result(service, self.recent.get(service.name, {}), end, self.spans.get(service.name, ()))
            for service in self.slo.services
        ]
