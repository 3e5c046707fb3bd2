"""The outbox: notifications are stored first, then delivered with retries and backoff.

:func:`enqueue` writes each notification as a ``monitor_deliveries`` row in
the same transaction as the group state that decided it, so a crash between
deciding and sending loses nothing and sends nothing twice beyond what the
row says. :class:`Deliverer` sends due rows outside any transaction (a slow
receiver must not hold the store's write lock), claiming each row first with
a conditional UPDATE so two monitor processes never send the same row.

A receiver that is down keeps its rows pending, retried with exponential
backoff (1 s, 2 s, 4 s... capped), until it answers or ``give_up_after``
passes; a newer notification for the same group and receiver supersedes a
pending older one, so a receiver that comes back gets the current state,
not a replay of every change it missed. The rows are the delivery log.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from controlplane.monitoring.dispatch import Notification
from controlplane.monitoring.models import Delivery
from controlplane.monitoring.payload import build_payload, without_resolved
from controlplane.monitoring.receivers import SENDERS, DeliveryError, Sender

if TYPE_CHECKING:
    from controlplane.config import Receiver
    from controlplane.store import Store

log = logging.getLogger(__name__)

PENDING, SENT, FAILED, SUPERSEDED, SKIPPED = "pending", "sent", "failed", "superseded", "skipped"
CLAIM_LEASE = 120.0  # seconds a claimed row is hidden from other deliverers while being sent
BATCH = 50


@dataclass(frozen=True)
class Backoff:
    """Retry delays: ``base`` doubling per attempt up to ``cap``; give up after ``give_up_after``."""

    base: float = 1.0
    cap: float = 60.0
    give_up_after: float = 24 * 3600.0

    def delay(self, attempts: int) -> float:
        """Seconds to wait after ``attempts`` failed attempts."""
        return float(min(self.cap, self.base * 2 ** max(0, attempts - 1)))


def enqueue(
    session: Session, notifications: Iterable[Notification], now: dt.datetime, external_url: str = ""
) -> list[Delivery]:
    """Store notifications as pending deliveries (superseding older pending ones of the same group and receiver)."""
    rows = []
    for notification in notifications:
        session.execute(
            update(Delivery)
            .where(
                Delivery.receiver == notification.receiver,
                Delivery.group_key == notification.group_key,
                Delivery.status == PENDING,
            )
            .values(status=SUPERSEDED)
        )
        row = Delivery(
            receiver=notification.receiver,
            group_key=notification.group_key,
            kind=notification.kind,
            status=PENDING,
            payload=build_payload(notification, external_url),
            attempts=0,
            created_at=now,
            next_attempt_at=now,
        )
        session.add(row)
        rows.append(row)
    session.flush()
    return rows


class Deliverer:
    """Sends due deliveries to the receivers of ``egov.yml``.

    Secrets are resolved through ``resolve`` at send time, never stored with
    a payload. Several deliverers may share one store: each claims its rows
    for CLAIM_LEASE seconds, so a row is sent once. A failed send is retried
    per ``backoff`` until it gives up; senders are injectable for tests.
    """

    def __init__(
        self,
        receivers: Mapping[str, Receiver],
        resolve: Callable[[str], str],
        *,
        senders: Mapping[str, Sender] | None = None,
        timeout: float = 5.0,
        backoff: Backoff | None = None,
    ) -> None:
        self.receivers = dict(receivers)
        self.resolve = resolve
        self.senders = dict(senders or SENDERS)
        self.timeout = timeout
        self.backoff = backoff or Backoff()

    def _claim(self, store: Store, now: dt.datetime) -> list[tuple[int, str, dict[str, Any], int, dt.datetime]]:
        claimed = []
        with store.session() as session:
            rows = session.execute(
                select(
                    Delivery.id,
                    Delivery.receiver,
                    Delivery.payload,
                    Delivery.attempts,
                    Delivery.next_attempt_at,
                    Delivery.created_at,
                )
                .where(Delivery.status == PENDING, Delivery.next_attempt_at <= now)
                .order_by(Delivery.id)
                .limit(BATCH)
            ).all()
            lease = now + dt.timedelta(seconds=CLAIM_LEASE)
            for row_id, receiver, payload, attempts, due, created in rows:
                done = session.execute(
                    update(Delivery)
                    .where(Delivery.id == row_id, Delivery.status == PENDING, Delivery.next_attempt_at == due)
                    .values(next_attempt_at=lease)
                )
                if done.rowcount == 1:  # type: ignore[attr-defined]
                    claimed.append((row_id, receiver, payload, attempts, created))
        return claimed

    def deliver_due(self, store: Store, now: dt.datetime) -> list[dict[str, Any]]:
        """Send every due delivery once; return what happened to each (id, receiver, status, error)."""
        report = []
        for row_id, name, payload, attempts, created in self._claim(store, now):
            status, error = self._send(name, payload)
            attempts += 1
            values: dict[str, Any] = {"attempts": attempts, "last_error": error}
            if status == SENT:
                values.update(status=SENT, sent_at=now)
                log.info("alert notification %s delivered to %s", row_id, name)
            elif status == PENDING:
                age = (now - created).total_seconds()
                if age >= self.backoff.give_up_after:
                    values["status"] = FAILED
                else:
                    values["next_attempt_at"] = now + dt.timedelta(seconds=self.backoff.delay(attempts))
                log.warning("alert notification %s to %s failed (attempt %d): %s", row_id, name, attempts, error)
            else:
                values["status"] = status
            with store.session() as session:
                session.execute(update(Delivery).where(Delivery.id == row_id).values(**values))
            report.append({"id": row_id, "receiver": name, "status": values.get("status", PENDING), "error": error})
        return report

    def _send(self, name: str, payload: dict[str, Any]) -> tuple[str, str | None]:
        receiver = self.receivers.get(name)
        if receiver is None:
            return FAILED, f"no receiver named {name!r} in egov.yml"
        sender = self.senders.get(receiver.type)
        if sender is None:
            return FAILED, f"no sender for receiver type {receiver.type!r}"
        body: dict[str, Any] | None = payload
        if not receiver.settings.get("send_resolved", True):
            body = without_resolved(payload)
            if body is None:
                return SKIPPED, None
        try:
            sender(receiver, body, self.resolve, self.timeout)
        except DeliveryError as error:
            return PENDING, str(error)
        except Exception as error:  # a vault error or a bug: keep the row, never the secret
            return PENDING, f"{type(error).__name__}: {getattr(error, 'message', None) or 'sending failed'}"
        return SENT, None


def delivery_log(session: Session, limit: int = 100, receiver: str | None = None) -> list[dict[str, Any]]:
    """The newest deliveries (for the console and ``egov alerts deliveries``)."""
    query = select(Delivery).order_by(Delivery.id.desc()).limit(limit)
    if receiver:
        query = query.where(Delivery.receiver == receiver)
    return [
        {
            "id": row.id,
            "receiver": row.receiver,
            "group_key": row.group_key,
            "kind": row.kind,
            "status": row.status,
            "alerts": len(row.payload.get("alerts", [])),
            "payload_status": row.payload.get("status"),
            "attempts": row.attempts,
            "created_at": row.created_at.isoformat(),
            "sent_at": row.sent_at.isoformat() if row.sent_at else None,
            "last_error": row.last_error,
        }
        for row in session.scalars(query)
    ]
