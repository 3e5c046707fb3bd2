"""The web console and JSON API: the Flask application factory.

``create_app(config)`` builds the app for a site Config: it opens the store
(migrations and interrupted-run recovery happen there), wires one blueprint
per area and one ``init_app`` per extension (errors, security hooks, i18n,
metrics). Nothing slow happens here: the inventory (ansible) loads on first
use, translations compile only when their source changed.

Tests pass ``test_config``: any Flask setting, plus injected objects
(``EGOV_CONFIG``, ``EGOV_STORE``, ``EGOV_INVENTORY``, ``EGOV_VAULT``,
``EGOV_REGISTRY``, ``EGOV_DISPATCHER``) so a suite can share one migrated
store or inventory, or record what would start.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import Flask, g
from werkzeug.routing import IntegerConverter

from controlplane.web.forwarded import TrustedProxies

if TYPE_CHECKING:
    from werkzeug.routing import Map

    from controlplane.config import Config
    from controlplane.store import Store
    from controlplane.vault import Vault

DEFAULTS: dict[str, Any] = {
    "SESSION_COOKIE_NAME": "egov_session",
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "PERMANENT_SESSION_LIFETIME": dt.timedelta(hours=12),
    "MAX_CONTENT_LENGTH": 64 * 1024,
    "MAX_FORM_MEMORY_SIZE": 64 * 1024,
    "EGOV_IDLE_TIMEOUT": 30 * 60,
    "EGOV_ABSOLUTE_TIMEOUT": 12 * 3600,
    "EGOV_STREAM_POLL": 0.5,
    "EGOV_STREAM_MAX_SECONDS": 300,
    "EGOV_STREAM_LIMIT": 4,
    "EGOV_RUN_INTERVAL": 0.3,
    "EGOV_TLS": False,
}
INJECTED = ("EGOV_CONFIG", "EGOV_STORE", "EGOV_INVENTORY", "EGOV_VAULT", "EGOV_REGISTRY", "EGOV_DISPATCHER")
# Row ids are 32-bit on PostgreSQL (64-bit on SQLite): a larger number in a URL is no row (404, not a 500).
MAX_ROW_ID = 2**31 - 1


class RowIdConverter(IntegerConverter):
    """The ``int`` URL converter, bounded to the ids the store can hold."""

    def __init__(self, url_map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", MAX_ROW_ID)
        super().__init__(url_map, *args, **kwargs)


def _resolve_config(config: Config | None, test_config: dict[str, Any]) -> Config:
    if config is not None:
        return config
    if test_config.get("EGOV_CONFIG") is not None:
        return test_config["EGOV_CONFIG"]
    from controlplane.config import load_config

    return load_config(test_config.get("EGOV_CONFIG_PATH"))


def _open_vault(config: Config, store: Store, injected: Vault | None) -> Vault | None:
    """Return the vault, or None when this site has no master key yet (secrets then go to files)."""
    if injected is not None:
        return injected
    if not Path(config.key_file).exists():
        return None
    from controlplane.vault import open_vault

    return open_vault(config, store)


def create_app(config: Config | None = None, test_config: dict[str, Any] | None = None) -> Flask:
    """Build the console application.

    Without ``config`` the site is ``test_config["EGOV_CONFIG"]`` or is loaded
    from ``EGOV_CONFIG_PATH``/the usual places; ``test_config`` overrides the
    defaults and injects shared objects (see the module docstring). The store it
    opened itself is closed by :func:`shutdown`. Raises EgovError when the
    store cannot be opened, VaultKeyError for a wrong master key.
    """
    from prometheus_client import CollectorRegistry

    from controlplane.cli.wiring import wire
    from controlplane.dispatch import PoolDispatcher
    from controlplane.simulated_ping import SimulatedPing
    from controlplane.web import errors, i18n, security, state
    from controlplane.web.sse import StreamLimiter
    from controlplane.web.tasks import task_table
    from controlplane.web.views import metrics

    wire()  # the engines' answers the core needs (controlplane.providers), as every egov command has them
    settings = dict(test_config or {})
    site = _resolve_config(config, settings)
    app = Flask(__name__)
    app.url_map.converters["int"] = RowIdConverter  # before any blueprint adds its rules
    app.config.update(DEFAULTS)
    app.config["EGOV_TLS"] = bool(site.tls_cert and site.tls_key)
    app.config.update({k: v for k, v in settings.items() if k not in INJECTED})
    behind_https_proxy = bool(site.trusted_proxies) and (site.public_url or "").startswith("https://")
    app.config["SESSION_COOKIE_SECURE"] = bool(app.config["EGOV_TLS"]) or behind_https_proxy
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    # Believe exactly that many X-Forwarded-* hops, and only from the proxies' own addresses; with no proxy the
    # headers are removed (whatever the server passed through).
    app.wsgi_app = TrustedProxies(  # type: ignore[method-assign]
        app.wsgi_app, site.trusted_proxies, site.trusted_proxy_addresses
    )

    store = settings.get("EGOV_STORE")
    owns_store = store is None
    if store is None:
        from controlplane.store import open_store

        store = open_store(site)
    vault = _open_vault(site, store, settings.get("EGOV_VAULT"))
    # Without a master key the console still serves; the vault opens on demand (TOTP needs it).
    state.init_app(app, site, store, settings.get("EGOV_INVENTORY"), vault)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = state.secret_key(site, vault)
    app.extensions["egov.owns_store"] = owns_store
    pings = SimulatedPing(store, interval=float(app.config["EGOV_RUN_INTERVAL"]))
    app.extensions["egov.runner"] = pings
    # Every background run starts through this one dispatcher (controlplane.dispatch).
    app.extensions["egov.dispatcher"] = settings.get("EGOV_DISPATCHER") or PoolDispatcher(
        store, task_table(app.extensions["egov"], pings)
    )
    app.extensions["egov.streams"] = StreamLimiter(int(app.config["EGOV_STREAM_LIMIT"]))

    # Order matters: the latency timer first, then authentication and policy.
    metrics.init_app(app, settings.get("EGOV_REGISTRY") or CollectorRegistry(auto_describe=True), store)
    security.init_app(app)
    errors.init_app(app)
    i18n.init_app(app, Path(site.state_dir))
    _register_blueprints(app)
    _template_helpers(app)
    return app


def prepare_site(site: Config) -> None:
    """Do once what every console process would otherwise race to do: migrate, mark dead runs, make the session key.

    Called by ``egov serve`` before it forks worker processes (two processes
    making the session key at once would each sign cookies the other refuses).
    Raises EgovError when the store cannot be opened.
    """
    from controlplane.store import open_store
    from controlplane.web import state

    store = open_store(site)
    try:
        state.secret_key(site, _open_vault(site, store, None))
    finally:
        store.close()


def _register_blueprints(app: Flask) -> None:
    """Register the console pages, then the API blueprints of the catalog (the list the OpenAPI document uses).

    No hook depends on the order of pages and API: the alerts intake guard
    places itself by name (controlplane.web.api.alerts).
    """
    from controlplane.web.api.catalog import api_blueprints
    from controlplane.web.views import (
        alerts,
        audit,
        auth,
        automation,
        availability,  # service levels: /availability and the public /status
        backup,
        compliance,
        dashboard,
        hosts,
        monitoring,
        network,  # zones, flows and the verified segmentation matrix (issue 16)
        profile,
        runbooks,
        runs,
        ssh_certificate,  # SSH certificates for people, behind a TOTP code (issue 15)
        users,
    )

    for module in (
        auth, dashboard, hosts, runs, audit, users, profile, compliance, backup, alerts, monitoring, runbooks,
        automation, availability, ssh_certificate, network,
    ):  # fmt: skip
        app.register_blueprint(module.bp)
    for blueprint in api_blueprints():
        app.register_blueprint(blueprint)


def _template_helpers(app: Flask) -> None:
    from controlplane.web.policy import allowed
    from controlplane.web.state import state

    def can(permission: str) -> bool:
        user = g.get("egov_user")
        return user is not None and g.get("egov_stage") == "full" and allowed(user.role, permission)

    def site_title(name: str | None) -> str:
        if not name:
            return ""
        from flask_babel import get_locale

        site = state().inventory.sites.get(name)
        if site is not None and site.title_zh and str(get_locale()).startswith("zh"):
            return site.title_zh
        return name

    def when(value: dt.datetime | str | None) -> str:
        if value is None:
            return ""
        if isinstance(value, str):
            return value[:19].replace("T", " ")
        return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")

    from controlplane.web.labels import role_label, status_label

    app.jinja_env.globals.update(
        can=can,
        site_title=site_title,
        role_label=role_label,
        status_label=status_label,
        current_user=lambda: g.get("egov_user"),
    )

    def lang_tag() -> str:
        from flask_babel import get_locale

        return "zh-CN" if str(get_locale()).startswith("zh") else "en"

    app.jinja_env.globals["stage"] = lambda: g.get("egov_stage")
    app.jinja_env.globals["lang_tag"] = lang_tag
    app.jinja_env.filters["when"] = when
    from controlplane.web.recovery_banner import register as register_recovery_banner

    register_recovery_banner(app)  # a restored copy's standing, a stale recovery kit (issue 19)


def shutdown(app: Flask) -> None:
    """Stop the app's background runs (they end interrupted) and close the store it opened."""
    app.extensions["egov.runner"].shutdown()
    app.extensions["egov.dispatcher"].close(timeout=5.0)
    if app.extensions.get("egov.owns_store"):
        app.extensions["egov"].store.close()
