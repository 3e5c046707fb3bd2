"""On-call alerts in the console: the list (firing, pending, silenced, resolved), ack, silence, unsilence.

Alerts are site-owned through their ``site`` label: a user sees and acts on
the alerts of the sites in scope only (an alert without a site label, such
as a control-plane check, is ministry level). A silence made by a site-scoped
user must be pinned to that scope by an equality matcher on ``site`` or on an
inventory ``host``, so nobody mutes another site's alerts. The engine
functions (:mod:`controlplane.monitoring.alert_actions`) do the work and write the
audit records, with the console user as actor and the client address.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from controlplane.errors import BadInputError, EgovError
from controlplane.web.errors import ApiError
from controlplane.web.helpers import client_address, current_user, form_text
from controlplane.web.policy import current_scope, require_site, requires
from controlplane.web.site_filter import requested_sites
from controlplane.web.state import state
from controlplane.web.validation import query_choice

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

    from controlplane.monitoring.spec import MonitoringSpec

bp = Blueprint("alerts", __name__)
log = logging.getLogger(__name__)
FILTERS = ("firing", "pending", "silenced", "inhibited", "resolved")
FINGERPRINT = frozenset("0123456789abcdef")
MAX_SILENCE_HOURS = 24 * 366


def monitoring_spec() -> MonitoringSpec | None:
    """The site's monitoring spec (rules, silences-as-code, inhibition), or None when it does not load."""
    from controlplane.monitoring.spec_loader import load_monitoring

    config = state().config
    try:
        return load_monitoring(config.monitoring, tuple(r.name for r in config.receivers) or None)
    except EgovError as error:
        log.warning("monitoring spec does not load: %s", error)
        return None


def alert_site(alert: dict[str, Any]) -> str | None:
    """The site an alert belongs to: its ``site`` label (None: ministry level)."""
    return (alert.get("labels") or {}).get("site") or None


def visible_alerts(state_filter: str | None = None) -> list[dict[str, Any]]:
    """The alerts of the sites in the current user's scope, firing first."""
    from controlplane.monitoring.alert_actions import list_alerts

    scope = current_scope()
    rows = list_alerts(state().store, monitoring_spec(), state=state_filter)
    return [row for row in rows if scope.allows(alert_site(row))]


def find_alert(fingerprint: str) -> dict[str, Any]:
    """One alert by its full fingerprint, after the site check; 404 when there is none."""
    from controlplane.monitoring.alert_actions import list_alerts

    text = fingerprint.strip().lower()
    if not text or len(text) > 64 or set(text) - FINGERPRINT:
        raise ApiError(404, "not_found", "no such alert")
    found = [row for row in list_alerts(state().store, None) if row["fingerprint"] == text]
    if not found:
        raise ApiError(404, "not_found", "no such alert")
    require_site(alert_site(found[0]))
    return found[0]


def acknowledge(fingerprint: str, comment: str) -> dict[str, Any]:
    """Acknowledge a firing alert in scope as the current user; 409 when it is not firing."""
    from controlplane.monitoring.alert_actions import ack_alert

    alert = find_alert(fingerprint)
    if alert["state"] != "firing":
        raise ApiError(409, "not_firing", f"the alert is {alert['state']}: only firing alerts can be acknowledged")
    return ack_alert(state().store, alert["fingerprint"], current_user().name, comment, client=client_address())


def silence_sites(matchers: list[str]) -> set[str | None]:
    """The sites a silence is pinned to by ``site=`` / ``host=`` equality matchers (empty: not pinned).

    Raises BadInputError for a matcher that does not parse.
    """
    from controlplane.monitoring.labels import parse_matchers

    try:
        parsed = parse_matchers(matchers)
    except ValueError as error:
        raise BadInputError(str(error)) from None
    inventory = state().inventory
    sites: set[str | None] = set()
    for matcher in parsed:
        if matcher.op != "=":
            continue
        if matcher.name == "site":
            sites.add(matcher.value)
        elif matcher.name == "host":
            try:
                sites.add(inventory.host(matcher.value).site)
            except BadInputError:
                sites.add(None)
    return sites


def silence_in_scope(matchers: list[str]) -> bool:
    """True when the current user may see or end a silence with these matchers."""
    scope = current_scope()
    if scope.all_sites:
        return True
    try:
        sites = silence_sites(matchers)
    except BadInputError:
        return False
    return bool(sites) and all(scope.allows(site) for site in sites)


def make_silence(matchers: list[str], comment: str, hours: float) -> dict[str, Any]:
    """Create a silence as the current user after the scope check.

    Raises BadInputError for bad matchers, comment or duration; ApiError 403
    when a scoped user's silence is not pinned to sites in scope.
    """
    from controlplane.monitoring.alert_actions import create_silence

    clean = [m.strip() for m in matchers if m.strip()]
    if not clean:
        raise BadInputError("a silence needs at least one matcher (name=value)")
    if not 0 < hours <= MAX_SILENCE_HOURS:
        raise BadInputError(f"the duration must be between 0 and {MAX_SILENCE_HOURS} hours")
    silence_sites(clean)  # 400 for a matcher that does not parse, before the scope answer
    if not silence_in_scope(clean):
        raise ApiError(403, "forbidden", "a silence must name a site (site=...) or host (host=...) in your scope")
    return create_silence(
        state().store,
        clean,
        author=current_user().name,
        comment=comment,
        duration=hours * 3600,
        client=client_address(),
    )


def visible_silences(include_expired: bool = False) -> list[dict[str, Any]]:
    """Silences (stored and from silences.yml) the current user may see."""
    from controlplane.monitoring.alert_actions import list_silences

    current_scope()
    return [
        item
        for item in list_silences(state().store, monitoring_spec(), include_expired=include_expired)
        if silence_in_scope(item["matchers"])
    ]


def end_silence(silence_id: str) -> None:
    """Expire a stored silence in scope now; 404 for an unknown one, 403 out of scope."""
    from controlplane.monitoring.alert_actions import expire_silence
    from controlplane.monitoring.models import SilenceRecord

    if len(silence_id) > 64:
        raise ApiError(404, "not_found", "no such silence")
    with state().store.session() as db:
        row = db.get(SilenceRecord, silence_id)
        matchers = list(row.matchers) if row is not None else None
    if matchers is None:
        raise ApiError(404, "not_found", "no such silence")
    if not silence_in_scope(matchers):
        abort(403)
    expire_silence(state().store, silence_id, current_user().name, client=client_address())


def _hours(text: str) -> float:
    try:
        return float(text or "2")
    except ValueError:
        raise BadInputError("the duration must be a number of hours") from None


@bp.get("/alerts")
@requires("alerts.view", scoped=True)
def index() -> ResponseReturnValue:
    """Alerts in scope (filter by state), with ack and silence forms, and the active silences."""
    wanted = query_choice("state", FILTERS)
    site_filter = requested_sites()

    def of_site(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [row for row in rows if site_filter is None or site_filter.covers(alert_site(row))]

    alerts = of_site(visible_alerts(wanted))
    counts: dict[str, int] = {}
    for alert in of_site(visible_alerts(None)) if wanted else alerts:
        counts[alert["state"]] = counts.get(alert["state"], 0) + 1
        if alert.get("silenced_by"):
            counts["silenced"] = counts.get("silenced", 0) + 1
    return render_template(
        "alerts.html",
        alerts=alerts,
        wanted=wanted,
        filters=FILTERS,
        counts=counts,
        silences=visible_silences(),
        site_filter=site_filter,
    )


@bp.post("/alerts/<fingerprint>/ack")
@requires("alerts.manage", scoped=True)
def ack(fingerprint: str) -> ResponseReturnValue:
    """Acknowledge a firing alert (stops repeats and escalation)."""
    try:
        alert = acknowledge(fingerprint, form_text("comment", 2000))
    except ApiError as error:
        if error.status != 409:
            raise
        flash(error.message, "error")
    except BadInputError as error:
        flash(error.message, "error")
    else:
        flash(_("Alert %(name)s acknowledged.", name=alert["name"]), "ok")
    return redirect(url_for("alerts.index"))


@bp.post("/alerts/silences")
@requires("alerts.manage", scoped=True)
def silence() -> ResponseReturnValue:
    """Create a silence from label matchers (one per line or comma-separated), a comment and hours."""
    current_scope()
    text = request.form.get("matchers", "")
    if len(text) > 4000:
        abort(400)
    matchers = [part for line in text.splitlines() for part in line.split(",")]
    try:
        made = make_silence(matchers, form_text("comment", 2000), _hours(form_text("hours", 16)))
    except BadInputError as error:
        flash(_("The silence was not created: %(reason)s", reason=error.message), "error")
    else:
        flash(_("Silence %(id)s created.", id=made["id"]), "ok")
    return redirect(url_for("alerts.index"))


@bp.post("/alerts/silences/<silence_id>/expire")
@requires("alerts.manage", scoped=True)
def expire(silence_id: str) -> ResponseReturnValue:
    """End a silence now."""
    try:
        end_silence(silence_id)
    except BadInputError as error:
        flash(error.message, "error")
    else:
        flash(_("Silence %(id)s ended.", id=silence_id), "ok")
    return redirect(url_for("alerts.index"))
