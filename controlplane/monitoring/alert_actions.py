"""What people do with alerts, for the CLI and the web console alike.

List alerts (with what mutes them), acknowledge, silence and unsilence.
Every change writes an audit record; nothing here sends a notification (the
monitor loop picks the change up on its next step).
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from controlplane.errors import BadInputError
from controlplane.monitoring.alert_records import alert_from_row, load_alerts, load_silences
from controlplane.monitoring.alerts import FIRING, PENDING, RESOLVED, as_dict
from controlplane.monitoring.labels import parse_matchers
from controlplane.monitoring.models import AlertRecord, SilenceRecord
from controlplane.monitoring.spec import MonitoringSpec
from controlplane.monitoring.suppress import silence_active, suppression
from controlplane.store.models import utcnow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from controlplane.store import Store

STATES = (PENDING, FIRING, RESOLVED, "silenced", "inhibited")
MAX_SILENCE = dt.timedelta(days=366)
ORDER = {FIRING: 0, PENDING: 1, RESOLVED: 2}


def list_alerts(
    store: Store, spec: MonitoringSpec | None = None, *, state: str | None = None, now: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """Every alert as a dict, firing first, with ``silenced_by``, ``inhibited_by`` and ``flapping``.

    ``state`` filters: pending, firing, resolved, or silenced / inhibited
    (firing alerts muted that way). Raises BadInputError for another state.
    """
    if state is not None and state not in STATES:
        raise BadInputError(f"unknown alert state {state!r} (use {', '.join(STATES)})")
    now = now or utcnow()
    with store.session() as session:
        alerts = load_alerts(session)
        silences = [*(spec.silences if spec else ()), *load_silences(session, now)]
    muted = suppression(alerts, silences, spec.inhibit_rules if spec else (), now)
    rows = []
    for fp, alert in alerts.items():
        why = muted.get(fp, {"silenced_by": [], "inhibited_by": []})
        flapping = alert.flapping(spec.flapping, now) if spec else False
        row = as_dict(alert, {**why, "flapping": flapping})
        if state == "silenced" and not why["silenced_by"]:
            continue
        if state == "inhibited" and not why["inhibited_by"]:
            continue
        if state in (PENDING, FIRING, RESOLVED) and alert.state != state:
            continue
        rows.append(row)
    rows.sort(key=lambda r: (ORDER.get(r["state"], 9), r["fired_at"] or r["active_since"] or "", r["name"]))
    return rows


def _find(session: Session, fingerprint: str) -> AlertRecord:
    text = fingerprint.strip().lower()
    if not text or any(c not in "0123456789abcdef" for c in text):
        raise BadInputError(f"{fingerprint!r} is not an alert fingerprint (hex digits)")
    rows = session.scalars(select(AlertRecord).where(AlertRecord.fingerprint.startswith(text))).all()
    if not rows:
        raise BadInputError(f"no alert with fingerprint {fingerprint!r}")
    if len(rows) > 1:
        raise BadInputError(f"fingerprint prefix {fingerprint!r} matches {len(rows)} alerts: give more digits")
    return rows[0]


def ack_alert(store: Store, fingerprint: str, actor: str, comment: str = "", client: str = "local") -> dict[str, Any]:
    """Acknowledge a firing alert: repeats and escalation stop; records who and when.

    A unique prefix of the fingerprint is enough (refused when ambiguous);
    audited as ``alert.ack``. Returns the alert as a dict. Raises
    BadInputError for an unknown or ambiguous fingerprint or an alert that
    is not firing.
    """
    from controlplane import audit

    with store.session() as session:
        row = _find(session, fingerprint)
        if row.state != FIRING:
            raise BadInputError(f"alert {row.fingerprint} is {row.state}: only firing alerts can be acknowledged")
        row.acked_by, row.acked_at, row.ack_comment = actor[:128], utcnow(), comment[:2000] or None
        result = as_dict(alert_from_row(row))
    audit.append(store, actor=actor, action="alert.ack", target=result["fingerprint"], client=client,
                 details={"alertname": result["name"], "comment": comment[:200]},
                 site=result["labels"].get("site"))  # fmt: skip
    return result


def create_silence(
    store: Store,
    matchers: list[str],
    *,
    author: str,
    comment: str,
    ends_at: dt.datetime | None = None,
    duration: float | None = None,
    starts_at: dt.datetime | None = None,
    client: str = "local",
) -> dict[str, Any]:
    """Create a silence; return it as a dict (with its id).

    Matchers look like ``host=mn-db-1`` or ``alertname=~Disk.*``; the
    comment is required (it says why); the end is ``ends_at`` or
    ``duration`` seconds from the start. Audited as ``alert.silence``.
    Raises BadInputError for bad matchers, a missing comment, or a span that
    is empty or over a year.
    """
    from controlplane import audit

    if not matchers:
        raise BadInputError("a silence needs at least one matcher (name=value)")
    try:
        parsed = parse_matchers(matchers)
    except ValueError as error:
        raise BadInputError(str(error)) from None
    if all(m.op in ("=~",) and m.value in (".*", ".+") for m in parsed):
        raise BadInputError("a silence matching every alert is refused: narrow the matchers")
    if not comment.strip():
        raise BadInputError("a silence needs a comment saying why")
    start = starts_at or utcnow()
    end = ends_at or (start + dt.timedelta(seconds=duration) if duration else None)
    if end is None or end <= start:
        raise BadInputError("a silence needs an end after its start (--duration or --until)")
    if end - start > MAX_SILENCE:
        raise BadInputError("a silence may last a year at most (use a recurring window in silences.yml)")
    silence_id = secrets.token_hex(8)
    with store.session() as session:
        session.add(SilenceRecord(id=silence_id, matchers=[str(m) for m in parsed], starts_at=start, ends_at=end,
                                  author=author[:128], comment=comment[:2000], created_at=utcnow()))  # fmt: skip
    audit.append(store, actor=author, action="alert.silence", target=silence_id, client=client,
                 details={"matchers": [str(m) for m in parsed], "ends_at": end.isoformat()})  # fmt: skip
    return {"id": silence_id, "matchers": [str(m) for m in parsed], "starts_at": start.isoformat(),
            "ends_at": end.isoformat(), "author": author, "comment": comment}  # fmt: skip


def expire_silence(store: Store, silence_id: str, actor: str, client: str = "local") -> None:
    """End a silence now (``unsilence``). Raises BadInputError for an unknown or file-defined silence."""
    from controlplane import audit

    if silence_id.startswith("file:"):
        raise BadInputError(f"{silence_id} is defined in monitoring/silences.yml: remove it there")
    with store.session() as session:
        row = session.get(SilenceRecord, silence_id)
        if row is None:
            raise BadInputError(f"no silence {silence_id!r}")
        now = utcnow()
        if row.ends_at > now:
            row.ends_at = max(now, row.starts_at)
        row.expired_by = actor[:128]
    audit.append(store, actor=actor, action="alert.unsilence", target=silence_id, client=client)


def list_silences(
    store: Store, spec: MonitoringSpec | None = None, *, include_expired: bool = False
) -> list[dict[str, Any]]:
    """Silences from the store and from silences.yml, with whether each is active now."""
    now = utcnow()
    with store.session() as session:
        stored = load_silences(session, None if include_expired else now)
    items = []
    for silence in [*(spec.silences if spec else ()), *stored]:
        items.append(
            {
                "id": silence.id,
                "matchers": [str(m) for m in silence.matchers],
                "author": silence.author,
                "comment": silence.comment,
                "starts_at": silence.starts_at.isoformat() if silence.starts_at else None,
                "ends_at": silence.ends_at.isoformat() if silence.ends_at else None,
                "every": silence.every.__dict__ if silence.every else None,
                "active": silence_active(silence, now),
                "source": silence.source,
            }
        )
    return items


def health_grid(store: Store) -> dict[str, dict[str, dict[str, Any]]]:
    """Host health per site for the console grid, from the latest probe results.

    Returns ``{site: {host: {"ok": bool, "failing": [check...], "checks": {check: {...}}}}}``
    with sites and hosts sorted; control-plane checks appear under the
    ``controlplane`` site.
    """
    from controlplane.monitoring.results import latest_results

    with store.session() as session:
        results = latest_results(session)
    grid: dict[str, dict[str, dict[str, Any]]] = {}
    for result in sorted(results, key=lambda r: (r.site, r.host, r.check)):
        cell = grid.setdefault(result.site, {}).setdefault(result.host, {"ok": True, "failing": [], "checks": {}})
        cell["checks"][result.check] = {
            "success": result.success,
            "message": result.message,
            "duration_seconds": round(result.duration, 6),
            "at": result.at.isoformat(),
        }
        if not result.success:
            cell["ok"] = False
            cell["failing"].append(result.check)
    return grid
