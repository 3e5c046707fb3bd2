"""The public status page's data: for each service that opted in (``public: true``), its state and 90 days.

Anonymous readers see this, so it holds on purpose only the service's
title (slo.yml refuses a public title that names a host or an address),
its state (up, down, under maintenance, no data), the share of good time
over the 90 days and one availability per day. No host, address, site,
check, alert, incident detail or message leaves here.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from controlplane.slo import timeslices as ts
from controlplane.slo.accounting import Ledger, figures
from controlplane.slo.maintenance import load_spans
from controlplane.slo.report import days_of, hour_rows
from controlplane.slo.rollup import stored_minutes
from controlplane.store.models import utcnow

if TYPE_CHECKING:
    from controlplane.slo.site import SiteLevels
    from controlplane.slo.spec import Service
    from controlplane.store import Store

DAYS = 90
RECENT_SECONDS = 120  # the newest measured slice within this long tells the state


def state_now(service: Service, minutes: dict[int, tuple[int, int]], now: float, in_maintenance: bool) -> str:
    """up, down, maintenance or unknown, from the newest measured slice of the last two minutes."""
    if in_maintenance:
        return "maintenance"
    count = ts.per_minute(service.slice_seconds)
    for minute in sorted(minutes, reverse=True):
        if minute < now - RECENT_SECONDS - ts.MINUTE:
            break
        good, bad = minutes[minute]
        for index in range(count - 1, -1, -1):
            if bad >> index & 1:
                return "down"
            if good >> index & 1:
                return "up"
    return "unknown"


def public_status(store: Store, levels: SiteLevels, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Each public service's title, state, 90-day availability and daily figures (nothing internal)."""
    now = now or utcnow()
    services = [s for s in levels.slo.services if s.public]
    if not services:
        return []
    zone = levels.slo.zone
    today = now.astimezone(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    start = (today - dt.timedelta(days=DAYS - 1)).replace(hour=0)
    moment = now.timestamp()
    spans = load_spans(store, levels.slo, levels.inventory, start, now + dt.timedelta(seconds=1))
    result = []
    with store.session() as session:
        hours = hour_rows(session, [s.name for s in services], start.timestamp(), moment)
        for service in services:

            def minutes(left: int, right: int, name: str = service.name) -> dict[int, tuple[int, int]]:
                return stored_minutes(session, [name], left, right)[name]

            ledger = Ledger(service.slice_seconds, hours[service.name], minutes)
            own = spans.get(service.name, [])
            days = []
            for date, left, right in days_of(start, today + dt.timedelta(days=1)):
                day = figures(ledger, service.objective, left, right, moment, own)
                days.append({"date": date.isoformat(), "availability": day.availability,
                             "maintenance_seconds": day.seconds(day.maintenance)})  # fmt: skip
            total = figures(ledger, service.objective, start.timestamp(), moment, moment, own)
            recent = minutes(ts.minute_of(moment - RECENT_SECONDS - ts.MINUTE), ts.minute_of(moment) + ts.MINUTE)
            active = any(span.start <= moment < span.end for span in own)
            result.append({
                "title_zh": service.title("zh"),
                "title_en": service.title("en"),
                "objective": service.objective,
                "state": state_now(service, recent, moment, active),
                "availability": total.availability,
                "days": days,
            })  # fmt: skip
    return result
