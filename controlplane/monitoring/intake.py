"""Intake of Alertmanager webhook payloads from sites that run their own Alertmanager.

The web route (``POST /api/v1/alerts/alertmanager``, token-protected) parses
the JSON body and hands it to :func:`intake_alertmanager` with the store.
The alerts join ours: same table, same fingerprint (Alertmanager's own), so
they appear in the console and go through our routing, silences,
inhibition, ack and escalation. A firing alert not refreshed for five
minutes is resolved by the monitor (Alertmanager re-sends firing alerts
every repeat interval; a site that went silent must not leave an alert
firing forever).

Site scope: a site's token (:mod:`controlplane.monitoring.intake_tokens`)
speaks only for its site and the sites below it. Each alert is checked on
its own: a ``host`` label must name an inventory host of the scope, a
``site`` label a site of the scope; an alert naming neither is stamped with
the token's site (so it is that site's alert, seen by that site's people,
and cannot collide with another site's alert of the same name). Refused
alerts touch nothing (they can neither raise nor resolve), the rest of the
batch goes through, and the answer says which were refused and why. Only the
legacy site-wide token skips these checks.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
from typing import TYPE_CHECKING, Any

from controlplane.errors import BadInputError
from controlplane.monitoring.alerts import ENGINE, FIRING, INTAKE, RESOLVED
from controlplane.monitoring.labels import fingerprint
from controlplane.monitoring.models import AlertRecord
from controlplane.store.models import utcnow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from controlplane.inventory import Inventory
    from controlplane.monitoring.intake_tokens import IntakeScope
    from controlplane.store import Store
    from controlplane.vault import Vault

MAX_ALERTS = 1000
MAX_LABELS = 64
MAX_VALUE = 1000
MAX_REFUSALS_LISTED = 100  # the answer names at most this many refused alerts (all are counted)
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]{0,127}$")
# The vault secret holding the bearer token the intake route expects (`egov secrets set ...`).
INTAKE_TOKEN_SECRET = "ALERTMANAGER_INTAKE_TOKEN"  # noqa: S105 - a secret's name, not its value


def expected_token(vault: Vault) -> str | None:
    """The intake token from the vault, or None when none is set (the route then refuses every call)."""
    return vault.get(INTAKE_TOKEN_SECRET) if vault.exists(INTAKE_TOKEN_SECRET) else None


def verify_token(presented: str | None, expected: str) -> bool:
    """Constant-time comparison of a presented bearer token with the expected one."""
    return bool(presented) and hmac.compare_digest(str(presented).encode(), expected.encode())


def _time(value: Any, what: str) -> dt.datetime | None:
    if value in (None, "", "0001-01-01T00:00:00Z"):
        return None
    if not isinstance(value, str):
        raise BadInputError(f"{what} must be an RFC 3339 time")
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise BadInputError(f"{what}: {value[:40]!r} is not an RFC 3339 time") from None
    parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    return None if parsed.year <= 1 else parsed


def _string_map(value: Any, what: str) -> dict[str, str]:
    if not isinstance(value, dict) or len(value) > MAX_LABELS:
        raise BadInputError(f"{what} must be an object of at most {MAX_LABELS} strings")
    result = {}
    for key, item in value.items():
        if not isinstance(key, str) or not LABEL_NAME.match(key) or not isinstance(item, str):
            raise BadInputError(f"{what}: {str(key)[:40]!r} is not a valid name with a string value")
        result[key] = item[:MAX_VALUE]
    return result


def parse_payload(payload: Any) -> list[dict[str, Any]]:
    """Check an Alertmanager v4 payload; return its alerts as clean dicts.

    Raises BadInputError (the route answers 400) naming the first problem.
    """
    if not isinstance(payload, dict):
        raise BadInputError("the payload must be a JSON object")
    if str(payload.get("version", "")) != "4":
        raise BadInputError("only Alertmanager webhook payload version 4 is accepted")
    items = payload.get("alerts")
    if not isinstance(items, list) or len(items) > MAX_ALERTS:
        raise BadInputError(f"alerts must be a list of at most {MAX_ALERTS}")
    clean = []
    for index, item in enumerate(items):
        where = f"alerts[{index}]"
        if not isinstance(item, dict):
            raise BadInputError(f"{where} must be an object")
        labels = _string_map(item.get("labels"), f"{where}.labels")
        if not labels.get("alertname"):
            raise BadInputError(f"{where}.labels needs alertname")
        status = item.get("status")
        if status not in (FIRING, RESOLVED):
            raise BadInputError(f"{where}.status must be firing or resolved")
        clean.append(
            {
                "labels": labels,
                "annotations": _string_map(item.get("annotations") or {}, f"{where}.annotations"),
                "status": status,
                "starts_at": _time(item.get("startsAt"), f"{where}.startsAt"),
                "ends_at": _time(item.get("endsAt"), f"{where}.endsAt"),
                "generator_url": str(item.get("generatorURL") or "")[:2000],
            }
        )
    return clean


def refusal(labels: dict[str, str], scope: IntakeScope, host_sites: dict[str, str]) -> str | None:
    """Why an alert lies outside a token's scope (a reason of intake_tokens.REASONS), or None when it is inside.

    ``host_sites`` maps every inventory host to its site. An alert inside
    the scope that names no site gets one (its host's, else the token's).
    """
    if scope.all_sites:
        return None
    host, site = labels.get("host"), labels.get("site")
    if host:
        if host not in host_sites:
            return "unknown_host"
        if not scope.allows(host_sites[host]):
            return "host_out_of_scope"
    if site and not scope.allows(site):
        return "site_out_of_scope"
    if not site:
        labels["site"] = host_sites[host] if host else str(scope.site)
    return None


def intake_alertmanager(
    payload: Any,
    store: Store,
    now: dt.datetime | None = None,
    *,
    scope: IntakeScope | None = None,
    inventory: Inventory | None = None,
) -> dict[str, Any]:
    """Merge an Alertmanager v4 payload into our alerts, refusing those outside the token's scope.

    ``scope`` None (and the legacy site-wide token) accepts every alert;
    a site token's scope needs the ``inventory`` to place hosts. Returns
    ``{"received", "firing", "resolved", "ignored", "refused", "refusals"}``
    (ignored: an alert whose labels equal one of our own engine's, which
    stays ours; refusals: up to MAX_REFUSALS_LISTED ``{"index", "alertname",
    "reason"}``). Refusals are counted in the store per reason and on the
    token. Raises BadInputError for a malformed payload (nothing is merged).
    """
    from controlplane.monitoring.intake_tokens import count_refusals
    from controlplane.monitoring.models import IntakeToken

    now = now or utcnow()
    counts: dict[str, Any] = {"received": 0, "firing": 0, "resolved": 0, "ignored": 0, "refused": 0, "refusals": []}
    alerts = parse_payload(payload)
    host_sites = {host.name: host.site for host in inventory.hosts} if inventory is not None else {}
    reasons: dict[str, int] = {}
    with store.session() as session:
        for index, item in enumerate(alerts):
            counts["received"] += 1
            why = refusal(item["labels"], scope, host_sites) if scope is not None else None
            if why is not None:
                counts["refused"] += 1
                reasons[why] = reasons.get(why, 0) + 1
                if len(counts["refusals"]) < MAX_REFUSALS_LISTED:
                    counts["refusals"].append({"index": index, "alertname": item["labels"]["alertname"], "reason": why})
                continue
            _merge(session, item, now, counts)
        count_refusals(session, reasons, now)
        token = session.get(IntakeToken, scope.token_id) if scope is not None and scope.token_id else None
        if token is not None:
            token.alerts_refused += counts["refused"]
            token.alerts_accepted += counts["received"] - counts["refused"]
    return counts


def _merge(session: Session, item: dict[str, Any], now: dt.datetime, counts: dict[str, Any]) -> None:
    """Merge one accepted alert into its row (created when new); add it to ``counts``."""
    fp = fingerprint(item["labels"])
    row = session.get(AlertRecord, fp)
    if row is not None and row.source == ENGINE:
        counts["ignored"] += 1
        return
    resolved = item["status"] == RESOLVED or (item["ends_at"] is not None and item["ends_at"] <= now)
    if row is None:
        row = AlertRecord(fingerprint=fp, source=INTAKE, labels=item["labels"], state="", transitions=[])
        session.add(row)
    was = row.state
    row.annotations = item["annotations"]
    row.generator_url = item["generator_url"]
    row.last_seen = now
    if resolved:
        counts["resolved"] += 1
        if was == FIRING:
            row.state, row.resolved_at = RESOLVED, item["ends_at"] or now
            row.transitions = [*(row.transitions or []), now.isoformat()]
        elif was == "":
            row.state, row.resolved_at = RESOLVED, item["ends_at"] or now
            row.fired_at = row.active_since = item["starts_at"] or now
    else:
        counts["firing"] += 1
        if was != FIRING:
            row.state = FIRING
            row.fired_at = row.active_since = item["starts_at"] or now
            row.resolved_at = None
            row.acked_by = row.acked_at = row.ack_comment = None
            row.transitions = [*(row.transitions or []), now.isoformat()]
