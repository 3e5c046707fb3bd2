"""The monthly availability report as data: per service and site, and the ministry's ranking of provinces.

:func:`build_report` computes, for a calendar month in the objectives' time
zone (``2026-11``), each service's availability, budget used and left,
unknown and maintenance time, a figure per day (the daily bars), the budget
left at the end of each day (the burn-down), its incidents with durations,
MTTR, time to acknowledge and MTBF, and the maintenance windows (planned or
declared after the fact). Services are grouped by region — a province with
the sites below it, or the national level (ministry and national centres) —
and ranked worst first for the ministry's one-page summary.

Only rollups are read (720 hour rows per service and month; minute rows
where a maintenance window or the current hour cuts an hour). Incidents are
synced from the alert rows first, so a report is never behind the alerts.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from controlplane.errors import BadInputError
from controlplane.slo import timeslices as ts
from controlplane.slo.accounting import Figures, Ledger, figures, merge_spans
from controlplane.slo.incidents import as_dict as incident_dict
from controlplane.slo.incidents import incidents_between, repair_figures, sync_incidents
from controlplane.slo.maintenance import Span, list_windows, load_spans
from controlplane.slo.models import SloHour
from controlplane.slo.rollup import stored_minutes
from controlplane.store.models import utcnow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from controlplane.inventory import Inventory
    from controlplane.slo.maintenance import SiteScope
    from controlplane.slo.models import Incident
    from controlplane.slo.site import SiteLevels
    from controlplane.slo.spec import Service
    from controlplane.store import Store

MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
NATIONAL = "national"


def month_span(month: str, zone: dt.tzinfo) -> tuple[dt.datetime, dt.datetime]:
    """The start and end (exclusive) of a calendar month in ``zone``. Raises BadInputError for bad text."""
    found = MONTH.match(month or "")
    if not found:
        raise BadInputError(f"{month!r} is not a month (use YYYY-MM, such as 2026-11)")
    year, number = int(found.group(1)), int(found.group(2))
    start = dt.datetime(year, number, 1, tzinfo=zone)
    end = dt.datetime(year + (number == 12), number % 12 + 1, 1, tzinfo=zone)
    return start, end


def previous_month(now: dt.datetime, zone: dt.tzinfo) -> str:
    """The month before the one ``now`` falls in (in ``zone``), as YYYY-MM."""
    local = now.astimezone(zone).replace(day=1) - dt.timedelta(days=1)
    return f"{local.year:04d}-{local.month:02d}"


def days_of(start: dt.datetime, end: dt.datetime) -> list[tuple[dt.date, float, float]]:
    """Each local day of [start, end) as (date, start epoch, end epoch)."""
    days = []
    day = start
    while day < end:
        following = (day + dt.timedelta(days=1, hours=3)).replace(hour=0, minute=0, second=0, microsecond=0)
        days.append((day.date(), day.timestamp(), min(following, end).timestamp()))
        day = following
    return days


def region_of(inventory: Inventory, site: str) -> str:
    """The province a site belongs to (itself or an ancestor), else the national level."""
    current = inventory.sites.get(site)
    seen: set[str] = set()
    while current is not None and current.name not in seen:
        if current.level == "province":
            return current.name
        seen.add(current.name)
        current = inventory.sites.get(current.parent) if current.parent else None
    return NATIONAL


def hour_rows(session: Session, names: list[str], start: float, end: float) -> dict[str, dict[int, tuple[int, int]]]:
    found: dict[str, dict[int, tuple[int, int]]] = {name: {} for name in names}
    query = select(SloHour.service, SloHour.hour, SloHour.good, SloHour.bad).where(
        SloHour.hour >= ts.hour_of(start), SloHour.hour < end
    )
    if len(names) <= 500:  # a site's few services: ask for them (a national report reads every row anyway)
        query = query.where(SloHour.service.in_(names))
    for service, hour, good, bad in session.execute(query):
        table = found.get(service)
        if table is not None:
            table[hour] = (good, bad)
    return found


def _incidents(rows: Iterable[Incident], spans: list[Span], now: dt.datetime) -> list[dict[str, Any]]:
    """Incidents as dicts; one that began inside a maintenance window is maintenance's (``in_maintenance``)."""
    result = []
    for row in rows:
        item = incident_dict(row, now)
        begin, finish = row.started_at.timestamp(), (row.resolved_at or now).timestamp()
        item["during_maintenance"] = bool(merge_spans(spans, begin, finish))
        item["in_maintenance"] = any(span.start <= begin < span.end for span in spans)
        result.append(item)
    return result


def day_sums(
    session: Session, names: list[str], days: list[tuple[dt.date, float, float]]
) -> dict[str, list[tuple[int, int]]] | None:
    """Good and bad slices per service and day, summed by the database from the hour rows.

    Returns None when the days are not whole 24-hour days on hour
    boundaries (a zone with daylight saving time): the caller then counts
    hour by hour.
    """
    if not days:
        return {}
    start, end = int(days[0][1]), int(days[-1][2])
    if start % ts.HOUR or any(right - left != 86400 or (left - start) % 86400 for _d, left, right in days):
        return None
    day = ((SloHour.hour - start) // 86400).label("day")
    query = (
        select(SloHour.service, day, func.sum(SloHour.good), func.sum(SloHour.bad))
        .where(SloHour.hour >= start, SloHour.hour < end)
        .group_by(SloHour.service, day)
    )
    if len(names) <= 500:
        query = query.where(SloHour.service.in_(names))
    found: dict[str, list[tuple[int, int]]] = {name: [(0, 0)] * len(days) for name in names}
    for service, index, good, bad in session.execute(query):
        table = found.get(service)
        if table is not None and 0 <= int(index) < len(days):
            table[int(index)] = (int(good or 0), int(bad or 0))
    return found


def service_report(
    service: Service,
    ledger: Ledger,
    start: dt.datetime,
    end: dt.datetime,
    now: dt.datetime,
    spans: list[Span],
    incidents: list[dict[str, Any]],
    sums: list[tuple[int, int]] | None = None,
) -> dict[str, Any]:
    """One service's section of the report.

    ``sums`` are the database's per-day counts (see :func:`day_sums`): a
    past day without maintenance takes them as they are; the others are
    counted from hour and minute rows.
    """
    moment = now.timestamp()
    length = service.slice_seconds
    total = Figures(length, service.objective, 0, ts.slices_starting(start.timestamp(), end.timestamp(), length))
    for left, right in merge_spans(spans, start.timestamp(), end.timestamp()):
        total.maintenance_planned += ts.slices_starting(left, right, length)
    daily = []
    for index, (date, left, right) in enumerate(days_of(start, end)):
        if sums is not None and right <= moment and not any(s.end > left and s.start < right for s in spans):
            count = ts.slices_starting(left, right, length)
            good, bad = sums[index]
            day = Figures(length, service.objective, count, count, good, bad)
        else:
            day = figures(ledger, service.objective, left, right, moment, spans)
        total.elapsed += day.elapsed
        total.good += day.good
        total.bad += day.bad
        total.maintenance += day.maintenance
        daily.append((date, left, day))
    days, burn = [], []
    spent = 0
    for date, left, day in daily:
        days.append({"date": date.isoformat(), "future": left >= moment, **day.as_dict()})
        spent += day.bad
        if left < moment:
            burn.append({"date": date.isoformat(), "budget_left": 1.0 - spent / total.budget if total.budget else None})
    span_seconds = max(0.0, min(end, now).timestamp() - start.timestamp())
    return {
        "name": service.name,
        "title_zh": service.title("zh"),
        "title_en": service.title("en"),
        "site": service.site,
        "window": service.window,
        "met": total.availability is None or total.availability >= service.objective,
        **total.as_dict(),
        "days": days,
        "burn_down": burn,
        "incidents": incidents,
        "repair": repair_figures(incidents, span_seconds),
    }


def _region_rows(levels: SiteLevels, sections: list[dict[str, Any]]) -> list[dict[str, Any]]:
    regions: dict[str, dict[str, Any]] = {}
    for section in sections:
        name = region_of(levels.inventory, section["site"])
        row = regions.setdefault(name, {"region": name, "services": 0, "missed": 0, "good_seconds": 0.0,
                                        "bad_seconds": 0.0, "unknown_seconds": 0.0, "maintenance_seconds": 0.0,
                                        "incidents": 0, "durations": []})  # fmt: skip
        row["services"] += 1
        row["missed"] += 0 if section["met"] else 1
        for key in ("good_seconds", "bad_seconds", "unknown_seconds", "maintenance_seconds"):
            row[key] += section[key]
        row["incidents"] += section["repair"]["incidents"]
        row["durations"] += [i["duration_seconds"] for i in section["incidents"] if not i["open"]]
    ranked = []
    for row in regions.values():
        measured = row["good_seconds"] + row["bad_seconds"]
        durations = row.pop("durations")
        site = levels.inventory.sites.get(row["region"])
        row["title_zh"] = (site.title_zh if site and site.title_zh else None) or (
            "国家级" if site is None else row["region"]
        )
        row["title_en"] = "national level" if site is None else row["region"]
        row["availability"] = row["good_seconds"] / measured if measured else None
        row["mttr_seconds"] = sum(durations) / len(durations) if durations else None
        ranked.append(row)
    ranked.sort(key=lambda r: (r["availability"] if r["availability"] is not None else 2.0, -r["bad_seconds"]))
    for rank, row in enumerate(ranked, 1):
        row["rank"] = rank
    return ranked


def build_report(
    store: Store,
    levels: SiteLevels,
    month: str,
    *,
    site: str | None = None,
    scope: SiteScope | None = None,
    now: dt.datetime | None = None,
) -> dict[str, Any]:
    """The availability report of ``month`` for the services of ``site`` (and below) in ``scope``.

    Raises BadInputError for a bad month, a month that has not begun, an
    unknown site or one outside the scope.
    """
    now = now or utcnow()
    zone = levels.slo.zone
    start, end = month_span(month, zone)
    if start > now:
        raise BadInputError(f"{month} has not begun yet")
    if site is not None and site not in levels.inventory.sites:
        raise BadInputError(f"unknown site {site!r} (not in the inventory)")
    if site is not None and scope is not None and not scope.allows(site):
        raise BadInputError(f"site {site} is outside your scope")
    services = levels.services_for(site, scope)
    names = [s.name for s in services]
    spans = load_spans(store, levels.slo, levels.inventory, start, end)
    with store.session() as session:
        sync_incidents(session, levels.slo, now)
    sections: list[dict[str, Any]] = []
    with store.session() as session:
        sums = day_sums(session, names, days_of(start, end))
        hours = {} if sums is not None else hour_rows(session, names, start.timestamp(), end.timestamp())
        incidents: dict[str, list[Incident]] = {name: [] for name in names}
        for row in incidents_between(session, names, start, end):
            incidents[row.service].append(row)
        for service in services:

            def minutes(left: int, right: int, name: str = service.name) -> dict[int, tuple[int, int]]:
                return stored_minutes(session, [name], left, right)[name]

            def hours_of(left: int, right: int, name: str = service.name) -> dict[int, tuple[int, int]]:
                return hour_rows(session, [name], left, right)[name]

            ledger = Ledger(service.slice_seconds, hours[service.name] if sums is None else hours_of, minutes)
            own = spans.get(service.name, [])
            listed = _incidents(incidents[service.name], own, now)
            section = service_report(
                service, ledger, start, end, now, own, listed, None if sums is None else sums[service.name]
            )
            sections.append(section)
            known = levels.inventory.sites.get(service.site)
            sections[-1]["site_title_zh"] = (known.title_zh if known else None) or service.site
    covered = {w for name in names for w in (s.window_id for s in spans.get(name, []))}
    windows = [w for w in list_windows(store, scope=scope, since=start, until=end, now=now) if w["id"] in covered]
    return {
        "month": month,
        "timezone": levels.slo.timezone,
        "site": site,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "generated_at": now.isoformat(),
        "complete": end <= now,
        "services": sections,
        "regions": _region_rows(levels, sections),
        "maintenance": windows,
    }


def current_figures(
    store: Store, levels: SiteLevels, services: list[Service], now: dt.datetime | None = None
) -> dict[str, Figures]:
    """Each service's figures over its own window as of ``now`` (calendar month or rolling days)."""
    now = now or utcnow()
    zone = levels.slo.zone
    result: dict[str, Figures] = {}
    longest = max((s.rolling_days or 31 for s in services), default=31)
    since, until = now - dt.timedelta(days=longest), now + dt.timedelta(days=31)
    all_spans = load_spans(store, levels.slo, levels.inventory, since, until)
    with store.session() as session:
        for service in services:
            if service.rolling_days:
                end = now
                start = now - dt.timedelta(days=service.rolling_days)
            else:
                local = now.astimezone(zone)
                start, end = month_span(f"{local.year:04d}-{local.month:02d}", zone)
            hours = hour_rows(session, [service.name], start.timestamp(), end.timestamp())[service.name]

            def minutes(left: int, right: int, name: str = service.name) -> dict[int, tuple[int, int]]:
                return stored_minutes(session, [name], left, right)[name]

            spans = all_spans.get(service.name, [])
            ledger = Ledger(service.slice_seconds, hours, minutes)
            result[service.name] = figures(
                ledger, service.objective, start.timestamp(), end.timestamp(), now.timestamp(), spans
            )
    return result
