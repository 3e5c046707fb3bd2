"""The dashboard: health at a glance (a picture of the sites in scope), then sites, hosts and run counts."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from flask import Blueprint, current_app, render_template, url_for
from flask_babel import get_locale, gettext
from markupsafe import Markup
from sqlalchemy.orm import Session

from controlplane.store.models import utcnow
from controlplane.web import health, health_picture, health_svg, queries
from controlplane.web.cache import DEFAULT_TTL_SECONDS, ViewCache, cached_fragment
from controlplane.web.helpers import current_user
from controlplane.web.policy import Scope, allowed, current_scope, requires
from controlplane.web.state import state

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

bp = Blueprint("dashboard", __name__)
# Up to this many hosts in scope the dashboard lists every host; beyond, it summarises per site.
FULL_LIST_HOSTS = 50
HEALTH_CACHE = "egov_health_cache"
KEEP_VERSIONS = 12  # a picture is kept this many time-to-lives: served while its successor is computed
# What no write shows (a backup ageing past its RPO, a probe result going stale) changes over minutes:
# the picture is recomputed for it at most this often (a write that changes it shows at once).
REFRESH_SECONDS = 30.0


@bp.get("/")
@requires("dashboard.view", scoped=True)
def index() -> ResponseReturnValue:
    """The health picture of every site in the user's scope, then the sites with their hosts and latest runs.

    Beyond FULL_LIST_HOSTS hosts (a national or provincial view), each site
    shows counts by latest run state and the hosts that need attention; the
    hosts list has every host, page by page.
    """
    scope = current_scope()
    inventory = state().inventory
    summary = len(queries.visible_hosts(inventory, scope)) > FULL_LIST_HOSTS
    user = current_user()
    compliance = allowed(user.role if user else None, "compliance.view")

    def context() -> dict[str, Any]:
        data = (queries.dashboard_summary if summary else queries.dashboard)(db, inventory, scope)
        return {"data": data, "summary": summary}

    with state().store.session() as db:
        picture = health_fragment(db, scope, compliance)
        body = cached_fragment(db, ("dashboard", scope, summary), "_dashboard_body.html", context)
    return render_template("dashboard.html", picture=picture, body=body)


def health_fragment(session: Session, scope: Scope, compliance: bool) -> Markup:
    """The health picture rendered for ``scope``, kept per scope, language and :func:`health.health_version`.

    ``compliance``: whether the user may see compliance scores (a badge
    more). The version also carries a time bucket of REFRESH_SECONDS, so
    what no write shows (a backup ageing past its RPO) appears within it.
    The entry outlives its version: while one request computes the new
    picture (tens of milliseconds at a thousand hosts), the others get the
    previous one at once. Costs one statement when kept.
    """
    seconds = float(current_app.config.get("EGOV_VIEW_CACHE_SECONDS", DEFAULT_TTL_SECONDS))

    if seconds <= 0:
        return _render(health.read_sources(state().config, state().store, state().inventory), scope, compliance)
    cache = current_app.extensions.get(HEALTH_CACHE)
    if cache is None:
        cache = current_app.extensions.setdefault(HEALTH_CACHE, ViewCache(ttl=REFRESH_SECONDS * KEEP_VERSIONS))
    version = health.health_version(session)
    bucket = int(time.time() // max(seconds, REFRESH_SECONDS))
    key = (str(get_locale()), scope, compliance)
    return cache.get_or_compute(
        key, lambda: _render(kept_sources(cache, version, bucket), scope, compliance), version=(version, bucket)
    )


def kept_sources(cache: ViewCache, version: health.HealthVersion, bucket: int) -> health.Sources:
    """Every source of the picture, each kept (for all scopes) until its part of the version or the bucket changes.

    A probe changing state re-reads the probes only: the backup policy and
    the compliance results, the costly parts, are read again when they change.
    """
    app_state = state()

    def probes() -> Any:
        with app_state.store.session() as session:
            return health.probe_counts(session, utcnow())

    def scores() -> Any:
        with app_state.store.session() as session:
            return health.compliance_counts(session)

    def kept(name: str, part: Any, read: Any) -> Any:
        return cache.get_or_compute(("source", name), read, version=(part, bucket))

    return health.Sources(
        probes=kept("probes", version.probes, probes),
        scores=kept("scores", version.scans, scores),
        backups=kept("backups", version.backups, lambda: health.backup_rows(app_state.config, app_state.store,
                                                                             app_state.inventory)),
        alerts=kept("alerts", version.alerts, lambda: health.alert_rows(app_state.config, app_state.store)),
    )  # fmt: skip


def _render(sources: health.Sources, scope: Scope, compliance: bool) -> Markup:
    """The picture's HTML for one scope (a few milliseconds for a national tree of 111 sites)."""
    sites = health.site_health(state().inventory, scope, sources, compliance=compliance)
    picture = health_picture.layout(sites)
    words = picture_words()
    chinese = str(get_locale()).startswith("zh")
    titles = {
        name: (site.title_zh if chinese and site.title_zh else name) for name, site in state().inventory.sites.items()
    }
    # The output of an autoescaping template: already safe HTML.
    return Markup(  # noqa: S704
        render_template(
            "_health.html",
            head=health.headline(sites),
            picture=picture,
            words=words,
            marks=health_svg.MARKS,
            svg=health_svg.svg(picture, words, titles.__getitem__),
        )
    )


def picture_words() -> health_svg.Words:
    """The picture's words in the request's language, and the page of each dimension."""
    return health_svg.Words(
        labels={
            "hosts": gettext("Hosts up"),
            "probes": gettext("Probes passing"),
            "backups": gettext("Backups within RPO"),
            "compliance": gettext("Compliance"),
            "alerts": gettext("Open alerts"),
        },
        states={
            "ok": gettext("healthy"),
            "warn": gettext("needs attention"),
            "bad": gettext("failing"),
            "unknown": gettext("not known yet"),
        },
        unknown={
            "hosts": gettext("no recent probe result"),
            "probes": gettext("no recent probe result"),
            "backups": gettext("no backup configured"),
            "compliance": gettext("no scan yet"),
            "alerts": gettext("no scan yet"),
        },
        counted=gettext("%(good)d of %(total)d"),
        scored=gettext("%(score)s after waivers (%(held)d of %(total)d results hold)"),
        alerted=gettext("%(firing)d firing, %(handled)d acknowledged or silenced"),
        summary=gettext(
            "Sites from the ministry down to the schools; each shows hosts up, probes passing, backups within RPO, "
            "compliance and open alerts."
        ),
        pages={
            "hosts": url_for("hosts.index"),
            "probes": url_for("monitoring.index"),
            "backups": url_for("backup.index"),
            "compliance": url_for("compliance.index"),
            "alerts": url_for("alerts.index"),
        },
    )
