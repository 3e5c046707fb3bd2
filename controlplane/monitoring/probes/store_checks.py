"""Checks of state the store already knows: failed runs, age of the last good run.

``failed_runs`` counts runs that ended failed or interrupted within
``window`` (per kind; ``kinds`` narrows it); ``run_age`` reports the age of
the last succeeded run of ``run_kind`` and fails when it is older than
``window`` (for backups: the RPO). Both are hostless: they carry the
``controlplane`` host, site and role labels.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from controlplane.monitoring.labels import parse_duration
from controlplane.monitoring.results import ProbeResult, Sample
from controlplane.monitoring.spec import Check
from controlplane.store.models import Run, RunStatus, utcnow

if TYPE_CHECKING:
    from controlplane.store import Store


def _result(check: Check, started: float, success: bool, message: str, samples: list[Sample]) -> ProbeResult:
    return ProbeResult(check.probe.name, check.probe.type, check.host, check.site, check.role, success,
                       time.monotonic() - started, message, samples)  # fmt: skip


def failed_runs_probe(check: Check, store: Store) -> ProbeResult:
    """Count failed or interrupted runs per kind finished within the window."""
    import datetime as dt

    started = time.monotonic()
    window = parse_duration(check.probe.options.get("window"), 3600.0)
    since = utcnow() - dt.timedelta(seconds=window)
    query = (
        select(Run.kind, func.count())
        .where(Run.status.in_((RunStatus.FAILED, RunStatus.INTERRUPTED)), Run.finished_at >= since)
        .group_by(Run.kind)
    )
    kinds = check.probe.options.get("kinds")
    if kinds:
        query = query.where(Run.kind.in_(kinds))
    try:
        with store.session() as session:
            counts = {kind: int(count) for kind, count in session.execute(query)}
    except Exception as error:  # the store is down: that is the result
        return _result(check, started, False, f"store query failed: {error}", [])
    for kind in kinds or []:
        counts.setdefault(kind, 0)
    samples = [Sample("runs_failed", float(n), {"kind": kind}) for kind, n in sorted(counts.items())]
    total = sum(counts.values())
    return _result(check, started, True, f"{total} failed run(s) in the window", samples)


def run_age_probe(check: Check, store: Store) -> ProbeResult:
    """Age of the newest succeeded run of ``run_kind``; fails when older than ``window``."""
    started = time.monotonic()
    kind = check.probe.options["run_kind"]
    limit = parse_duration(check.probe.options.get("window"), 86400.0)
    try:
        with store.session() as session:
            last = session.scalar(
                select(func.max(Run.finished_at)).where(Run.kind == kind, Run.status == RunStatus.SUCCEEDED)
            )
    except Exception as error:
        return _result(check, started, False, f"store query failed: {error}", [])
    if last is None:
        return _result(check, started, False, f"no succeeded {kind} run yet", [])
    if last.tzinfo is None:
        import datetime as dt

        last = last.replace(tzinfo=dt.UTC)
    age = (utcnow() - last).total_seconds()
    sample = Sample("run_last_success_age_seconds", round(age, 1), {"kind": kind})
    if age > limit:
        return _result(
            check, started, False, f"last {kind} run {age / 3600:.1f} h ago, over {limit / 3600:g} h", [sample]
        )
    return _result(check, started, True, f"last {kind} run {age / 60:.0f} min ago", [sample])
