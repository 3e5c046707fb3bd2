"""Small helpers the views share: the current user, auditing with the client address, form fields."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import g, request

from controlplane import audit
from controlplane.web.state import state

if TYPE_CHECKING:
    from controlplane.store.models import User


def current_user() -> User | None:
    """The authenticated User of this request (None when anonymous)."""
    return g.get("egov_user")


def client_address() -> str:
    """The client's address: the connection's, or the one a trusted proxy forwarded (see web/forwarded.py)."""
    return request.remote_addr or "unknown"


def audit_event(action: str, target: str, outcome: str = "ok", actor: str | None = None, **details: Any) -> None:
    """Append an audit record for this request (actor = current user, client = its address).

    Callers never pass secrets in ``details``.
    """
    user = current_user()
    via = "api" if request.path.startswith("/api/") else "console"
    audit.append(
        state().store,
        actor=actor or (user.name if user is not None else "anonymous"),
        action=action,
        target=target,
        outcome=outcome,
        client=client_address(),
        details={"via": via, **details},
        site=audit.site_from(details),
    )


def form_text(name: str, limit: int = 256) -> str:
    """Return a form field as text, stripped and at most ``limit`` characters (longer is refused)."""
    from controlplane.errors import BadInputError

    value = request.form.get(name, "")
    if len(value) > limit:
        raise BadInputError(f"{name} is too long")
    return value.strip()
