"""Time slices as bits: pure arithmetic shared by the rollup, the accounting and the burn rates.

Time is cut into slices of ``L`` seconds (L divides 60) aligned on the epoch,
so every minute holds ``60 / L`` whole slices; slice *i* of a minute is bit
*i* of that minute's masks. A check's result holds from its time until the
next result (at most its validity); a slice is marked for a check when such
a span overlaps it — good when a passing span does, bad when a failing one
does (a check that failed at any moment of a slice failed in it).

A service combines its checks per slice: with ``require: all`` a slice is
bad when any check was bad, good when every check was good, else unknown;
with ``any`` it is good when one check was good, bad when every check was
bad, else unknown. Nothing here does I/O.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable

MINUTE = 60
HOUR = 3600


def epoch(moment: dt.datetime) -> float:
    """Seconds since the epoch of an aware datetime."""
    return moment.timestamp()


def at(seconds: float) -> dt.datetime:
    """The aware UTC datetime of epoch seconds."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


def minute_of(seconds: float) -> int:
    """The start of the minute holding ``seconds``."""
    return int(seconds // MINUTE) * MINUTE


def hour_of(seconds: float) -> int:
    """The start of the hour holding ``seconds``."""
    return int(seconds // HOUR) * HOUR


def per_minute(slice_seconds: int) -> int:
    """How many slices a minute holds."""
    return MINUTE // slice_seconds


def full_mask(slice_seconds: int) -> int:
    """The mask with every slice of a minute set."""
    return (1 << per_minute(slice_seconds)) - 1


def bits(first: int, last: int) -> int:
    """A mask with bits ``first`` to ``last`` (inclusive) set; 0 when the range is empty."""
    if last < first:
        return 0
    return ((1 << (last + 1)) - 1) ^ ((1 << first) - 1)


def overlap_marks(start: float, end: float, slice_seconds: int) -> dict[int, int]:
    """The slices a span [start, end) overlaps, as {minute: mask}; empty for an empty span."""
    if end <= start:
        return {}
    first = math.floor(start / slice_seconds)
    last = math.ceil(end / slice_seconds) - 1
    count = per_minute(slice_seconds)
    marks: dict[int, int] = {}
    index = first
    while index <= last:
        minute = (index // count) * MINUTE
        offset = index % count
        top = min(count - 1, offset + (last - index))
        marks[minute] = marks.get(minute, 0) | bits(offset, top)
        index += top - offset + 1
    return marks


def starts_in(minute: int, start: float, end: float, slice_seconds: int) -> int:
    """The mask of the minute's slices whose start lies in [start, end)."""
    count = per_minute(slice_seconds)
    first = max(0, math.ceil((start - minute) / slice_seconds))
    last = min(count - 1, math.ceil((end - minute) / slice_seconds) - 1)
    return bits(first, last)


def slices_starting(start: float, end: float, slice_seconds: int) -> int:
    """How many slices start in [start, end)."""
    if end <= start:
        return 0
    return max(0, math.ceil(end / slice_seconds) - math.ceil(start / slice_seconds))


def combine(checks: Iterable[tuple[int, int]], count: int, require: str) -> tuple[int, int]:
    """A service's (good, bad) masks for one minute from its checks' (good, bad) masks.

    ``count`` is the number of the service's checks (a check with no marks
    in the minute is unknown there: with ``all`` no slice is good).
    """
    marks = list(checks)
    if require == "any":
        good = 0
        for check_good, check_bad in marks:
            good |= check_good & ~check_bad
        bad = ~0 if len(marks) == count and marks else 0
        for _good, check_bad in marks:
            bad &= check_bad
        return good, bad & ~good
    bad = 0
    for _good, check_bad in marks:
        bad |= check_bad
    good = ~0 if len(marks) == count and marks else 0
    for check_good, check_bad in marks:
        good &= check_good & ~check_bad
    return good & ~bad, bad


def merge(old: tuple[int, int], new: tuple[int, int], require: str) -> tuple[int, int]:
    """Two observations of the same minute as one: bits add up; a slice both ways goes to ``require``'s side.

    With ``all`` a slice seen bad by anyone is bad; with ``any`` one seen good is good.
    """
    good, bad = old[0] | new[0], old[1] | new[1]
    if require == "any":
        return good, bad & ~good
    return good & ~bad, bad
