"""The register of issued certificates (table ``certificates``): what was issued, to whom, until when, revoked?

One row per certificate the CA signs (SSH host and user certificates, TLS
server certificates, and the CA's own certificates and keys as kind ``ca``).
The row holds only public facts: serial, subject, principals, the SHA256
fingerprint of the certified public key, validity, requester, revocation.
It is what `egov ca list` shows, what renewal jobs ask (:func:`due_for_renewal`)
and what revocation marks (:mod:`controlplane.pki.revocation`).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, BigInteger, Index, Integer, String, Text, select
from sqlalchemy.orm import Mapped, mapped_column

from controlplane.store.models import Base, UTCDateTime, utcnow

from .keys import new_serial

if TYPE_CHECKING:
    from controlplane.store import Store

KINDS = ("ssh-host", "ssh-user", "tls", "ca")


class Certificate(Base):
    """One issued certificate; never key material."""

    __tablename__ = "certificates"
    __table_args__ = (
        Index("ix_certificates_kind_subject", "kind", "subject"),
        Index("ix_certificates_fingerprint", "fingerprint"),
        Index("ix_certificates_not_after", "not_after"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    serial: Mapped[int] = mapped_column(BigInteger, unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    subject: Mapped[str] = mapped_column(String(255))
    principals: Mapped[list[str]] = mapped_column(JSON, default=list)
    fingerprint: Mapped[str] = mapped_column(String(80))
    not_before: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    not_after: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    requester: Mapped[str] = mapped_column(String(128))
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_reason: Mapped[str | None] = mapped_column(Text, nullable=True)

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def renew_after(self, fraction: float = 2 / 3) -> dt.datetime:
        """The moment ``fraction`` of the validity has passed: renewal is due from then on."""
        return self.not_before + (self.not_after - self.not_before) * fraction

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe view (timestamps ISO 8601) for `egov ca list --json` and the API."""
        return {
            "serial": self.serial,
            "kind": self.kind,
            "subject": self.subject,
            "principals": list(self.principals or []),
            "fingerprint": self.fingerprint,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "requester": self.requester,
            "issued_at": self.issued_at.isoformat(),
            "revoked": self.revoked,
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
            "revoked_reason": self.revoked_reason,
        }


# The name other parts read in signatures: a row of the register.
CertificateRecord = Certificate


def latest_for(store: Store, kind: str, subject: str) -> Certificate | None:
    """The newest certificate of ``kind`` issued to ``subject`` (revoked or not), or None. One indexed query."""
    query = (
        select(Certificate)
        .where(Certificate.kind == kind, Certificate.subject == subject)
        .order_by(Certificate.issued_at.desc(), Certificate.id.desc())
        .limit(1)
    )
    with store.session() as session:
        return session.scalars(query).first()


def due_for_renewal(store: Store, kind: str, now: dt.datetime, fraction: float = 2 / 3) -> list[Certificate]:
    """The newest unrevoked certificate of each subject of ``kind`` whose ``fraction`` of validity has passed.

    Older certificates of a subject are superseded by its newest and never
    counted; an expired newest one is due too (renewal then reissues it).
    Reads every row of the kind once: thousands of rows, milliseconds.
    """
    newest: dict[str, Certificate] = {}
    query = select(Certificate).where(Certificate.kind == kind).order_by(Certificate.issued_at, Certificate.id)
    with store.session() as session:
        for row in session.scalars(query):
            newest[row.subject] = row
    return sorted(
        (row for row in newest.values() if row.revoked_at is None and row.renew_after(fraction) <= now),
        key=lambda row: row.not_after,
    )


def list_certificates(
    store: Store, *, kind: str | None = None, subject: str | None = None, limit: int = 1000
) -> list[Certificate]:
    """Certificates newest first, optionally of one kind and/or subject."""
    query = select(Certificate).order_by(Certificate.issued_at.desc(), Certificate.id.desc()).limit(limit)
    if kind:
        query = query.where(Certificate.kind == kind)
    if subject:
        query = query.where(Certificate.subject == subject)
    with store.session() as session:
        return list(session.scalars(query))


def by_serial(store: Store, serial: int) -> Certificate | None:
    """The certificate with this serial, or None."""
    with store.session() as session:
        return session.scalars(select(Certificate).where(Certificate.serial == serial)).first()


def by_fingerprint(store: Store, fingerprint: str) -> list[Certificate]:
    """Every certificate issued for the public key with this SHA256 fingerprint, oldest first."""
    query = select(Certificate).where(Certificate.fingerprint == fingerprint).order_by(Certificate.id)
    with store.session() as session:
        return list(session.scalars(query))


def serial_taken(store: Store, serial: int) -> bool:
    """True when a certificate already carries ``serial``."""
    return by_serial(store, serial) is not None


def add(store: Store, **fields: Any) -> Certificate:
    """Insert one row (IntegrityError on a duplicate serial, which callers avoid by drawing again)."""
    with store.session() as session:
        row = Certificate(**fields)
        session.add(row)
        session.flush()
    return row


def delete_serial(store: Store, serial: int) -> None:
    """Remove the row of a certificate that was never handed out (its audit record could not be written)."""
    with store.session() as session:
        row = session.scalars(select(Certificate).where(Certificate.serial == serial)).first()
        if row is not None:
            session.delete(row)


def free_serial(store: Store) -> int:
    """A random 63-bit serial no certificate carries yet (one indexed query per draw)."""
    while True:
        serial = new_serial()
        if not serial_taken(store, serial):
            return serial


def add_ca(
    store: Store,
    *,
    serial: int,
    subject: str,
    fingerprint: str,
    not_before: dt.datetime,
    not_after: dt.datetime,
    requester: str,
) -> None:
    """Register one of the CA's own certificates or keys (kind ``ca``)."""
    add(
        store,
        serial=serial,
        kind="ca",
        subject=subject,
        principals=[],
        fingerprint=fingerprint,
        not_before=not_before,
        not_after=not_after,
        requester=requester,
        issued_at=utcnow(),
    )
