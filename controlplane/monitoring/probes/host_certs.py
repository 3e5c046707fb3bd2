"""The ``host_certificates`` check: days left on each host's newest SSH host certificate.

Store-backed and hostless (the ``controlplane`` labels): it reads the
certificate register (:mod:`controlplane.pki.records`) and gives one sample
``ssh_host_cert_days_left{cert_host=NAME}`` per host whose newest host
certificate is not revoked, negative once expired. The rule
``HostCertificateExpiring`` (monitoring/rules.yml) alerts per host below a
threshold: with renewal at two thirds of the validity that means the
renewal job has failed for days. One query of the register per run.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import TYPE_CHECKING

from controlplane.monitoring.results import ProbeResult, Sample
from controlplane.monitoring.spec import Check

if TYPE_CHECKING:
    from controlplane.store import Store

METRIC = "ssh_host_cert_days_left"


def days_left(store: Store, now: dt.datetime) -> dict[str, float]:
    """Days left on the newest unrevoked host certificate of each host (rounded to hundredths)."""
    from sqlalchemy import select

    from controlplane.pki.records import Certificate

    newest: dict[str, Certificate] = {}
    query = select(Certificate).where(Certificate.kind == "ssh-host").order_by(Certificate.issued_at, Certificate.id)
    with store.session() as session:
        for row in session.scalars(query):
            newest[row.subject] = row
    return {
        subject: round((row.not_after - now).total_seconds() / 86400, 2)
        for subject, row in sorted(newest.items())
        if row.revoked_at is None
    }


def host_certificates_probe(check: Check, store: Store, now: dt.datetime | None = None) -> ProbeResult:
    """One sample per certified host; fails only when the register cannot be read."""
    started = time.monotonic()

    def result(success: bool, message: str, samples: list[Sample]) -> ProbeResult:
        return ProbeResult(check.probe.name, check.probe.type, check.host, check.site, check.role, success,
                           time.monotonic() - started, message, samples)  # fmt: skip

    try:
        left = days_left(store, now or dt.datetime.now(dt.UTC))
    except Exception as error:  # the store is down, or has no register yet: that is the result
        return result(False, f"certificate register query failed: {error}", [])
    samples = [Sample(METRIC, days, {"cert_host": host}) for host, days in left.items()]
    soonest = min(left.items(), key=lambda item: item[1], default=None)
    message = f"{len(left)} host certificate(s)" + (f"; soonest {soonest[0]} in {soonest[1]:g} days" if soonest else "")
    return result(True, message, samples)
