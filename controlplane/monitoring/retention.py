"""What retention thins of the monitoring engine's tables, and what the retention job closes afterwards.

The core's retention (:mod:`controlplane.retention`) knows no engine's
tables: the composition root hands it these (:mod:`controlplane.cli.wiring`).
Pending deliveries (the outbox still to send) are kept whatever their age,
and the latest result of every check lives in another table, so it stays.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from controlplane.monitoring import intake_guard
from controlplane.monitoring.models import Delivery, ProbeHistory
from controlplane.retention import History

if TYPE_CHECKING:
    from controlplane.store import Store

FINISHED_DELIVERIES = ("sent", "failed")


def _finished_deliveries(cut: dt.datetime) -> list[Any]:
    return [Delivery.created_at < cut, Delivery.status.in_(FINISHED_DELIVERIES)]


def _probe_history(cut: dt.datetime) -> list[Any]:
    return [ProbeHistory.at < cut]


HISTORIES = (
    History("deliveries", Delivery, lambda policy: policy.delivery_days, _finished_deliveries),
    History("probe_results", ProbeHistory, lambda policy: policy.probe_days, _probe_history),
)


def close_intake_windows(store: Store) -> int:
    """Close the Alertmanager intake's ended audit windows (:func:`.intake_guard.flush_windows`); return how many."""
    with store.session() as session:
        notes = intake_guard.flush_windows(session)
    return intake_guard.write_notes(store, notes, via="scheduler")
