"""Intake tokens of the sites' Alertmanagers: one per site, stored hashed, with a site scope.

A site that runs its own Alertmanager posts to ``POST /api/v1/alerts/alertmanager``
with ``Authorization: Bearer egovam_<prefix>_<secret>``. The token names the
site it speaks for; :mod:`controlplane.monitoring.intake` refuses every alert
whose ``host`` or ``site`` label lies outside that site and the sites below it.
Tokens are made, listed and revoked by an admin (``egov alerts intake-token``
or ``/api/v1/alerts/intake-tokens``); only their SHA-256 is stored and the
clear token is shown once.

The single site-wide token of earlier versions (vault secret
``ALERTMANAGER_INTAKE_TOKEN``) still works and speaks for every site; it is
listed as ``legacy`` so that an admin can replace it with per-site tokens and
then delete the secret (``egov secrets delete ALERTMANAGER_INTAKE_TOKEN``).

Refusals are counted per reason in the store (read by the collector behind
``egov_alert_intake_refused_total{reason}``, the same answer from every
process). Bad-token attempts are held back per client address by
:mod:`controlplane.monitoring.intake_guard`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from controlplane.errors import BadInputError, EgovError
from controlplane.monitoring.models import IntakeRefusal, IntakeToken
from controlplane.store.models import utcnow

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from controlplane.inventory import Inventory
    from controlplane.store import Store
    from controlplane.vault import Vault

TOKEN_FORMAT = re.compile(r"^egovam_([a-z0-9]{8})_([A-Za-z0-9_-]{43})$")
TOKEN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ._-]{0,63}$")
SITE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
# The vault secret of the single site-wide token of earlier versions (still honoured, for every site).
LEGACY_SECRET = "ALERTMANAGER_INTAKE_TOKEN"  # noqa: S105 - a secret's name, not its value
# The bounded label set of egov_alert_intake_refused_total.
REASONS = ("bad_token", "rate_limited", "unknown_host", "host_out_of_scope", "site_out_of_scope")
# A token's last-used time is written at most this often (a busy Alertmanager must not mean a write per call).
TOUCH_EVERY = dt.timedelta(seconds=60)


@dataclass(frozen=True)
class IntakeScope:
    """Whom an intake token speaks for: every site (legacy token), or one site and the sites below it."""

    site: str | None  # None: every site
    sites: frozenset[str]
    token_id: int | None = None

    @property
    def all_sites(self) -> bool:
        """True for the legacy site-wide token."""
        return self.site is None

    def allows(self, site: str | None) -> bool:
        """True when an alert of ``site`` lies in the scope."""
        return self.all_sites or (site is not None and site in self.sites)


EVERY_SITE = IntakeScope(None, frozenset())


def scope_of(site: str, inventory: Inventory | None, token_id: int | None = None) -> IntakeScope:
    """The scope of a token for ``site``: the site and every site below it in the inventory."""
    below = inventory.site_and_descendants(site) if inventory is not None else {site}
    return IntakeScope(site, frozenset(below), token_id)


def token_hash(clear: str) -> str:
    """The stored form of a token: its SHA-256 in hex (the token is 256 random bits: no salt needed)."""
    return hashlib.sha256(clear.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- administration
def create_token(
    session: Session, site: str, *, name: str | None, created_by: str, known_sites: Iterable[str] | None
) -> tuple[IntakeToken, str]:
    """Make an intake token for ``site``; return (row, clear token). The clear token is never stored.

    Raises BadInputError for a site that is not in the inventory or a bad name.
    """
    if not isinstance(site, str) or not SITE_NAME.match(site):
        raise BadInputError("a site name is lowercase letters, digits and '-'")
    if known_sites is not None and site not in set(known_sites):
        raise BadInputError(f"unknown site {site!r}")
    name = name or f"{site} alertmanager"
    if not isinstance(name, str) or not TOKEN_NAME.match(name):
        raise BadInputError("a token name is 1-64 letters, digits, spaces, '.', '_' or '-'")
    prefix = "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(8))
    clear = f"egovam_{prefix}_{secrets.token_urlsafe(32)}"
    row = IntakeToken(
        name=name,
        site=site,
        prefix=prefix,
        token_hash=token_hash(clear),
        created_at=utcnow(),
        created_by=created_by[:128],
        alerts_accepted=0,
        alerts_refused=0,
    )
    session.add(row)
    session.flush()
    return row, clear


def list_tokens(session: Session, include_revoked: bool = False) -> list[IntakeToken]:
    """Every intake token, newest first (live ones only unless ``include_revoked``)."""
    query = select(IntakeToken).order_by(IntakeToken.id.desc())
    if not include_revoked:
        query = query.where(IntakeToken.revoked_at.is_(None))
    return list(session.scalars(query))


def revoke_token(session: Session, token_id: int) -> IntakeToken:
    """Revoke one intake token (it is refused from now on). Raises BadInputError when there is none."""
    row = session.get(IntakeToken, token_id)
    if row is None:
        raise BadInputError(f"no intake token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.flush()
    return row


def summary(row: IntakeToken) -> dict[str, Any]:
    """A token as JSON-safe data: never the token or its hash."""

    def iso(value: dt.datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": row.id,
        "name": row.name,
        "site": row.site,
        "prefix": f"egovam_{row.prefix}_",
        "created_at": iso(row.created_at),
        "created_by": row.created_by,
        "last_used_at": iso(row.last_used_at),
        "revoked_at": iso(row.revoked_at),
        "alerts_accepted": row.alerts_accepted,
        "alerts_refused": row.alerts_refused,
    }


def legacy_configured(vault: Vault | None) -> bool:
    """True while the site-wide vault token of earlier versions is set."""
    try:
        return vault is not None and bool(vault.exists(LEGACY_SECRET))
    except EgovError:  # no master key on this site: no vault, so no legacy token either
        return False


def configured(session: Session, vault: Vault | None) -> bool:
    """True when any intake token can be accepted (a live per-site token, or the legacy one)."""
    live = session.scalars(select(IntakeToken.id).where(IntakeToken.revoked_at.is_(None)).limit(1)).first()
    return live is not None or legacy_configured(vault)


# --------------------------------------------------------------------------- authentication
def authenticate(
    session: Session, presented: str | None, vault: Vault | None, inventory: Inventory | None
) -> IntakeScope | None:
    """The scope of a presented bearer token, or None when it is missing, wrong or revoked.

    Per-site tokens are looked up by hash; anything else is compared in
    constant time with the legacy vault token. Writes the token's last-used
    time at most every TOUCH_EVERY.
    """
    if not presented:
        return None
    if TOKEN_FORMAT.match(presented):
        row = session.scalars(select(IntakeToken).where(IntakeToken.token_hash == token_hash(presented))).first()
        if row is None or row.revoked_at is not None:
            return None
        now = utcnow()
        if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY:
            row.last_used_at = now
            session.flush()
        return scope_of(row.site, inventory, row.id)
    if legacy_configured(vault):
        expected = vault.get(LEGACY_SECRET)  # type: ignore[union-attr] - legacy_configured checked it
        if hmac.compare_digest(presented.encode("utf-8"), str(expected).encode("utf-8")):
            return EVERY_SITE
    return None


# --------------------------------------------------------------------------- refusal counters
def count_refusals(session: Session, reasons: dict[str, int], now: dt.datetime | None = None) -> None:
    """Add refusals per reason to the store's counters (reasons outside REASONS are a programming error)."""
    now = now or utcnow()
    for reason, count in reasons.items():
        if reason not in REASONS:
            raise ValueError(f"unknown intake refusal reason {reason!r}")
        if count <= 0:
            continue
        row = session.get(IntakeRefusal, reason)
        if row is None:
            session.add(IntakeRefusal(reason=reason, count=count, last_at=now))
        else:
            row.count, row.last_at = row.count + count, now
    session.flush()


def refusal_counts(session: Session) -> dict[str, int]:
    """Refusals so far per reason (every reason present, 0 when none)."""
    counts = dict.fromkeys(REASONS, 0)
    for row in session.scalars(select(IntakeRefusal)):
        counts[row.reason] = int(row.count)
    return counts


class RefusalCollector:
    """``egov_alert_intake_refused_total{reason}`` from the store at scrape time (the same in every process)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def describe(self) -> list[Metric]:
        """No description up front: client_python then calls collect() only at scrape time."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Yield the counter family with one sample per reason."""
        from prometheus_client.core import CounterMetricFamily

        family = CounterMetricFamily(
            "egov_alert_intake_refused",
            "Alertmanager intake requests (bad token, rate limited) and alerts (outside the token's site) refused.",
            labels=["reason"],
        )
        with self.store.session() as session:
            for reason, count in refusal_counts(session).items():
                family.add_metric([reason], float(count))
        yield family
