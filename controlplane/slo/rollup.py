"""From stored probe results to per-minute slice masks and per-hour counts.

:class:`Rollup` reads the probe results the monitor stored since its last
run (``monitor_probe_history`` rows after a watermark id, only the checks
some service reads), turns consecutive results of each (check, host) into
spans (a result holds until the next one, for at most its validity), marks
the slices those spans overlap per check, combines the checks of each
service (see :mod:`.timeslices`) and merges the result into ``slo_minutes``
by OR, keeping ``slo_hours`` in step with the change in counts.

The span of a check's newest result is marked up to ``now - lag``
("provisionally": later results only ever add bits), so figures are at most
a few seconds behind. A run holds SQLite's write lock from its first
statement (it updates its watermark row first), so two processes never
interleave; run it from one process (the monitor) — a second one merges
correctly but gets no good slice out of checks only the other saw.

Cost: one indexed read of the new results, then per service one read and
one write of the minutes it touched; the benchmark prints the cost per
result (tests/bench/bench_slo.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from controlplane.monitoring.models import ProbeHistory
from controlplane.slo import timeslices as ts
from controlplane.slo.models import SloHour, SloMinute
from controlplane.slo.spec import Service, SloSpec
from controlplane.store.models import Setting

WATERMARK = "slo.rollup.watermark"
LAG_SECONDS = 2.0
BATCH = 20000
Key = tuple[str, str]


@dataclass
class RollupReport:
    """What one run did: results read, minute rows written, the minutes touched per service."""

    results: int = 0
    minutes_written: int = 0
    touched: dict[str, set[int]] = field(default_factory=dict)
    # The stored (merged) masks of every minute written, per service: the burn-rate windows read them.
    merged: dict[str, dict[int, tuple[int, int]]] = field(default_factory=dict)


class Rollup:
    """Incremental rollup of one site's objectives (state between runs lives here and in the store)."""

    def __init__(self, slo: SloSpec, *, lag: float = LAG_SECONDS) -> None:
        self.slo = slo
        self.lag = lag
        self.validity: dict[Key, float] = {}
        for service in slo.services:
            for key, seconds in zip(service.checks, service.validity, strict=True):
                self.validity[key] = max(self.validity.get(key, 0.0), seconds)
        self.lengths = sorted({s.slice_seconds for s in slo.services})
        self.cursors: dict[Key, tuple[float, bool]] = {}
        # (check key, slice length) -> {minute: [good, bad]} for minutes still open to new spans.
        self.marks: dict[tuple[Key, int], dict[int, list[int]]] = {}
        self.watermark: int | None = None
        self.more = False

    def reset(self) -> None:
        """Forget the state held in memory (after a failed run): the next run reloads it from the store."""
        self.cursors.clear()
        self.marks.clear()
        self.watermark = None

    # -- reading ----------------------------------------------------------------
    def _lock_and_load(self, session: Session) -> None:
        done = session.execute(update(Setting).where(Setting.key == WATERMARK).values(value=Setting.value))
        row = session.get(Setting, WATERMARK)
        if done.rowcount == 0 or row is None:  # type: ignore[attr-defined]
            session.add(Setting(key=WATERMARK, value="0"))
            session.flush()
            stored = 0
        else:
            stored = int(row.value or 0)
        if self.watermark is not None and self.watermark >= stored:
            return
        self.watermark = stored
        self.cursors.clear()
        if not stored or not self.validity:
            return
        checks = sorted({check for check, _host in self.validity})
        newest = (
            select(ProbeHistory.check, ProbeHistory.host, func.max(ProbeHistory.id))
            .where(ProbeHistory.id <= stored, ProbeHistory.check.in_(checks))
            .group_by(ProbeHistory.check, ProbeHistory.host)
        )
        ids = [row_id for check, host, row_id in session.execute(newest) if (check, host) in self.validity]
        for chunk in _chunks(ids, 500):
            query = select(ProbeHistory.check, ProbeHistory.host, ProbeHistory.at, ProbeHistory.success)
            for check, host, moment, success in session.execute(query.where(ProbeHistory.id.in_(chunk))):
                self.cursors[(check, host)] = (ts.epoch(moment), bool(success))

    def _spans(self, session: Session, now: float) -> tuple[int, dict[Key, list[tuple[float, float, bool]]]]:
        spans: dict[Key, list[tuple[float, float, bool]]] = {}
        checks = sorted({check for check, _host in self.validity})
        query = (
            select(ProbeHistory.id, ProbeHistory.check, ProbeHistory.host, ProbeHistory.at, ProbeHistory.success)
            .where(ProbeHistory.id > (self.watermark or 0), ProbeHistory.check.in_(checks))
            .order_by(ProbeHistory.id)
            .limit(BATCH)
        )
        count = rows = 0
        last_id = self.watermark or 0
        for row_id, check, host, moment, success in session.execute(query):
            last_id, rows = row_id, rows + 1
            key = (check, host)
            validity = self.validity.get(key)
            if validity is None:
                continue
            count += 1
            when = ts.epoch(moment)
            previous = self.cursors.get(key)
            if previous is not None:
                if when <= previous[0]:
                    continue  # an older or repeated result: it adds nothing
                spans.setdefault(key, []).append((previous[0], min(when, previous[0] + validity), previous[1]))
            self.cursors[key] = (when, bool(success))
        self.watermark = last_id
        self.more = rows >= BATCH
        if self.more:  # more results wait: the newest ones end these spans, not now
            return count, spans
        limit = now - self.lag
        for key, (when, success) in self.cursors.items():
            spans.setdefault(key, []).append((when, min(limit, when + self.validity[key]), success))
        return count, spans

    # -- marking and combining ----------------------------------------------------
    def _mark(self, spans: dict[Key, list[tuple[float, float, bool]]]) -> dict[tuple[Key, int], set[int]]:
        touched: dict[tuple[Key, int], set[int]] = {}
        for key, items in spans.items():
            for length in self.lengths:
                table = self.marks.setdefault((key, length), {})
                changed = touched.setdefault((key, length), set())
                for start, end, success in items:
                    for minute, mask in ts.overlap_marks(start, end, length).items():
                        entry = table.setdefault(minute, [0, 0])
                        slot = 0 if success else 1
                        if entry[slot] | mask != entry[slot]:
                            entry[slot] |= mask
                            changed.add(minute)
        return touched

    def _service_minutes(
        self, service: Service, touched: dict[tuple[Key, int], set[int]]
    ) -> dict[int, tuple[int, int]]:
        minutes: set[int] = set()
        for key in service.checks:
            minutes |= touched.get((key, service.slice_seconds), set())
        result = {}
        for minute in minutes:
            checks = [self.marks[(key, service.slice_seconds)].get(minute) for key in service.checks]
            present = [(entry[0], entry[1]) for entry in checks if entry is not None]
            good, bad = ts.combine(present, len(service.checks), service.require)
            if good or bad:
                result[minute] = (good & ts.full_mask(service.slice_seconds), bad & ts.full_mask(service.slice_seconds))
        return result

    def _prune(self, now: float) -> None:
        longest = max(self.validity.values(), default=0.0)
        oldest = ts.minute_of(now - self.lag - longest - ts.MINUTE)
        for table in self.marks.values():
            for minute in [m for m in table if m < oldest]:
                del table[minute]

    # -- writing --------------------------------------------------------------------
    def _write(self, session: Session, changes: dict[str, dict[int, tuple[int, int]]], report: RollupReport) -> int:
        """Merge every service's new minute masks into the store: one read, then batched writes.

        Minute rows are read fresh (inside the run's write lock), merged by OR
        and written; hour rows get the change in counts added.
        """
        if not changes:
            return 0
        services = {s.name: s for s in self.slo.services}
        wanted = sorted({minute for minutes in changes.values() for minute in minutes})
        stored: dict[tuple[str, int], tuple[int, int]] = {}
        names = sorted(changes)
        for chunk in _chunks(wanted, 500):
            query = select(SloMinute.service, SloMinute.minute, SloMinute.good, SloMinute.bad).where(
                SloMinute.minute.in_(chunk)
            )
            if len(names) <= 500:
                query = query.where(SloMinute.service.in_(names))
            for name, minute, good, bad in session.execute(query):
                stored[(name, minute)] = (good, bad)
        inserts, updates = [], []
        hours: dict[tuple[str, int], list[int]] = {}
        for name, minutes in changes.items():
            service = services[name]
            merged_rows = report.merged.setdefault(name, {})
            for minute, new in minutes.items():
                old = stored.get((name, minute))
                merged = ts.merge(old or (0, 0), new, service.require)
                merged_rows[minute] = merged
                if old == merged:
                    continue
                row = {"s": name, "m": minute, "g": merged[0], "b": merged[1], "l": service.slice_seconds}
                (updates if old is not None else inserts).append(row)
                delta = hours.setdefault((name, ts.hour_of(minute)), [0, 0])
                delta[0] += merged[0].bit_count() - (old or (0, 0))[0].bit_count()
                delta[1] += merged[1].bit_count() - (old or (0, 0))[1].bit_count()
        minute_table, hour_table = SloMinute.__table__, SloHour.__table__
        if inserts:
            session.execute(
                minute_table.insert().values(service=bindparam("s"), minute=bindparam("m"), good=bindparam("g"),
                                             bad=bindparam("b"), slice_seconds=bindparam("l")), inserts)  # fmt: skip
        if updates:
            session.execute(
                minute_table.update()
                .where(minute_table.c.service == bindparam("s"), minute_table.c.minute == bindparam("m"))
                .values(good=bindparam("g"), bad=bindparam("b")),
                updates,
            )
        if hours:
            existing: set[tuple[str, int]] = set()
            for chunk in _chunks(sorted({hour for _name, hour in hours}), 500):
                query = select(SloHour.service, SloHour.hour).where(SloHour.hour.in_(chunk))
                if len(names) <= 500:
                    query = query.where(SloHour.service.in_(names))
                existing |= {(name, hour) for name, hour in session.execute(query)}
            adds, news = [], []
            for (name, hour), (good, bad) in hours.items():
                row = {"s": name, "h": hour, "g": good, "b": bad, "l": services[name].slice_seconds}
                (adds if (name, hour) in existing else news).append(row)
            if adds:
                session.execute(
                    hour_table.update()
                    .where(hour_table.c.service == bindparam("s"), hour_table.c.hour == bindparam("h"))
                    .values(good=hour_table.c.good + bindparam("g"), bad=hour_table.c.bad + bindparam("b")),
                    adds,
                )
            if news:
                session.execute(
                    hour_table.insert().values(service=bindparam("s"), hour=bindparam("h"), good=bindparam("g"),
                                               bad=bindparam("b"), slice_seconds=bindparam("l")), news)  # fmt: skip
        return len(inserts) + len(updates)

    def run(self, session: Session, now: dt.datetime) -> RollupReport:
        """Roll up what was stored since the last run, up to ``now - lag``; return what it did.

        Runs in the caller's transaction (the caller commits). On an error
        the caller should :meth:`reset` before the next run.
        """
        report = RollupReport()
        if not self.slo.services:
            return report
        moment = ts.epoch(now)
        self._lock_and_load(session)
        self.more = True
        while self.more:
            count, spans = self._spans(session, moment)
            touched = self._mark(spans)
            report.results += count
            changes = {}
            for service in self.slo.services:
                minutes = self._service_minutes(service, touched)
                if minutes:
                    changes[service.name] = minutes
                    report.touched.setdefault(service.name, set()).update(minutes)
            report.minutes_written += self._write(session, changes, report)
        session.execute(update(Setting).where(Setting.key == WATERMARK).values(value=str(self.watermark or 0)))
        self._prune(moment)
        return report


def _chunks(items: list[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def stored_minutes(
    session: Session, services: Iterable[str], start: int, end: int
) -> dict[str, dict[int, tuple[int, int]]]:
    """Minute masks of the services in [start, end) (epoch seconds), as {service: {minute: (good, bad)}}."""
    names = list(services)
    found: dict[str, dict[int, tuple[int, int]]] = {name: {} for name in names}
    if not names or end <= start:
        return found
    query = select(SloMinute.service, SloMinute.minute, SloMinute.good, SloMinute.bad).where(
        SloMinute.service.in_(names), SloMinute.minute >= start, SloMinute.minute < end
    )
    for service, minute, good, bad in session.execute(query):
        found[service][minute] = (good, bad)
    return found
