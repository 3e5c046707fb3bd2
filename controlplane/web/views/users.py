"""User administration (admin): list, add, change role and sites, disable, reset TOTP.

A site-scoped admin manages only users whose whole scope lies inside their
own (and can only grant sites inside it); no change may leave the console
without an enabled ministry-level admin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from controlplane.errors import BadInputError
from controlplane.users import LANGUAGES, ROLES
from controlplane.web import actions
from controlplane.web.errors import ApiError
from controlplane.web.helpers import form_text
from controlplane.web.policy import current_scope, requires
from controlplane.web.queries import visible_sites
from controlplane.web.state import state

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

bp = Blueprint("users", __name__)


def _form_sites() -> list[str]:
    sites = request.form.getlist("sites")
    if len(sites) > 100 or any(len(site) > 63 for site in sites):
        raise BadInputError("too many or too long site names")
    return sites


def _choices() -> dict[str, Any]:
    return {
        "roles": ROLES,
        "languages": LANGUAGES,
        "all_sites": visible_sites(state().inventory, current_scope()),
        "site_titles": {name: site.title_zh for name, site in state().inventory.sites.items()},
    }


@bp.get("/users")
@requires("users.manage", scoped=True)
def index() -> ResponseReturnValue:
    """List the users this admin manages, with the form to add one."""
    return render_template("users.html", users=actions.visible_users(), **_choices())


@bp.post("/users")
@requires("users.manage", scoped=True)
def create() -> ResponseReturnValue:
    """Add a user (the initial password is set by the admin and changed by the user)."""
    data = {
        "name": form_text("name", 64),
        "role": form_text("role", 32),
        "password": request.form.get("password", ""),
        "sites": _form_sites(),
        "display_name": form_text("display_name", 128) or None,
        "language": form_text("language", 8) or None,
    }
    try:
        user = actions.create_user(data)
    except (BadInputError, ApiError) as error:
        if isinstance(error, ApiError) and error.status == 403:
            raise
        flash(_("The user was not added: %(reason)s", reason=getattr(error, "message", "")), "error")
        return redirect(url_for("users.index"))
    flash(_("User %(name)s added.", name=user.name), "ok")
    return redirect(url_for("users.edit", name=user.name))


@bp.get("/users/<name>")
@requires("users.manage", scoped=True)
def edit(name: str) -> ResponseReturnValue:
    """Show one user with the forms to change them."""
    return render_template("user_edit.html", user=actions.get_user(name), **_choices())


@bp.post("/users/<name>")
@requires("users.manage", scoped=True)
def update(name: str) -> ResponseReturnValue:
    """Change a user's role, sites, display name and language."""
    changes = {
        "role": form_text("role", 32),
        "sites": _form_sites(),
        "display_name": form_text("display_name", 128) or None,
        "language": form_text("language", 8) or None,
    }
    return _apply(name, changes, _("Changes saved."))


@bp.post("/users/<name>/disable")
@requires("users.manage", scoped=True)
def disable(name: str) -> ResponseReturnValue:
    """Disable a user (their sessions and tokens stop working at once)."""
    return _apply(name, {"disabled": True}, _("User disabled."))


@bp.post("/users/<name>/enable")
@requires("users.manage", scoped=True)
def enable(name: str) -> ResponseReturnValue:
    """Enable a disabled user again."""
    return _apply(name, {"disabled": False}, _("User enabled."))


@bp.post("/users/<name>/totp-reset")
@requires("users.manage", scoped=True)
def totp_reset(name: str) -> ResponseReturnValue:
    """Remove a user's TOTP secret so they enrol again at their next login."""
    actions.reset_user_totp(name)
    flash(_("The second factor was reset."), "ok")
    return redirect(url_for("users.edit", name=name))


@bp.post("/users/<name>/sessions/end")
@requires("users.manage", scoped=True)
def sessions_end(name: str) -> ResponseReturnValue:
    """End every console session of a user (e.g. a laptop lost while logged in)."""
    count = actions.end_user_sessions(name)
    flash(_("Sessions ended: %(count)d.", count=count), "ok")
    return redirect(url_for("users.edit", name=name))


def _apply(name: str, changes: dict[str, Any], done: str) -> ResponseReturnValue:
    try:
        actions.update_user(name, changes)
    except (BadInputError, ApiError) as error:
        if isinstance(error, ApiError) and error.status in (403, 404):
            raise
        flash(_("Not changed: %(reason)s", reason=getattr(error, "message", "")), "error")
    else:
        flash(done, "ok")
    return redirect(url_for("users.edit", name=name))
