"""The user's own profile: display name and language, password, TOTP, API tokens, login sessions.

While TOTP is on, replacing the authenticator or turning it off needs the
password and a current code, and wrong attempts count like failed logins
(:mod:`controlplane.totp`). A password change revokes one's API tokens and
says how many.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import refresh

from controlplane import users
from controlplane.errors import BadInputError
from controlplane.store.models import User
from controlplane.users import sessions
from controlplane.web import actions
from controlplane.web.errors import ApiError
from controlplane.web.helpers import audit_event, client_address, form_text
from controlplane.web.policy import ENROLMENT, requires
from controlplane.web.security import current_session_key, start_session
from controlplane.web.state import state

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

bp = Blueprint("profile", __name__)


def _me() -> User:
    with state().store.session() as db:
        user = db.get(User, g.egov_user.id)
    assert user is not None  # noqa: S101 - the session hook loaded this user
    return user


def _identity_refused(result: users.LoginResult, action: str, name: str) -> None:
    """Audit and tell a refused password-and-code check (wrong, or locked by the login throttle)."""
    if result.outcome == "locked":
        audit_event(action, name, outcome="locked")
        flash(_("Too many attempts. Try again later."), "error")
        return
    audit_event(action, name, outcome="failed")
    for key in result.newly_locked:
        audit_event("auth.lockout", key, outcome="locked", actor=name)
    flash(_("Too many attempts. Try again later.") if result.newly_locked else _("Wrong password or code."), "error")


@bp.get("/profile")
@requires("self.profile")
def index() -> ResponseReturnValue:
    """Show the profile page."""
    me = _me()
    key = current_session_key()
    with state().store.session() as db:
        tokens = users.list_tokens(db, me)
        logins = [sessions.summary(row, key) for row in sessions.live(db, me.id)]
    config = state().config
    return render_template(
        "profile.html",
        me=me,
        tokens=tokens,
        logins=logins,
        languages=users.LANGUAGES,
        token_days=(config.token_default_days, config.token_max_days),
    )


@bp.post("/profile")
@requires("self.profile")
def update() -> ResponseReturnValue:
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
def password() -> ResponseReturnValue:
    """Change one's password (needs the current one; at least 12 characters)."""
    old = request.form.get("old_password", "")[: users.MAX_PASSWORD]
    new = request.form.get("new_password", "")
    if new != request.form.get("new_password2", ""):
        flash(_("The two new passwords differ."), "error")
        return redirect(url_for("profile.index"))
    if len(new) < users.MIN_PASSWORD:
        flash(_("A password needs at least %(n)d characters.", n=users.MIN_PASSWORD), "error")
        return redirect(url_for("profile.index"))
    with state().store.session() as db:
        live_tokens = sum(1 for row in users.list_tokens(db, _me()) if users.token_is_live(row))
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
    # Tokens made under the old password die with it (controlplane.users.set_password).
    if live_tokens:
        flash(_("API tokens revoked: %(count)d.", count=live_tokens), "info")
    return redirect(url_for("profile.index"))


@bp.route("/profile/totp", methods=["GET", "POST"])
@requires(ENROLMENT)
def totp_enrol() -> ResponseReturnValue:
    """Enrol a TOTP authenticator: show the secret and otpauth URI, then confirm a code.

    While TOTP is on the page first asks for the password and a current code
    (``reenrol``); only then does it show a new secret to confirm.
    """
    me = _me()
    vault = state().vault
    with state().store.session() as db:
        reenrolling = me.totp_enabled and users.reenrolment_open(db, me)
    if request.method == "GET":
        if me.totp_enabled:
            pending = users.pending_totp(vault, me) if reenrolling else None
            return render_template(
                "totp_enrol.html", me=me, secret=pending and pending[0], uri=pending and pending[1], reenrol=True
            )
        pending = users.pending_totp(vault, me) or users.start_totp_enrolment(vault, me)
        return render_template("totp_enrol.html", me=me, secret=pending[0], uri=pending[1], reenrol=False)
    if request.form.get("reenrol"):
        return _open_reenrolment(me)
    if request.form.get("restart"):
        if me.totp_enabled:  # a new secret while one is enrolled only through the password and code
            flash(_("Give your password and a current code to replace your authenticator."), "error")
        else:
            users.start_totp_enrolment(vault, me)
        return redirect(url_for("profile.totp_enrol"))
    action = "user.totp_reenrol" if me.totp_enabled else "user.totp_enrol"
    try:
        with state().store.session() as db:
            user = db.get(User, me.id)
            assert user is not None  # noqa: S101
            users.confirm_totp_enrolment(db, vault, user, form_text("code", 16))
    except users.AuthError:
        audit_event(action, me.name, outcome="failed")
        flash(_("Wrong code. Check the time on your device and try again."), "error")
        return redirect(url_for("profile.totp_enrol"))
    except BadInputError:
        flash(_("Give your password and a current code to replace your authenticator."), "error")
        return redirect(url_for("profile.totp_enrol"))
    audit_event(action, me.name)
    flash(_("Second factor enabled."), "ok")
    return redirect(url_for("profile.index"))


def _open_reenrolment(me: User) -> ResponseReturnValue:
    """Check the password and current code (throttled), then start a new pending secret."""
    password = request.form.get("password", "")[: users.MAX_PASSWORD]
    with state().store.session() as db:
        user = db.get(User, me.id)
        assert user is not None  # noqa: S101
        result, _pending = users.begin_totp_reenrolment(
            db, state().vault, user, password, form_text("code", 16), client_address()
        )
    if result.outcome != "ok":
        _identity_refused(result, "user.totp_reenrol", me.name)
        return redirect(url_for("profile.totp_enrol"))
    audit_event("user.totp_reenrol", me.name, outcome="started")
    return redirect(url_for("profile.totp_enrol"))


@bp.post("/profile/totp/disable")
@requires("self.profile")
def totp_disable() -> ResponseReturnValue:
    """Turn TOTP off (not for admins, for whom it is required); needs the password and a current code."""
    me = _me()
    if me.role == "admin":
        flash(_("Administrators must keep their second factor."), "error")
        return redirect(url_for("profile.index"))
    password = request.form.get("password", "")[: users.MAX_PASSWORD]
    with state().store.session() as db:
        user = db.get(User, me.id)
        assert user is not None  # noqa: S101
        result = users.disable_totp(db, state().vault, user, password, form_text("code", 16), client_address())
    if result.outcome != "ok":
        _identity_refused(result, "user.totp_disable", me.name)
        return redirect(url_for("profile.index"))
    audit_event("user.totp_disable", me.name)
    flash(_("Second factor disabled."), "ok")
    return redirect(url_for("profile.index"))


@bp.post("/profile/tokens")
@requires("self.tokens")
def token_create() -> ResponseReturnValue:
    """Create an API token and show it once."""
    me = _me()
    days_text = form_text("expires_days", 8)
    try:
        days = int(days_text) if days_text else None
        config = state().config
        with state().store.session() as db:
            row, clear = users.create_token(
                db, me, form_text("name", 64), days, default_days=config.token_default_days,
                max_days=config.token_max_days,
            )  # fmt: skip
    except (ValueError, BadInputError):
        flash(_("The token name or lifetime is not valid."), "error")
        return redirect(url_for("profile.index"))
    audit_event("token.create", f"token:{row.id}", name=row.name, prefix=row.prefix)
    return render_template("token_created.html", token=clear, row=row)


@bp.post("/profile/tokens/<int:token_id>/revoke")
@requires("self.tokens")
def token_revoke(token_id: int) -> ResponseReturnValue:
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
def sessions_end_others() -> ResponseReturnValue:
    """End every other login session of one's own (e.g. a browser left logged in elsewhere)."""
    me = _me()
    with state().store.session() as db:
        count = sessions.end_all(db, me.id, keep=current_session_key())
    audit_event("session.end_others", me.name, sessions=count)
    flash(_("Other sessions ended: %(count)d.", count=count), "ok")
    return redirect(url_for("profile.index"))
