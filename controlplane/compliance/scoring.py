"""Scores and scan differences (pure functions over Results).

Score = share of applicable controls that hold. ``not_applicable`` results
are left out; an ``error`` counts against the score (we could not show the
control holds). *Before waivers* a waived result counts as the failure it
is; *after waivers* it counts as held (accepted, approved risk). Both are
shown, so a waiver never hides how the host really stands.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

from controlplane.compliance.evaluate import Result
from controlplane.compliance.schema import SEVERITIES


@dataclass(frozen=True)
class Score:
    """Counts of each status, and the percentages derived from them."""

    passed: int = 0
    failed: int = 0
    errors: int = 0
    waived: int = 0
    not_applicable: int = 0

    @property
    def applicable(self) -> int:
        return self.passed + self.failed + self.errors + self.waived

    @property
    def before_waivers(self) -> float | None:
        """Percent held counting waived results as failures (None when nothing applies)."""
        return round(100.0 * self.passed / self.applicable, 1) if self.applicable else None

    @property
    def after_waivers(self) -> float | None:
        """Percent held counting waived results as held (None when nothing applies)."""
        return round(100.0 * (self.passed + self.waived) / self.applicable, 1) if self.applicable else None

    def to_dict(self) -> dict[str, int | float | None]:
        """Counts and both percentages, JSON-ready."""
        return {**asdict(self), "before_waivers": self.before_waivers, "after_waivers": self.after_waivers}


_FIELD = {"pass": "passed", "fail": "failed", "error": "errors", "waived": "waived", "not_applicable": "not_applicable"}


def score(results: Iterable[Result]) -> Score:
    """The Score of a set of results."""
    counts = dict.fromkeys(_FIELD.values(), 0)
    for result in results:
        counts[_FIELD[result.status]] += 1
    return Score(**counts)


def score_by(results: Iterable[Result], key: Callable[[Result], str]) -> dict[str, Score]:
    """Scores grouped by a key of each result, sorted by key."""
    groups: dict[str, list[Result]] = {}
    for result in results:
        groups.setdefault(key(result), []).append(result)
    return {name: score(groups[name]) for name in sorted(groups)}


def by_host(results: Iterable[Result]) -> dict[str, Score]:
    """Score per host."""
    return score_by(results, lambda result: result.host)


def by_site(results: Iterable[Result]) -> dict[str, Score]:
    """Score per site (every control on every host of the site)."""
    return score_by(results, lambda result: result.site)


def by_severity(results: Iterable[Result]) -> dict[str, Score]:
    """Score per severity, in severity order (critical first), every severity present."""
    grouped = score_by(results, lambda result: result.severity)
    return {severity: grouped.get(severity, Score()) for severity in SEVERITIES}


@dataclass
class ScanDiff:
    """What changed between two scans, as (host, control id) pairs."""

    new_failures: list[tuple[str, str]] = field(default_factory=list)
    fixed: list[tuple[str, str]] = field(default_factory=list)
    new_errors: list[tuple[str, str]] = field(default_factory=list)
    still_failing: list[tuple[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, list[dict[str, str]]]:
        """JSON-ready lists of ``{host, control}``."""
        return {
            name: [{"host": host, "control": control} for host, control in pairs]
            for name, pairs in asdict(self).items()
        }


def diff_scans(previous: Iterable[Result], current: Iterable[Result]) -> ScanDiff:
    """Compare two scans (after waivers).

    A *new failure* fails now and did not fail before (including a waiver
    that expired, and a host or control not in the previous scan); *fixed*
    failed or was waived before and passes now; a *new error* is an error now
    that was not one before.
    """
    before = {(r.host, r.control_id): r.status for r in previous}
    diff = ScanDiff()
    for result in current:
        key = (result.host, result.control_id)
        old = before.get(key)
        if result.status == "fail":
            (diff.still_failing if old == "fail" else diff.new_failures).append(key)
        elif result.status == "pass" and old in ("fail", "waived"):
            diff.fixed.append(key)
        elif result.status == "error" and old != "error":
            diff.new_errors.append(key)
    for pairs in (diff.new_failures, diff.fixed, diff.new_errors, diff.still_failing):
        pairs.sort()
    return diff
