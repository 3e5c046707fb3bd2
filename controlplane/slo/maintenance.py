"""Approved maintenance windows: excluded from the error budget, and they silence what they cover.

A window belongs to one site and covers the services named (or, when none
is named, every service of that site and the sites below it). Declared
before it is over it is *planned*; one whose start lies in the past must be
declared *after the fact* explicitly, with its reason — the report shows it
as such, so an outage relabelled as maintenance is visible to whoever reads
it. Every change is audited (``maintenance.add``, ``maintenance.end``).

While a window is in force its alerts are silenced through the monitor's own
silences (:func:`controlplane.monitoring.alert_actions.create_silence`, equality
matchers a site-scoped on-call user can see): one per covered host and one
per service's ``slo`` label, or one per covered site for a site-wide window;
ending the window early expires them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import select

from controlplane.errors import BadInputError
from controlplane.slo.models import MaintenanceWindow
from controlplane.store.models import utcnow

if TYPE_CHECKING:
    from controlplane.inventory import Inventory
    from controlplane.slo.spec import Service, SloSpec
    from controlplane.store import Store

PLANNED, RETROACTIVE = "planned", "retroactive"
MAX_SPAN = dt.timedelta(days=31)
MAX_REASON = 2000
# A start this far in the past is still "now" (the time it took to type the command).
LATE_START = dt.timedelta(minutes=2)


class SiteScope(Protocol):
    """Whose sites a caller may touch (the console's Scope, or every site for the local operator)."""

    def allows(self, site: str | None) -> bool:
        """True when the caller's scope covers ``site``."""
        ...


class EverySite:
    """The local operator's scope: every site (ministry level)."""

    def allows(self, site: str | None) -> bool:
        """Always True."""
        return True


@dataclass(frozen=True)
class Span:
    """A window as the accounting reads it: epoch seconds, its id and kind."""

    start: float
    end: float
    window_id: int
    kind: str


def covered_services(slo: SloSpec, inventory: Inventory, site: str, services: Iterable[str]) -> list[Service]:
    """The services a window of ``site`` covers (the named ones, else every one of the site and below).

    Raises BadInputError for a named service that is unknown or outside the site.
    """
    below = inventory.site_and_descendants(site)
    named = list(dict.fromkeys(services))
    if not named:
        return [s for s in slo.services if s.site in below]
    found = []
    for name in named:
        service = slo.service(name)
        if service is None:
            known = ", ".join(s.name for s in slo.services) or "none"
            raise BadInputError(f"unknown service {name!r} (services in slo.yml: {known})")
        if service.site not in below:
            raise BadInputError(f"service {name} belongs to {service.site}, not to {site} or a site below it")
        found.append(service)
    return found


def _matchers(inventory: Inventory, site: str, services: list[Service], site_wide: bool) -> list[list[str]]:
    if site_wide:
        return [[f"site={name}"] for name in sorted(inventory.site_and_descendants(site))]
    hosts = sorted({host for service in services for host in service.hosts})
    return [[f"host={host}"] for host in hosts] + [[f"slo={service.name}"] for service in services]


def _reason(text: str) -> str:
    reason = " ".join(str(text).split())
    if not reason:
        raise BadInputError("a maintenance window needs a reason (what is done, or why the outage was maintenance)")
    if len(reason) > MAX_REASON:
        raise BadInputError(f"the reason is longer than {MAX_REASON} characters")
    return reason


def add_window(
    store: Store,
    slo: SloSpec,
    inventory: Inventory,
    *,
    site: str,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    reason: str,
    actor: str,
    services: Iterable[str] = (),
    after_the_fact: bool = False,
    scope: SiteScope | None = None,
    client: str = "local",
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """Record a maintenance window and silence what it covers while it lasts; return it as a dict.

    Raises BadInputError for an unknown site or service, a site outside
    ``scope``, a missing reason, an empty or over-long span, or a start in
    the past without ``after_the_fact`` (and ``after_the_fact`` for a
    window that has not started).
    """
    from controlplane import audit
    from controlplane.monitoring.alert_actions import create_silence

    now = now or utcnow()
    scope = scope or EverySite()
    if site not in inventory.sites:
        raise BadInputError(f"unknown site {site!r} (not in the inventory)")
    if not scope.allows(site):
        raise BadInputError(f"site {site} is outside your scope")
    names = list(services)
    covered = covered_services(slo, inventory, site, names)
    text = _reason(reason)
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise BadInputError("start and end need a time zone")
    if ends_at <= starts_at:
        raise BadInputError("the end must be after the start")
    if ends_at - starts_at > MAX_SPAN:
        raise BadInputError("a maintenance window may last 31 days at most")
    late = starts_at < now - LATE_START
    if late and not after_the_fact:
        raise BadInputError(
            "the start lies in the past: declare the window after the fact (--after-the-fact) with its reason; "
            "reports show it as declared afterwards"
        )
    if after_the_fact and not late:
        raise BadInputError("only a window that already started can be declared after the fact")
    kind = RETROACTIVE if late else PLANNED
    silences: list[str] = []
    if ends_at > now:
        for matchers in _matchers(inventory, site, covered, not names):
            made = create_silence(store, matchers, author=actor, comment=f"maintenance window: {text}"[:2000],
                                  starts_at=max(starts_at, now), ends_at=ends_at, client=client)  # fmt: skip
            silences.append(made["id"])
    with store.session() as session:
        row = MaintenanceWindow(site=site, services=names, starts_at=starts_at, ends_at=ends_at, reason=text,
                                kind=kind, created_by=actor[:128], created_at=now, silences=silences)  # fmt: skip
        session.add(row)
        session.flush()
        result = as_dict(row, now)
    audit.append(store, actor=actor, action="maintenance.add", target=f"maintenance:{result['id']}", client=client,
                 site=site, details={"services": names, "kind": kind, "starts_at": result["starts_at"],
                                     "ends_at": result["ends_at"], "reason": text[:200]})  # fmt: skip
    return result


def end_window(
    store: Store,
    window_id: int,
    *,
    actor: str,
    scope: SiteScope | None = None,
    client: str = "local",
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """End a window now (a future one is cancelled: it then covers nothing); expire its silences.

    Raises BadInputError for an unknown window, one outside ``scope``
    (reported as unknown, so ids of other sites are not confirmed), or one
    that is already over.
    """
    from controlplane import audit
    from controlplane.monitoring.alert_actions import expire_silence

    now = now or utcnow()
    scope = scope or EverySite()
    with store.session() as session:
        row = session.get(MaintenanceWindow, window_id)
        if row is None or not scope.allows(row.site):
            raise BadInputError(f"no maintenance window {window_id}")
        if row.ends_at <= now:
            raise BadInputError(f"maintenance window {window_id} is already over")
        row.ends_at = max(now, row.starts_at)
        row.ended_by, row.ended_at = actor[:128], now
        silences, site = list(row.silences or []), row.site
        result = as_dict(row, now)
    for silence_id in silences:
        with contextlib.suppress(BadInputError):  # already gone (ended by hand on the alerts page)
            expire_silence(store, silence_id, actor, client=client)
    audit.append(store, actor=actor, action="maintenance.end", target=f"maintenance:{window_id}", client=client,
                 site=site, details={"ends_at": result["ends_at"]})  # fmt: skip
    return result


def state_of(row: MaintenanceWindow, now: dt.datetime) -> str:
    """scheduled, active, over or cancelled (ended before it started)."""
    if row.ended_at is not None and row.ends_at <= row.starts_at:
        return "cancelled"
    if now < row.starts_at:
        return "scheduled"
    return "active" if now < row.ends_at else "over"


def as_dict(row: MaintenanceWindow, now: dt.datetime | None = None) -> dict[str, Any]:
    """A window as JSON-safe data (for the CLI, the console and reports)."""
    now = now or utcnow()
    return {
        "id": row.id,
        "site": row.site,
        "services": list(row.services or []),
        "starts_at": row.starts_at.isoformat(),
        "ends_at": row.ends_at.isoformat(),
        "duration_seconds": max(0.0, (row.ends_at - row.starts_at).total_seconds()),
        "reason": row.reason,
        "kind": row.kind,
        "state": state_of(row, now),
        "created_by": row.created_by,
        "created_at": row.created_at.isoformat(),
        "ended_by": row.ended_by,
        "silences": list(row.silences or []),
    }


def list_windows(
    store: Store,
    *,
    scope: SiteScope | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> list[dict[str, Any]]:
    """Windows of the sites in scope that end after ``since`` and start before ``until``, newest first."""
    now = now or utcnow()
    scope = scope or EverySite()
    query = select(MaintenanceWindow).order_by(MaintenanceWindow.starts_at.desc(), MaintenanceWindow.id.desc())
    if since is not None:
        query = query.where(MaintenanceWindow.ends_at > since)
    if until is not None:
        query = query.where(MaintenanceWindow.starts_at < until)
    with store.session() as session:
        return [as_dict(row, now) for row in session.scalars(query) if scope.allows(row.site)]


def spans_by_service(windows: Iterable[MaintenanceWindow], slo: SloSpec, inventory: Inventory) -> dict[str, list[Span]]:
    """Which windows cover which service, as epoch spans (cancelled windows cover nothing)."""
    result: dict[str, list[Span]] = {s.name: [] for s in slo.services}
    for row in windows:
        if row.ends_at <= row.starts_at:
            continue
        names = set(row.services or [])
        below = inventory.site_and_descendants(row.site) if row.site in inventory.sites else {row.site}
        for service in slo.services:
            if (names and service.name in names) or (not names and service.site in below):
                result[service.name].append(Span(row.starts_at.timestamp(), row.ends_at.timestamp(), row.id, row.kind))
    return result


def load_spans(
    store: Store, slo: SloSpec, inventory: Inventory, start: dt.datetime, end: dt.datetime
) -> dict[str, list[Span]]:
    """The maintenance spans of every service that overlap [start, end)."""
    with store.session() as session:
        rows = list(
            session.scalars(
                select(MaintenanceWindow).where(MaintenanceWindow.ends_at > start, MaintenanceWindow.starts_at < end)
            )
        )
        session.expunge_all()
    return spans_by_service(rows, slo, inventory)
