"""The user's own profile: display name and language, password, TOTP, API tokens, login sessions."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import refresh

from controlplane import sessions, users
from controlplane.errors import BadInputError
from controlplane.store.models import User
from controlplane.web import actions
from controlplane.web.errors import ApiError
from controlplane.web.helpers import audit_event, form_text
from controlplane.web.policy import ENROLMENT, requires
from controlplane.web.security import current_session_key, start_session
from controlplane.web.state import state

bp = Blueprint("profile", __name__)


def _me() -> User:
    with state().store.session() as db:
        user = db.get(User, g.egov_user.id)
    assert user is not None  # noqa: S101 - the session hook loaded this user
    return user


@bp.get("/profile")
@requires("self.profile")
def index() -> Any:
    """Show the profile page."""
    me = _me()
    key = current_session_key()
    with state().store.session() as db:
        tokens = users.list_tokens(db, me)
        logins = [sessions.summary(row, key) for row in sessions.live(db, me.id)]
    return render_template("profile.html", me=me, tokens=tokens, logins=logins, languages=users.LANGUAGES)


@bp.post("/profile")
@requires("self.profile")
def update() -> Any:
    """Change one's display name and interface language."""
    me = _me()
    try:
        display = users.check_text(form_text("display_name", 128) or None, users.MAX_DISPLAY_NAME, "display name")
        language = users.check_language(form_text("language", 8) or None)
    except BadInputError:
        flash(_("The display name or language is not valid."), "error")
        return redirect(url_for("profile.index"))
    with state().store.session() as db:
        user = db.get(User, me.id)
        assert user is not None  # noqa: S101
        user.display_name, user.language = display, language
    audit_event("user.update", me.name, fields=["display_name", "language"])
    # Say "saved" in the language just chosen, not the one this request started with.
    g.egov_user.language = language
    refresh()
    flash(_("Profile saved."), "ok")
    return redirect(url_for("profile.index"))


@bp.post("/profile/password")
@requires("self.profile")
def password() -> Any:
    """Change one's password (needs the current one; at least 12 characters)."""
    old = request.form.get("old_password", "")[: users.MAX_PASSWORD]
    new = request.form.get("new_password", "")
    if new != request.form.get("new_password2", ""):
        flash(_("The two new passwords differ."), "error")
        return redirect(url_for("profile.index"))
    if len(new) < users.MIN_PASSWORD:
        flash(_("A password needs at least %(n)d characters.", n=users.MIN_PASSWORD), "error")
        return redirect(url_for("profile.index"))
    try:
        user = actions.change_own_password(old, new)
    except ApiError as error:
        if error.status == 429:
            flash(_("Too many attempts. Try again later."), "error")
        else:
            flash(_("The current password is wrong."), "error")
        return redirect(url_for("profile.index"))
    except BadInputError:
        flash(_("The new password is not acceptable."), "error")
        return redirect(url_for("profile.index"))
    # Other sessions end (they were issued under the old password); this one continues.
    start_session(user, "full")
    with state().store.session() as db:
        sessions.end_all(db, user.id, keep=current_session_key())
    flash(_("Password changed."), "ok")
    return redirect(url_for("profile.index"))


@bp.route("/profile/totp", methods=["GET", "POST"])
@requires(ENROLMENT)
def totp_enrol() -> Any:
    """Enrol a TOTP authenticator: show the secret and otpauth URI, then confirm a code."""
    me = _me()
    vault = state().vault
    if request.method == "GET":
        if me.totp_enabled:
            return render_template("totp_enrol.html", me=me, secret=None, uri=None)
        pending = users.pending_totp(vault, me) or users.start_totp_enrolment(vault, me)
        return render_template("totp_enrol.html", me=me, secret=pending[0], uri=pending[1])
    if request.form.get("restart"):
        users.start_totp_enrolment(vault, me)
        return redirect(url_for("profile.totp_enrol"))
    try:
        with state().store.session() as db:
            user = db.get(User, me.id)
            assert user is not None  # noqa: S101
            users.confirm_totp_enrolment(db, vault, user, form_text("code", 16))
    except BadInputError:
        audit_event("user.totp_enrol", me.name, outcome="failed")
        flash(_("Wrong code. Check the time on your device and try again."), "error")
        return redirect(url_for("profile.totp_enrol"))
    audit_event("user.totp_enrol", me.name)
    flash(_("Second factor enabled."), "ok")
    return redirect(url_for("profile.index"))


@bp.post("/profile/totp/disable")
@requires("self.profile")
def totp_disable() -> Any:
    """Turn TOTP off (not for admins, for whom it is required); needs a current code."""
    me = _me()
    if me.role == "admin":
        flash(_("Administrators must keep their second factor."), "error")
        return redirect(url_for("profile.index"))
    vault = state().vault
    with state().store.session() as db:
        user = db.get(User, me.id)
        assert user is not None  # noqa: S101
        ok = users.verify_totp(db, vault, user, form_text("code", 16))
    if not ok:
        audit_event("user.totp_disable", me.name, outcome="failed")
        flash(_("Wrong code."), "error")
        return redirect(url_for("profile.index"))
    with state().store.session() as db:
        user = db.get(User, me.id)
        assert user is not None  # noqa: S101
        users.reset_totp(db, vault, user)
    audit_event("user.totp_disable", me.name)
    flash(_("Second factor disabled."), "ok")
    return redirect(url_for("profile.index"))


@bp.post("/profile/tokens")
@requires("self.tokens")
def token_create() -> Any:
    """Create an API token and show it once."""
    me = _me()
    days_text = form_text("expires_days", 8)
    try:
        days = int(days_text) if days_text else None
        with state().store.session() as db:
            row, clear = users.create_token(db, me, form_text("name", 64), days)
    except (ValueError, BadInputError):
        flash(_("The token name or lifetime is not valid."), "error")
        return redirect(url_for("profile.index"))
    audit_event("token.create", f"token:{row.id}", name=row.name, prefix=row.prefix)
    return render_template("token_created.html", token=clear, row=row)


@bp.post("/profile/tokens/<int:token_id>/revoke")
@requires("self.tokens")
def token_revoke(token_id: int) -> Any:
    """Revoke one of one's API tokens."""
    me = _me()
    try:
        with state().store.session() as db:
            row = users.revoke_token(db, me, token_id)
    except BadInputError:
        flash(_("No such token."), "error")
        return redirect(url_for("profile.index"))
    audit_event("token.revoke", f"token:{token_id}", name=row.name)
    flash(_("Token revoked."), "ok")
    return redirect(url_for("profile.index"))


@bp.post("/profile/sessions/end-others")
@requires("self.profile")
def sessions_end_others() -> Any:
    """End every other login session of one's own (e.g. a browser left logged in elsewhere)."""
    me = _me()
    with state().store.session() as db:
        count = sessions.end_all(db, me.id, keep=current_session_key())
    audit_event("session.end_others", me.name, sessions=count)
    flash(_("Other sessions ended: %(count)d.", count=count), "ok")
    return redirect(url_for("profile.index"))
