"""The authorisation policy: one table decides every route and API call.

``PERMISSIONS`` (:mod:`controlplane.permissions`, in the core so that engines
deciding for a caller read the same table) maps a permission to the roles
that hold it. Every view
declares its permission and whether it is site-scoped with :func:`requires`;
:func:`enforce` (a ``before_request`` hook) refuses any endpoint that declared
nothing, so a new route is denied until someone writes down who may use it.

Site scope: a user's ``sites`` list (empty = every site, ministry level)
covers those sites and every site below them in the inventory (a province
covers its schools). A site-scoped view must call :func:`require_site` on the
object it touches (or filter a listing with :func:`current_scope`); when it
returns a success without having done either, :func:`check_scope_was_applied`
turns the response into an error, so forgetting the check fails closed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from flask import abort, current_app, g, request

from controlplane.permissions import ANONYMOUS, ENROLMENT, PERMISSIONS, SECOND_FACTOR

if TYPE_CHECKING:
    from flask import Response

    from controlplane.inventory import Inventory

SPECIAL = (ANONYMOUS, SECOND_FACTOR)

# Endpoints Flask defines itself: declared here because they have no view of ours.
BUILTIN_ENDPOINTS: dict[str, tuple[str, bool]] = {"static": (ANONYMOUS, False)}

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class RoutePolicy:
    """What one endpoint requires: a permission, site scoping, and the loopback exemption."""

    permission: str
    scoped: bool = False
    open_on_loopback: bool = False


def requires(permission: str, *, scoped: bool = False, open_on_loopback: bool = False) -> Callable[[F], F]:
    """Declare the permission a view needs (checked by :func:`enforce` before it runs).

    Declared beside the view so the rule is read where the view is; a view
    with none is denied. ``permission`` is a key of PERMISSIONS (or
    ANONYMOUS / SECOND_FACTOR); a ``scoped`` view touches site-owned objects
    and must call require_site or current_scope (else it fails closed);
    ``open_on_loopback`` lets loopback clients in without logging in
    (``/metrics``). Raises KeyError at import time for an unknown permission.
    """
    if permission not in PERMISSIONS and permission not in SPECIAL:
        raise KeyError(f"unknown permission {permission!r}")

    def decorate(view: F) -> F:
        view.egov_policy = RoutePolicy(permission, scoped, open_on_loopback)  # type: ignore[attr-defined]
        return view

    return decorate


def policy_for(endpoint: str | None) -> RoutePolicy | None:
    """Return the declared policy of an endpoint, or None when it declared none."""
    if endpoint is None:
        return None
    if endpoint in BUILTIN_ENDPOINTS:
        permission, scoped = BUILTIN_ENDPOINTS[endpoint]
        return RoutePolicy(permission, scoped)
    view = current_app.view_functions.get(endpoint)
    return getattr(view, "egov_policy", None)


def allowed(role: str | None, permission: str) -> bool:
    """True when a role holds a permission in the table."""
    if permission == ANONYMOUS:
        return True
    roles = PERMISSIONS.get(permission)
    return role is not None and roles is not None and role in roles


# --------------------------------------------------------------------------- site scope
@dataclass(frozen=True)
class Scope:
    """The sites a user may see: every site, or an explicit set (with descendants)."""

    all_sites: bool
    sites: frozenset[str]

    def allows(self, site: str | None) -> bool:
        """True when an object of ``site`` is visible (a site-less object: ministry level only)."""
        if self.all_sites:
            return True
        return site is not None and site in self.sites

    def covers(self, sites: Iterable[str]) -> bool:
        """True when every site of another user's scope lies inside this scope (empty = all)."""
        wanted = list(sites)
        if self.all_sites:
            return True
        return bool(wanted) and all(site in self.sites for site in wanted)


def scope_for(user_sites: Iterable[str] | None, inventory: Inventory | None) -> Scope:
    """Return the Scope of a user's site list, expanded to descendants with the inventory."""
    names = list(user_sites or [])
    if not names:
        return Scope(True, frozenset())
    expanded: set[str] = set()
    for site in names:
        expanded |= inventory.site_and_descendants(site) if inventory is not None else {site}
    return Scope(False, frozenset(expanded))


def current_scope() -> Scope:
    """The current user's scope; marks the site check of a scoped view as done.

    Views that list objects call this and filter with ``scope.allows``.
    """
    g.egov_scope_applied = True
    scope: Scope | None = getattr(g, "egov_scope", None)
    if scope is None:
        abort(403)
    return scope


def require_site(site: str | None) -> None:
    """Abort with 403 unless the current user's scope covers ``site``."""
    if not current_scope().allows(site):
        abort(403)


def require_user_scope(sites: Iterable[str]) -> None:
    """Abort with 403 unless the current user's scope covers another user's whole scope."""
    if not current_scope().covers(sites):
        abort(403)


# --------------------------------------------------------------------------- enforcement
LOOPBACK = frozenset({"127.0.0.1", "::1", "::ffff:127.0.0.1"})


def enforce() -> None:
    """``before_request`` hook: refuse the request unless the endpoint's policy allows it.

    Expects ``g.egov_user`` (or None) and ``g.egov_stage`` ("anonymous",
    "second_factor", "enrol" or "full") set by the authentication hook.
    Returns None to let the view run; raises HTTP errors (401 or 403, 404 for
    unknown URLs) otherwise.
    """
    if request.url_rule is None:
        return None  # routing failed: Flask raises 404/405 after this hook
    rule = policy_for(request.endpoint)
    g.egov_scope_applied = False
    if rule is None:
        current_app.logger.error("endpoint %s declares no policy: denied", request.endpoint)
        abort(403)
    stage = getattr(g, "egov_stage", "anonymous")
    user = getattr(g, "egov_user", None)
    if rule.permission == ANONYMOUS:
        _granted(rule)
        return None
    if rule.open_on_loopback and request.remote_addr in LOOPBACK and stage == "anonymous":
        g.egov_scope = Scope(True, frozenset())
        _granted(rule)
        return None
    if rule.permission == SECOND_FACTOR:
        if stage == "second_factor":
            _granted(rule)
            return None
        abort(401)
    if user is None or stage in ("anonymous", "second_factor"):
        abort(401)
    if stage == "enrol" and rule.permission != ENROLMENT:
        # An admin without TOTP may do nothing but enrol (and log out).
        abort(403, description="totp_enrolment_required")
    if not allowed(user.role, rule.permission):
        abort(403)
    _granted(rule)
    return None


def _granted(rule: RoutePolicy) -> None:
    """Remember the policy of a request that will reach its view (for the scope check afterwards)."""
    g.egov_policy = rule


def check_scope_was_applied(response: Response) -> Response:
    """``after_request`` hook: a scoped view that succeeded without a site check fails closed.

    Only requests the policy let through carry ``g.egov_policy``; a refusal
    answered by an error handler (a redirect to the login page) is not checked.
    """
    rule: RoutePolicy | None = getattr(g, "egov_policy", None)
    if rule is not None and rule.scoped and response.status_code < 400 and not getattr(g, "egov_scope_applied", False):
        from controlplane.web.errors import respond

        current_app.logger.error("scoped endpoint %s returned without a site check", request.endpoint)
        return current_app.make_response(respond(500, "policy_error"))
    return response
