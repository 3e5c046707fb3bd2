"""Error responses: one JSON shape for the API, a page (or the login redirect) for the console.

Every 4xx/5xx under ``/api/`` and ``/metrics`` has the body
``{"error": {"code": "...", "message": "..."}}``. Messages are ours, never an
exception's text, so nothing internal (or secret) leaks through them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Flask, Response, jsonify, redirect, render_template, request, url_for
from werkzeug.exceptions import HTTPException

from controlplane.errors import BadInputError

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}
MESSAGES: dict[int, str] = {
    400: "the request is invalid",
    401: "authentication required",
    403: "not allowed",
    404: "not found",
    405: "method not allowed",
    409: "conflict with the current state",
    413: "request body too large",
    415: "send the body as application/json",
    429: "too many requests",
    500: "internal error",
    503: "temporarily unavailable",
}
# Descriptions passed to abort() that are codes of ours rather than prose.
KNOWN_CODES = {"totp_enrolment_required", "csrf_failed", "policy_error", "stream_limit"}


class ApiError(Exception):
    """An error a view raises on purpose: HTTP status, stable code and a safe message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def wants_json() -> bool:
    """True for API and metrics requests (they get JSON errors, never pages or redirects)."""
    return request.path.startswith(("/api/", "/metrics"))


def json_error(status: int, code: str | None = None, message: str | None = None) -> Response:
    """Return the JSON error response for a status, code and message."""
    body = {"error": {"code": code or CODES.get(status, "error"), "message": message or MESSAGES.get(status, "error")}}
    response = jsonify(body)
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="egov"'
    return response


def _page_error(status: int, code: str | None, message: str | None) -> ResponseReturnValue:
    from flask_babel import gettext as _

    if status == 401:
        return redirect(url_for("auth.login", next=_safe_next(request.full_path)))
    if status == 403 and code == "totp_enrolment_required":
        return redirect(url_for("profile.totp_enrol"))
    titles = {
        400: _("The request is invalid."),
        403: _("You do not have permission to see this page."),
        404: _("This page does not exist."),
        405: _("This action is not available here."),
        409: _("This action conflicts with the current state."),
        413: _("The request is too large."),
        429: _("Too many attempts. Try again later."),
        503: _("The service is busy. Try again shortly."),
    }
    text = message if message and code not in KNOWN_CODES else titles.get(status, _("Something went wrong."))
    if code == "csrf_failed":
        text = _("The form has expired. Go back, reload the page and try again.")
    return render_template("error.html", status=status, message=text), status


def _safe_next(path: str) -> str:
    """Return a local path to come back to after login (never another site)."""
    path = path.rstrip("?")
    # Browsers drop tabs and newlines inside URLs ("/\t/evil" becomes "//evil"): refuse any control character.
    if not path.startswith("/") or path.startswith("//") or "\\" in path or any(ord(c) < 32 for c in path):
        return "/"
    return path


def respond(status: int, code: str | None = None, message: str | None = None) -> ResponseReturnValue:
    """Return the error response fitting the request: JSON for the API, a page otherwise."""
    if wants_json():
        return json_error(status, code, message)
    return _page_error(status, code, message)


def init_app(app: Flask) -> None:
    """Register the error handlers on the app."""

    @app.errorhandler(ApiError)
    def api_error(error: ApiError) -> ResponseReturnValue:
        return respond(error.status, error.code, error.message)

    @app.errorhandler(BadInputError)
    def bad_input(error: BadInputError) -> ResponseReturnValue:
        # Our BadInputError messages name the field and the rule, never a value's secret.
        return respond(400, "invalid", error.message)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> ResponseReturnValue:
        status = error.code or 500
        description = error.description if isinstance(error.description, str) else None
        code = description if description in KNOWN_CODES else None
        return respond(status, code, None)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> ResponseReturnValue:
        if isinstance(error, HTTPException):  # pragma: no cover - handled above
            return http_error(error)
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        return respond(500)
