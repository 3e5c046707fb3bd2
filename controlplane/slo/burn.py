"""Multi-window, multi-burn-rate alerts on each objective, as a rule source of the monitor's alert engine.

The burn rate over a window is the share of bad slices among the measured
ones divided by the budget share (1 - objective): 1 spends the budget
exactly over the window, 14.4 spends a 30-day budget's 2 % in one hour. A
pair (long, short, factor) fires when *both* windows burn at least
``factor`` times too fast (the SRE workbook's 1 h/5 min at 14.4x and 6 h/30
min at 6x): the long window proves it matters, the short one that it still
happens, so the alert resolves soon after the burning stops.

The engine evaluates rules over probe results, so each service contributes
one result per evaluation: check ``slo:<service>`` on the control plane,
with one ``slo_burn_rate{slo, window}`` sample per pair whose value is the
smaller of the two windows' rates. :func:`burn_rules` gives the matching
rules (``ErrorBudgetBurn`` with ``slo`` and ``window`` labels, the pair's
severity, a runbook link), so grouping, silences, receivers, escalation and
the console treat them like every other alert. Maintenance slices are left
out of both windows, unknown slices are not measured, and a pair stays
quiet until ``burn_rate_coverage`` (default half) of its long window was
measured.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from controlplane.monitoring.results import ProbeResult, Sample
from controlplane.monitoring.spec import CONTROL_PLANE, Rule, RuleRunbook
from controlplane.slo import timeslices as ts
from controlplane.slo.maintenance import Span
from controlplane.slo.spec import BurnRate, Service, SloSpec

ALERT = "ErrorBudgetBurn"
METRIC = "slo_burn_rate"
CHECK_PREFIX = "slo:"
SUMMARY = "{slo} ({site}) spends its error budget {value}x too fast over {window}"
Minutes = Mapping[int, tuple[int, int]]


def check_name(service: Service) -> str:
    """The pseudo check whose results carry a service's burn rates."""
    return f"{CHECK_PREFIX}{service.name}"


def burn_rules(slo: SloSpec, external_url: str = "") -> list[Rule]:
    """One engine rule per service and burn-rate pair (annotations link the runbook or the availability page)."""
    from controlplane.monitoring.autorun import console_link

    rules = []
    for service in slo.services:
        link = service.runbook_url or console_link(
            external_url, f"/runbooks/{service.runbook}" if service.runbook else f"/availability#slo-{service.name}"
        )
        annotations = {"summary": SUMMARY, "runbook_url": link}
        if service.runbook:
            annotations["runbook"] = service.runbook
        for rate in service.burn_rates:
            rules.append(
                Rule(
                    alert=ALERT,
                    probe=check_name(service),
                    metric=METRIC,
                    op=">=",
                    value=rate.factor,
                    for_seconds=0.0,
                    severity=rate.severity,
                    labels={},
                    annotations=dict(annotations),
                    match={"window": rate.label},
                    runbook=RuleRunbook(service.runbook) if service.runbook else None,
                )
            )
    return rules


def counts(
    minutes: Minutes, slice_seconds: int, start: float, end: float, maintenance: Iterable[Span] = ()
) -> tuple[int, int]:
    """(good, bad) slices starting in [start, end) outside maintenance, from minute masks."""
    spans = [s for s in maintenance if s.end > start and s.start < end]
    good = bad = 0
    for minute in range(ts.minute_of(start), math.ceil(end / ts.MINUTE) * ts.MINUTE, ts.MINUTE):
        row = minutes.get(minute)
        if row is None:
            continue
        mask = ts.starts_in(minute, start, end, slice_seconds)
        for span in spans:
            if span.end > minute and span.start < minute + ts.MINUTE:
                mask &= ~ts.starts_in(minute, span.start, span.end, slice_seconds)
        good += (row[0] & mask).bit_count()
        bad += (row[1] & mask).bit_count()
    return good, bad


def burn_rate(service: Service, minutes: Minutes, start: float, end: float, maintenance: Iterable[Span] = ()) -> float:
    """The service's burn rate over [start, end) (0 when nothing was measured)."""
    good, bad = counts(minutes, service.slice_seconds, start, end, maintenance)
    if not good + bad:
        return 0.0
    return (bad / (good + bad)) / service.budget_fraction


def pair_value(
    service: Service, rate: BurnRate, minutes: Minutes, end: float, maintenance: Iterable[Span] = ()
) -> tuple[float, float]:
    """The (long, short) burn rates of one pair, the windows ending at ``end``.

    Both are 0 while less than the service's ``burn_rate_coverage`` of the
    long window (outside maintenance) was measured: a freshly started
    monitor, or one back from a long gap, does not page on a few minutes of
    data (a new lab's first minutes, before its services were provisioned).
    """
    spans = list(maintenance)
    start = end - rate.long
    good, bad = counts(minutes, service.slice_seconds, start, end, spans)
    eligible = ts.slices_starting(start, end, service.slice_seconds) - sum(
        ts.slices_starting(left, right, service.slice_seconds) for left, right in _merged(spans, start, end)
    )
    if good + bad < service.burn_rate_coverage * eligible or not good + bad:
        return 0.0, 0.0
    return (
        (bad / (good + bad)) / service.budget_fraction,
        burn_rate(service, minutes, end - rate.short, end, spans),
    )


def _merged(spans: list[Span], start: float, end: float) -> list[tuple[float, float]]:
    from controlplane.slo.accounting import merge_spans

    return merge_spans(spans, start, end)


def burn_result(service: Service, minutes: Minutes, end: float, maintenance: Iterable[Span] = ()) -> ProbeResult:
    """The pseudo probe result of a service: one sample per pair, the smaller of its two rates."""
    spans = list(maintenance)
    samples, words = [], []
    for rate in service.burn_rates:
        long_rate, short_rate = pair_value(service, rate, minutes, end, spans)
        samples.append(
            Sample(METRIC, round(min(long_rate, short_rate), 4), {"slo": service.name, "window": rate.label})
        )
        words.append(f"{rate.label}: {long_rate:.3g}x/{short_rate:.3g}x")
    return ProbeResult(check_name(service), "slo", CONTROL_PLANE, service.site, "service", True, 0.0,
                       "burn rate " + ", ".join(words), samples, at=ts.at(end))  # fmt: skip
