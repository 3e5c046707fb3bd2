"""Who is asking, and the request-level defences: sessions, bearer tokens, CSRF, headers.

Hooks run in this order on every request: :func:`authenticate` (session
cookie or ``Authorization: Bearer``), the policy check, :func:`check_body`,
:func:`check_csrf`. After the view: security headers and the session's
activity stamp.

The session is Flask's signed cookie (HttpOnly, SameSite=Lax, Secure under
TLS). It carries the user id, the login stage, login and last-activity
times, the CSRF token and the password-change time it was issued under, so
a password change or a disabled account ends every other session at once;
idle (30 min) and absolute (12 h) timeouts are checked on every request.
"""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import time
from typing import TYPE_CHECKING

from flask import Flask, Response, current_app, g, request, session

from controlplane.web.policy import scope_for
from controlplane.web.state import state

if TYPE_CHECKING:
    from controlplane.store.models import User

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
STAGES = ("second_factor", "enrol", "full")


def _now() -> float:
    return float(current_app.config.get("EGOV_CLOCK", time.time)())


def csrf_token() -> str:
    """Return the session's CSRF token, creating one when the session has none."""
    token = session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return str(token)


def start_session(user: User, stage: str) -> None:
    """Begin a fresh session for a user at a login stage (a new key and CSRF token: no fixation).

    The session is recorded in the store (:mod:`controlplane.users.sessions`); the
    previous one of this cookie, if any, is revoked.
    """
    from controlplane.users import sessions
    from controlplane.web.helpers import client_address

    previous = session.get("sid")
    with state().store.session() as db:
        if previous:
            sessions.end(db, str(previous))
        # Rows past the absolute limit can never be valid again: drop them as logins come.
        sessions.purge(db, dt.timedelta(seconds=float(current_app.config["EGOV_ABSOLUTE_TIMEOUT"])))
        key = sessions.begin(db, user.id, address=client_address(), user_agent=request.headers.get("User-Agent", ""))
    session.clear()
    now = _now()
    session.update(
        uid=user.id,
        sid=key,
        stage=stage,
        pwd=user.password_changed_at.isoformat(),
        t0=now,
        seen=now,
        csrf=secrets.token_urlsafe(32),
    )
    session.permanent = True


def end_session() -> None:
    """End the session (logout): revoked in the store, so a copy of the cookie is worthless, and cleared."""
    from controlplane.users import sessions

    key = session.get("sid")
    if key:
        with state().store.session() as db:
            sessions.end(db, str(key))
    session.clear()


def current_session_key() -> str | None:
    """Return the key of the request's cookie session (None for a bearer token or no session)."""
    key = session.get("sid")
    return str(key) if key and g.get("egov_auth") == "session" else None


def _load_user(user_id: int, key: str | None) -> User | None:
    """Return the user of a cookie session whose stored session ``key`` is live, else None."""
    from sqlalchemy.exc import OperationalError

    from controlplane.users import sessions

    if not key:
        return None
    with state().store.session() as db:
        found = sessions.user_of(db, key, user_id)
    if found is None:
        return None
    user, live = found
    if sessions.due_for_touch(live):
        # Bookkeeping only: a busy database must not turn a page view into an error.
        try:
            with state().store.session() as db:
                sessions.touch(db, live.id)
        except OperationalError:
            current_app.logger.warning("session %s: last-seen time not written (database busy)", live.id)
    return user


def _bearer() -> str | None:
    """The bearer token of the request: None without one, "" for a ``Bearer`` header with no token.

    Any other scheme (``Basic`` added by a reverse proxy that authenticates
    to its upstream, ``Negotiate``...) is not ours and is ignored: the
    request then authenticates by its session cookie, or stays anonymous.
    """
    scheme, _, value = request.headers.get("Authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip()


def authenticate() -> None:
    """``before_request``: set g.egov_user, g.egov_stage, g.egov_auth and g.egov_scope.

    A bearer token wins over the cookie. An invalid token is a 401 at once
    (a client that sent one expects token semantics). An expired, idle or
    superseded session is dropped and the request continues anonymous.
    """
    from controlplane.web.errors import ApiError

    g.egov_user, g.egov_stage, g.egov_auth, g.egov_scope = None, "anonymous", None, None
    g.egov_session_expired = False
    token = _bearer()
    if token is not None:
        from controlplane.users import authenticate_token

        with state().store.session() as db:
            found = authenticate_token(db, token, max_days=state().config.token_max_days)
        if found is None:
            raise ApiError(401, "invalid_token", "the bearer token is invalid, expired or revoked")
        user = found[0]
        # The admin TOTP rule holds for tokens too (a token made before a role change or a TOTP reset).
        stage = "enrol" if user.role == "admin" and not user.totp_enabled else "full"
        g.egov_user, g.egov_stage, g.egov_auth = user, stage, "token"
        g.egov_scope = scope_for(user.sites, state().inventory)
        return None
    user_id = session.get("uid")
    if user_id is None:
        return None
    now = _now()
    idle = float(current_app.config["EGOV_IDLE_TIMEOUT"])
    absolute = float(current_app.config["EGOV_ABSOLUTE_TIMEOUT"])
    seen, started = float(session.get("seen", 0)), float(session.get("t0", 0))
    user = _load_user(int(user_id), session.get("sid"))
    valid = (
        user is not None
        and not user.disabled
        and session.get("stage") in STAGES
        and now - seen <= idle
        and now - started <= absolute
        and session.get("pwd") == user.password_changed_at.isoformat()
    )
    if not valid:
        g.egov_session_expired = True
        csrf = session.get("csrf")
        session.clear()
        if csrf:
            session["csrf"] = csrf  # keep the login form usable
        return None
    g.egov_user, g.egov_auth = user, "session"
    stage = str(session["stage"])
    # An admin must have TOTP: until enrolled, a logged-in admin may only enrol.
    if stage == "full" and user.role == "admin" and not user.totp_enabled:
        stage = "enrol"
    g.egov_stage = stage
    if stage != "second_factor":
        g.egov_scope = scope_for(user.sites, state().inventory)
    if now - seen > 15:  # refresh the activity stamp without rewriting the cookie on every hit
        session["seen"] = now
    return None


def check_csrf() -> None:
    """``before_request``: refuse an unsafe cookie-authenticated request without the session's token.

    The token comes from the form field ``csrf_token`` or the ``X-CSRF-Token``
    header. Bearer-token requests carry no ambient credential and are exempt.
    """
    from flask import abort

    if request.method not in UNSAFE_METHODS or g.get("egov_auth") == "token" or request.url_rule is None:
        return
    expected = session.get("csrf")
    given = request.headers.get("X-CSRF-Token") or (request.form.get("csrf_token") if request.form else None)
    if not expected or not given or not hmac.compare_digest(str(expected), str(given)):
        abort(403, description="csrf_failed")


def check_body() -> None:
    """``before_request`` for the API: 413 for a body over the limit, 415 for a body that is not JSON."""
    from flask import abort

    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    if limit and request.content_length and request.content_length > limit:
        abort(413)
    if not request.path.startswith("/api/") or request.method not in UNSAFE_METHODS:
        return
    has_body = bool(request.content_length) or request.headers.get("Transfer-Encoding", "").lower() == "chunked"
    if has_body and request.mimetype != "application/json":
        abort(415)


def add_headers(response: Response) -> Response:
    """``after_request``: security headers on everything, no-store on everything but static files."""
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CSP)
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    if current_app.config.get("EGOV_TLS"):
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    if request.endpoint != "static":
        headers["Cache-Control"] = "no-store"
        headers["Pragma"] = "no-cache"
    return response


def init_app(app: Flask) -> None:
    """Register the hooks on the app (authentication first, then policy, CSRF and body checks)."""
    from controlplane.web.policy import check_scope_was_applied, enforce

    app.before_request(authenticate)
    app.before_request(enforce)
    app.before_request(check_body)
    app.before_request(check_csrf)
    # after_request hooks run in reverse order: the scope check first, headers on whatever it returns.
    app.after_request(add_headers)
    app.after_request(check_scope_was_applied)
    app.jinja_env.globals["csrf_token"] = csrf_token
