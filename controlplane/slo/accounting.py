"""A service's figures over a span, from the rollups: good, bad, unknown and maintenance time, the budget.

Honest accounting, slice by slice (a slice belongs to the span when it
starts in it):

* **maintenance** slices (covered by an approved window) leave the budget:
  neither good nor bad, whatever the probes said;
* **unknown** slices (no valid result: the control plane was not probing)
  are never counted as up: availability is good / (good + bad), and the
  figures say how much was unknown; ``worst_case`` counts them as down;
* the **error budget** is (1 - objective) of the window's slices outside
  maintenance; bad slices spend it.

:class:`Ledger` answers "how many good and bad slices in [a, b)" from the
hour rows for whole hours and from minute masks only for the edges and for
maintenance, so a month costs about 720 rows per service.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from controlplane.slo import timeslices as ts
from controlplane.slo.maintenance import Span

MinuteLoader = Callable[[int, int], dict[int, tuple[int, int]]]
HourLoader = Callable[[int, int], dict[int, tuple[int, int]]]
HOUR_CHUNK = 86400  # hour rows are loaded a day at a time when given a loader


@dataclass
class Figures:
    """What one service did over one span (counts of slices, and their length)."""

    slice_seconds: int
    objective: float
    elapsed: int  # slices of the span so far
    planned: int  # slices of the whole window (the budget's base)
    good: int = 0
    bad: int = 0
    maintenance: int = 0
    maintenance_planned: int = 0  # maintenance slices of the whole window

    @property
    def unknown(self) -> int:
        """Slices nobody measured (outside maintenance)."""
        return max(0, self.elapsed - self.maintenance - self.good - self.bad)

    @property
    def measured(self) -> int:
        """Good plus bad slices."""
        return self.good + self.bad

    @property
    def availability(self) -> float | None:
        """good / (good + bad); None when nothing was measured."""
        return self.good / self.measured if self.measured else None

    @property
    def worst_case(self) -> float | None:
        """good / (slices outside maintenance): availability if every unknown slice had been down."""
        eligible = self.elapsed - self.maintenance
        return self.good / eligible if eligible > 0 else None

    @property
    def budget(self) -> float:
        """The error budget in slices: (1 - objective) of the window's slices outside maintenance."""
        return (1.0 - self.objective) * max(0, self.planned - self.maintenance_planned)

    @property
    def budget_used(self) -> float | None:
        """Share of the budget spent (1.0 = all of it; above 1 the objective is missed)."""
        return self.bad / self.budget if self.budget > 0 else None

    def seconds(self, slices: float) -> float:
        """Slices as seconds."""
        return slices * self.slice_seconds

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe figures, in seconds and ratios."""
        return {
            "objective": self.objective,
            "availability": self.availability,
            "worst_case_availability": self.worst_case,
            "good_seconds": self.seconds(self.good),
            "bad_seconds": self.seconds(self.bad),
            "unknown_seconds": self.seconds(self.unknown),
            "maintenance_seconds": self.seconds(self.maintenance),
            "elapsed_seconds": self.seconds(self.elapsed),
            "budget_seconds": self.seconds(self.budget),
            "budget_used": self.budget_used,
            "budget_left_seconds": self.seconds(self.budget - self.bad),
            "slice_seconds": self.slice_seconds,
        }


def merge_spans(spans: Iterable[Span], start: float, end: float) -> list[tuple[float, float]]:
    """The union of spans clipped to [start, end), sorted and without overlaps."""
    parts = sorted((max(s.start, start), min(s.end, end)) for s in spans if s.end > start and s.start < end)
    merged: list[tuple[float, float]] = []
    for left, right in parts:
        if merged and left <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], right))
        else:
            merged.append((left, right))
    return merged


class Ledger:
    """Good and bad slice counts of one service, from its hour rows and (lazily) its minute rows.

    ``hours`` are the service's hour rows ({hour: (good, bad)}) covering the
    spans asked about; ``minutes`` loads minute masks of [start, end) when an
    edge or a maintenance window cuts an hour.
    """

    def __init__(
        self, slice_seconds: int, hours: dict[int, tuple[int, int]] | HourLoader, minutes: MinuteLoader
    ) -> None:
        self.slice_seconds = slice_seconds
        self._hour_loader = None if isinstance(hours, dict) else hours
        self.hours: dict[int, tuple[int, int]] = hours if isinstance(hours, dict) else {}
        self._chunks: set[int] = set()
        self._load = minutes
        self._minutes: dict[int, dict[int, tuple[int, int]]] = {}  # hour -> minute rows of that hour

    def _hours_for(self, start: int, end: int) -> dict[int, tuple[int, int]]:
        """The hour rows, loading the days of [start, end) first when they come from a loader."""
        if self._hour_loader is not None:
            for chunk in range(start // HOUR_CHUNK, (end - 1) // HOUR_CHUNK + 1):
                if chunk not in self._chunks:
                    self._chunks.add(chunk)
                    self.hours.update(self._hour_loader(chunk * HOUR_CHUNK, (chunk + 1) * HOUR_CHUNK))
        return self.hours

    def _minutes_of(self, hour: int) -> dict[int, tuple[int, int]]:
        if hour not in self._minutes:
            self._minutes[hour] = self._load(hour, hour + ts.HOUR)
        return self._minutes[hour]

    def _partial(self, start: float, end: float) -> tuple[int, int]:
        """Counts in [start, end) inside one hour, from its minute masks."""
        good = bad = 0
        rows = self._minutes_of(ts.hour_of(start))
        for minute in range(ts.minute_of(start), math.ceil(end / ts.MINUTE) * ts.MINUTE, ts.MINUTE):
            row = rows.get(minute)
            if row is None:
                continue
            mask = ts.starts_in(minute, start, end, self.slice_seconds)
            good += (row[0] & mask).bit_count()
            bad += (row[1] & mask).bit_count()
        return good, bad

    def counts(self, start: float, end: float) -> tuple[int, int]:
        """(good, bad) slices starting in [start, end): whole hours from hour rows, the edges from minutes."""
        if end <= start:
            return 0, 0
        first = math.ceil(start / ts.HOUR) * ts.HOUR
        last = ts.hour_of(end)
        good = bad = 0
        if first <= last:
            hours = self._hours_for(first, last) if first < last else self.hours
            get = hours.get
            for hour in range(first, last, ts.HOUR):
                row = get(hour)
                if row is not None:
                    good += row[0]
                    bad += row[1]
            edges = ((start, first), (last, end))
        else:
            edges = ((start, end),)
        for left, right in edges:
            if left < right:
                part = self._partial(left, right)
                good, bad = good + part[0], bad + part[1]
        return good, bad


def figures(
    ledger: Ledger,
    objective: float,
    start: float,
    end: float,
    now: float,
    maintenance: Iterable[Span] = (),
) -> Figures:
    """The figures of [start, end) as of ``now`` (slices after ``now`` are the future, not unknown)."""
    length = ledger.slice_seconds
    spans = list(maintenance)
    elapsed_end = max(start, min(end, now))
    result = Figures(
        slice_seconds=length,
        objective=objective,
        elapsed=ts.slices_starting(start, elapsed_end, length),
        planned=ts.slices_starting(start, end, length),
    )
    good, bad = ledger.counts(start, elapsed_end)
    for left, right in merge_spans(spans, start, elapsed_end):
        inside = ledger.counts(left, right)
        good, bad = good - inside[0], bad - inside[1]
        result.maintenance += ts.slices_starting(left, right, length)
    for left, right in merge_spans(spans, start, end):
        result.maintenance_planned += ts.slices_starting(left, right, length)
    result.good, result.bad = max(0, good), max(0, bad)
    return result
