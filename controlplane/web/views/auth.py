"""Login (password, then TOTP when enrolled), logout.

Every attempt is audited: ``auth.login`` ok/failed/locked, ``auth.lockout``
when a name or address reaches the failure limit, ``auth.totp`` for a wrong
code, ``auth.logout``. The password never reaches a log or an audit record.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from controlplane import users
from controlplane.store.models import User, utcnow
from controlplane.web.errors import _safe_next
from controlplane.web.helpers import audit_event, client_address, form_text
from controlplane.web.policy import ANONYMOUS, ENROLMENT, SECOND_FACTOR, requires
from controlplane.web.security import end_session, start_session
from controlplane.web.state import state

if TYPE_CHECKING:
    import datetime as dt

    from flask.typing import ResponseReturnValue

bp = Blueprint("auth", __name__)


def _next_url() -> str:
    return _safe_next(request.values.get("next", "") or "/")


def _locked_page(until: dt.datetime | None) -> tuple[str, int]:
    minutes = max(1, int((until - utcnow()).total_seconds() // 60) + 1) if until else 15
    return (
        render_template(
            "login.html",
            error=_("Too many failed attempts. Try again in %(minutes)d minutes.", minutes=minutes),
            next=_next_url(),
        ),
        429,
    )


def _audit_lockouts(result: users.LoginResult, name: str) -> None:
    for key in result.newly_locked:
        audit_event(
            "auth.lockout",
            key,
            outcome="locked",
            actor=name[:64] or "anonymous",
            until=result.locked_until.isoformat() if result.locked_until else None,
        )


@bp.route("/login", methods=["GET", "POST"])
@requires(ANONYMOUS)
def login() -> ResponseReturnValue:
    """Show the login form; check a name and password (throttled and audited)."""
    if request.method == "GET":
        if g.get("egov_stage") == "full":
            return redirect(_next_url())
        if g.get("egov_session_expired"):
            flash(_("Your session has ended. Please log in again."), "info")
        return render_template("login.html", next=_next_url())
    name = form_text("name", 128)
    password = request.form.get("password", "")[: users.MAX_PASSWORD]
    client = client_address()
    with state().store.session() as db:
        result = users.check_login(db, name, password, client)
        user = db.get(User, result.user_id) if result.user_id else None
    if result.outcome == "locked":
        audit_event("auth.login", name[:128], outcome="locked", actor=name[:64] or "anonymous")
        return _locked_page(result.locked_until)
    if result.outcome != "ok" or user is None:
        audit_event("auth.login", name[:128], outcome="failed", actor=name[:64] or "anonymous")
        _audit_lockouts(result, name)
        if result.newly_locked:
            return _locked_page(result.locked_until)
        return render_template("login.html", error=_("Wrong user name or password."), next=_next_url()), 200
    if user.totp_enabled:
        start_session(user, "second_factor")
        audit_event("auth.password", user.name, actor=user.name)
        return redirect(url_for("auth.login_totp", next=_next_url()))
    start_session(user, "full")
    with state().store.session() as db:
        users.login_completed(db, user.id)
    audit_event("auth.login", user.name, actor=user.name, mfa=False)
    if user.role == "admin":
        flash(_("Administrators must set up a second factor (TOTP) before doing anything else."), "info")
        return redirect(url_for("profile.totp_enrol"))
    return redirect(_next_url())


@bp.route("/login/totp", methods=["GET", "POST"])
@requires(SECOND_FACTOR)
def login_totp() -> ResponseReturnValue:
    """Ask for the TOTP code of a user whose password was accepted."""
    if request.method == "GET":
        return render_template("login_totp.html", next=_next_url())
    user = g.egov_user
    client = client_address()
    code = form_text("code", 16)
    with state().store.session() as db:
        locked = users.locked_until(db, users.throttle_keys(user.name, client))
    if locked is not None:
        end_session()
        audit_event("auth.login", user.name, outcome="locked", actor=user.name)
        return _locked_page(locked)
    vault = state().vault
    with state().store.session() as db:
        fresh = db.get(User, user.id)
        ok = fresh is not None and users.verify_totp(db, vault, fresh, code)
        if ok:
            users.login_completed(db, user.id)
            result = None
        else:
            result = users.second_factor_failed(db, user.name, client)
    if not ok:
        audit_event("auth.totp", user.name, outcome="failed", actor=user.name)
        if result is not None:
            _audit_lockouts(result, user.name)
            if result.newly_locked:
                end_session()
                return _locked_page(result.locked_until)
        return render_template("login_totp.html", error=_("Wrong code."), next=_next_url()), 200
    start_session(user, "full")
    audit_event("auth.login", user.name, actor=user.name, mfa=True)
    return redirect(_next_url())


@bp.post("/logout")
@requires(ENROLMENT)
def logout() -> ResponseReturnValue:
    """End the session (audited) and go back to the login page."""
    user = g.egov_user
    audit_event("auth.logout", user.name, actor=user.name)
    end_session()
    flash(_("You have logged out."), "info")
    return redirect(url_for("auth.login"))


@bp.post("/login/cancel")
@requires(SECOND_FACTOR)
def login_cancel() -> ResponseReturnValue:
    """Abandon a login waiting for its TOTP code."""
    end_session()
    return redirect(url_for("auth.login"))
