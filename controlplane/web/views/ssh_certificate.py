"""``/ssh-certificate``: a person gets a short-lived SSH certificate for the hosts of their scope, after a TOTP code.

The page only translates HTTP: the checks (role, TOTP, key, validity, the
code against the throttle and the replay guard), the principals and the
audit are :func:`controlplane.users.ssh_certificates.issue_user_certificate`'s.
A fresh code is asked even though the login took one: the certificate
outlives the console session, so it is issued on a second factor of its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, g, render_template
from flask_babel import gettext as _

from controlplane.errors import BadInputError, EgovError
from controlplane.store.models import User
from controlplane.users import ssh_certificates
from controlplane.web.helpers import client_address, form_text
from controlplane.web.policy import requires
from controlplane.web.state import state

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

bp = Blueprint("ssh_certificate", __name__)
# The form's key field: a public key line is far shorter; the app's request limit stays the outer bound.
MAX_KEY_FIELD = ssh_certificates.MAX_KEY_LINE


def _me() -> User:
    with state().store.session() as db:
        user = db.get(User, g.egov_user.id)
    assert user is not None  # noqa: S101 - the session hook loaded this user
    return user


def _page(me: User, status: int = 200, error: str | None = None, **values: object) -> ResponseReturnValue:
    default = state().config.pki.user_validity
    return render_template(
        "ssh_certificate.html",
        me=me,
        error=error,
        default_hours=default.total_seconds() / 3600,
        max_hours=ssh_certificates.MAX_VALIDITY.total_seconds() / 3600,
        **values,
    ), status


@bp.get("/ssh-certificate")
@requires(ssh_certificates.PERMISSION)
def index() -> ResponseReturnValue:
    """Show the form (or, without TOTP, the way to enrol first)."""
    return _page(_me())


@bp.post("/ssh-certificate")
@requires(ssh_certificates.PERMISSION)
def issue() -> ResponseReturnValue:
    """Issue the certificate and show it with a download; 400 for a bad request or a wrong code, 429 when locked.

    A wrong code is 400, not 403: the user may use this page, the request was wrong (403 would read as "not yours").
    """
    me = _me()
    if not me.totp_enabled:
        return _page(me, 400, _("Set up your second factor first: a certificate is issued only after a TOTP code."))
    try:
        key_text = form_text("public_key", MAX_KEY_FIELD)
        code = form_text("code", 16)
        hours = form_text("validity_hours", 8)
        validity = ssh_certificates.parse_validity(f"{int(hours)}h") if hours else None
    except (BadInputError, ValueError):
        return _page(me, 400, _("The validity must be a whole number of hours, at most 24."))
    try:
        issued = ssh_certificates.issue_user_certificate(
            state().config, state().store, state().vault, state().inventory, user_name=me.name,
            public_key=key_text, code=code, validity=validity, caller=me.name, client=client_address(),
        )  # fmt: skip
    except ssh_certificates.CodeLockedError:
        return _page(me, 429, _("Too many attempts. Try again later."), public_key=key_text)
    except ssh_certificates.AuthError:
        return _page(me, 400, _("Wrong or already used code. Wait for the next code and try again."),
                     public_key=key_text)  # fmt: skip
    except BadInputError as error:
        return _page(me, 400, _("Not issued: %(reason)s", reason=error.message), public_key=key_text)
    except EgovError as error:
        return _page(me, 503, _("Not issued: %(reason)s", reason=error.message), public_key=key_text)
    return render_template("ssh_certificate_issued.html", me=me, issued=issued, file_name=_file_name(key_text))


def _file_name(key_text: str) -> str:
    """The download's name: ``id_<type>-cert.pub``, where ssh finds the certificate of the default key names."""
    key_type = key_text.split(maxsplit=1)[0] if key_text.strip() else ""
    if key_type.startswith("ecdsa-"):
        return "id_ecdsa-cert.pub"
    return "id_rsa-cert.pub" if key_type == "ssh-rsa" else "id_ed25519-cert.pub"
