"""Translated labels for roles, run statuses and site levels (the stored values stay English)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

ROLE_LABELS = {
    "admin": _l("Administrator"),
    "operator": _l("Operations engineer"),
    "oncall": _l("On-call staff"),
    "security_officer": _l("Security officer"),
    "auditor": _l("Auditor"),
}
STATUS_LABELS = {
    "queued": _l("Queued"),
    "running": _l("Running"),
    "succeeded": _l("Succeeded"),
    "partial": _l("Partly succeeded"),
    "failed": _l("Failed"),
    "cancelled": _l("Cancelled"),
    "interrupted": _l("Interrupted"),
}


def role_label(role: str) -> str:
    """Return the translated name of a role (the role itself when unknown)."""
    return str(ROLE_LABELS.get(role, role))


def status_label(status: str | None) -> str:
    """Return the translated name of a run status (the status itself when unknown)."""
    return str(STATUS_LABELS.get(status or "", status or ""))
