"""Incidents: a service's alerts, acknowledgements and runbook runs gathered from first fire to last resolve.

A service's alerts are the engine's alerts on its checks (the ``check`` and
``host`` labels of a (probe, host) pair it reads) and its burn-rate alerts
(``slo`` label). :func:`sync_incidents` reads the alert rows — each keeps
its current episode and, in ``transitions``, the fire/resolve flips of the
flapping window, so episodes between two syncs are not lost — and:

* an episode that fires while no incident of the service is open opens one
  (``started_at`` is when its condition was first seen, ``opened_at`` when
  it fired); episodes firing while one is open join it;
* an incident closes when every episode it gathered has resolved
  (``resolved_at`` is the last resolve); the first acknowledgement of any of
  them is its time to acknowledge;
* runbook runs started in between that the alerts started (actor
  ``alert:<name>``, or linked in the alert's annotations) or that target
  the service's hosts are linked.

It is idempotent (episodes are keyed by fingerprint and fire time) and runs
from the monitor's hook and before every report.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.monitoring.models import AlertRecord
from controlplane.slo.models import Incident
from controlplane.slo.spec import Service, SloSpec
from controlplane.store.models import Run, utcnow

BURN_ALERT = "ErrorBudgetBurn"  # controlplane.slo.burn.ALERT (not imported: burn imports the engine's rules)
LOOKBACK = dt.timedelta(days=8)  # resolved alerts stay 7 days in the alert table


@dataclass(frozen=True)
class Episode:
    """One firing of one alert: when its condition began, fired, resolved, and its acknowledgement."""

    fingerprint: str
    alertname: str
    host: str
    started: dt.datetime
    fired: dt.datetime
    resolved: dt.datetime | None
    acked_at: dt.datetime | None = None
    acked_by: str | None = None
    run_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe form kept in the incident row."""
        return {"fingerprint": self.fingerprint, "alertname": self.alertname, "host": self.host,
                "started": _iso(self.started), "fired": _iso(self.fired), "resolved": _iso(self.resolved),
                "acked_at": _iso(self.acked_at), "acked_by": self.acked_by, "run_id": self.run_id}  # fmt: skip


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _time(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def belongs(service: Service, labels: dict[str, Any]) -> bool:
    """Whether an alert with these labels is one of the service's alerts.

    Those are its burn-rate alerts (``slo`` label), the alerts on its
    (check, host) pairs, and those its ``alerts`` matchers select.
    """
    from controlplane.monitoring.labels import all_match

    if labels.get("slo") == service.name:
        return True
    if (labels.get("check"), labels.get("host")) in set(service.checks):
        return True
    return bool(service.alerts) and all_match(service.alerts, {k: str(v) for k, v in labels.items()})


def is_burn(episode: Episode) -> bool:
    """Whether an episode is a burn-rate alert's (it joins incidents but never holds one open)."""
    return episode.alertname == BURN_ALERT


def episodes_of(row: AlertRecord) -> list[Episode]:
    """Every episode an alert row still knows: the current one and those in its fire/resolve flips."""
    labels = dict(row.labels or {})
    name, host = str(labels.get("alertname", "")), str(labels.get("host", ""))
    run_id = (row.annotations or {}).get("runbook_run_id")
    flips = sorted(t for t in (_time(x) for x in row.transitions or []) if t is not None)
    found: list[Episode] = []
    if row.fired_at is not None and row.state in ("firing", "resolved"):
        resolved = row.resolved_at if row.state == "resolved" else None
        linked = int(run_id) if str(run_id or "").isdigit() else None
        found.append(Episode(row.fingerprint, name, host, row.active_since or row.fired_at, row.fired_at, resolved,
                             row.acked_at, row.acked_by, linked))  # fmt: skip
        flips = [t for t in flips if t < row.fired_at]
    # Older flips alternate resolve, fire, resolve... going back from the current episode's fire.
    flips.reverse()
    for index in range(0, len(flips) - 1, 2):
        resolved, fired = flips[index], flips[index + 1]
        found.append(Episode(row.fingerprint, name, host, fired, fired, resolved))
    return found


def _runs(session: Session, service: Service, names: set[str], links: set[int], start: dt.datetime,
          end: dt.datetime) -> list[int]:  # fmt: skip
    query = select(Run.id, Run.actor, Run.params, Run.target).where(
        Run.kind == "runbook", Run.created_at >= start - dt.timedelta(seconds=5), Run.created_at <= end
    )
    hosts = set(service.hosts)
    found = set(links)
    for run_id, actor, params, target in session.execute(query):
        targets = set((params or {}).get("targets") or []) | {target}
        if actor in {f"alert:{name}" for name in names} or targets & hosts:
            found.add(int(run_id))
    return sorted(found)


def _apply(incident: Incident, episodes: list[Episode]) -> None:
    incident.alerts = [e.as_dict() for e in sorted(episodes, key=lambda e: (e.fired, e.fingerprint))]
    incident.started_at = min(e.started for e in episodes)
    incident.opened_at = min(e.fired for e in episodes)
    acked = sorted((e.acked_at, e.acked_by or "") for e in episodes if e.acked_at)
    incident.acked_at, incident.acked_by = (acked[0][0], acked[0][1] or None) if acked else (None, None)
    # A burn-rate alert lags the outage by its short window: symptoms, when there are any, decide the end.
    deciding = [e for e in episodes if not is_burn(e)] or episodes
    open_ = [e for e in deciding if e.resolved is None]
    incident.resolved_at = None if open_ else max(e.resolved for e in deciding if e.resolved)


def _stored(data: dict[str, Any]) -> Episode:
    return Episode(data["fingerprint"], data["alertname"], data["host"], _time(data["started"]) or utcnow(),
                   _time(data["fired"]) or utcnow(), _time(data["resolved"]), _time(data.get("acked_at")),
                   data.get("acked_by"), data.get("run_id"))  # fmt: skip


def sync_incidents(session: Session, slo: SloSpec, now: dt.datetime | None = None) -> int:
    """Open, extend and close incidents from the alert rows; return how many incident rows changed."""
    now = now or utcnow()
    rows = list(session.scalars(select(AlertRecord)))
    by_key: dict[tuple[Any, Any], list[AlertRecord]] = {}
    by_slo: dict[Any, list[AlertRecord]] = {}
    for row in rows:
        labels = row.labels or {}
        by_key.setdefault((labels.get("check"), labels.get("host")), []).append(row)
        if labels.get("slo"):
            by_slo.setdefault(labels.get("slo"), []).append(row)
    changed = 0
    for service in slo.services:
        # Index first: a thousand services never scan every alert (only those with `alerts:` matchers do).
        candidates = {id(r): r for key in service.checks for r in by_key.get(key, [])}
        candidates.update({id(r): r for r in by_slo.get(service.name, [])})
        if service.alerts:
            candidates.update({id(r): r for r in rows if belongs(service, r.labels or {})})
        seen = [e for row in candidates.values() for e in episodes_of(row)]
        if not seen:
            continue
        recent = list(
            session.scalars(
                select(Incident)
                .where(Incident.service == service.name, Incident.opened_at >= now - LOOKBACK)
                .order_by(Incident.opened_at)
            )
        )
        gathered = {id(i): [_stored(a) for a in i.alerts or []] for i in recent}
        touched: set[int] = set()
        for episode in sorted(seen, key=lambda e: e.fired):
            key = (episode.fingerprint, episode.fired)
            home = next((i for i in recent if key in {(e.fingerprint, e.fired) for e in gathered[id(i)]}), None)
            if home is None:
                home = next((i for i in recent if i.opened_at <= episode.fired <= (i.resolved_at or now)), None)
            if home is None:
                home = Incident(service=service.name, site=service.site, started_at=episode.started,
                                opened_at=episode.fired, alerts=[], runs=[])  # fmt: skip
                session.add(home)
                recent.append(home)
                gathered[id(home)] = []
            kept = [e for e in gathered[id(home)] if (e.fingerprint, e.fired) != key]
            if len(kept) == len(gathered[id(home)]) or episode not in gathered[id(home)]:
                touched.add(id(home))
            gathered[id(home)] = [*kept, episode]
        for incident in recent:
            if incident.resolved_at is not None and id(incident) not in touched:
                continue  # closed and unchanged: nothing to recompute
            episodes = gathered[id(incident)]
            before = (list(incident.alerts or []), incident.resolved_at, incident.acked_at, list(incident.runs or []))
            _apply(incident, episodes)
            names = {e.alertname for e in episodes}
            links = {e.run_id for e in episodes if e.run_id}
            incident.runs = _runs(session, service, names, links, incident.opened_at, incident.resolved_at or now)
            if before != (incident.alerts, incident.resolved_at, incident.acked_at, incident.runs):
                changed += 1
    return changed


def as_dict(row: Incident, now: dt.datetime | None = None) -> dict[str, Any]:
    """An incident as JSON-safe data, with its duration and time to acknowledge in seconds."""
    now = now or utcnow()
    end = row.resolved_at or now
    return {
        "id": row.id,
        "service": row.service,
        "site": row.site,
        "started_at": row.started_at.isoformat(),
        "opened_at": row.opened_at.isoformat(),
        "resolved_at": row.resolved_at.isoformat() if row.resolved_at else None,
        "open": row.resolved_at is None,
        "duration_seconds": max(0.0, (end - row.started_at).total_seconds()),
        "acked_at": row.acked_at.isoformat() if row.acked_at else None,
        "acked_by": row.acked_by,
        "ack_seconds": (row.acked_at - row.opened_at).total_seconds() if row.acked_at else None,
        "alerts": list(row.alerts or []),
        "runs": list(row.runs or []),
    }


def incidents_between(
    session: Session, services: Iterable[str], start: dt.datetime, end: dt.datetime
) -> list[Incident]:
    """Incidents of the services that overlap [start, end), oldest first."""
    query = select(Incident).where(
        Incident.service.in_(list(services)),
        Incident.started_at < end,
        (Incident.resolved_at.is_(None)) | (Incident.resolved_at > start),
    )
    return list(session.scalars(query.order_by(Incident.started_at, Incident.id)))


def mean(values: Iterable[float]) -> float | None:
    """The mean, or None for no values."""
    items = list(values)
    return sum(items) / len(items) if items else None


def repair_figures(incidents: list[dict[str, Any]], span_seconds: float) -> dict[str, Any]:
    """MTTR, mean time to acknowledge and MTBF of resolved incidents counted in a span.

    MTTR is the mean of (resolved - condition first seen); MTBF the span's
    time outside incidents divided by their number.
    """
    counted = [i for i in incidents if not i.get("in_maintenance")]
    resolved = [i for i in counted if not i["open"]]
    down = sum(i["duration_seconds"] for i in counted)
    return {
        "incidents": len(counted),
        "mttr_seconds": mean(i["duration_seconds"] for i in resolved),
        "mtta_seconds": mean(i["ack_seconds"] for i in counted if i["ack_seconds"] is not None),
        "mtbf_seconds": (span_seconds - down) / len(counted) if counted else None,
        "downtime_seconds": down,
    }
