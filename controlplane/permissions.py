"""Which role holds which permission: the one table the console, the API and the engines all decide by.

It lives in the core, not beside the console's route policy
(:mod:`controlplane.web.policy`, which enforces it on every request), so
that an engine deciding for a caller (a runbook start from the CLI or an
alert, :mod:`controlplane.runbook.scope`) reads the same table without
importing web code.
"""

from __future__ import annotations

from controlplane.users import ROLES

# Markers for permissions that are not role sets.
ANONYMOUS = "anonymous"  # anyone, logged in or not (login page, static files, OpenAPI)
SECOND_FACTOR = "second_factor"  # password accepted, TOTP code still due
ENROLMENT = "enrolment"  # logged in, but maybe an admin who must enrol TOTP first

ALL_ROLES: frozenset[str] = frozenset(ROLES)

# permission -> roles allowed. The single source of truth for authorisation.
PERMISSIONS: dict[str, frozenset[str]] = {
    "dashboard.view": ALL_ROLES,
    "sites.view": ALL_ROLES,
    "hosts.view": ALL_ROLES,
    "runs.view": ALL_ROLES,
    "runs.start": frozenset({"admin", "operator"}),
    "runs.cancel": frozenset({"admin", "operator"}),
    "audit.view": frozenset({"admin", "security_officer", "auditor"}),
    "users.manage": frozenset({"admin"}),
    "self.profile": ALL_ROLES,
    "self.tokens": ALL_ROLES,
    "metrics.view": ALL_ROLES,
    # Compliance: results and reports for those who fix, assess or audit; only a security officer waives.
    "compliance.view": frozenset({"admin", "operator", "security_officer", "auditor"}),
    "compliance.waive": frozenset({"security_officer"}),
    # Backups: everyone sees status; operators run and drill; restores (which write over data) need an admin.
    "backup.view": ALL_ROLES,
    "backup.run": frozenset({"admin", "operator"}),
    "backup.restore": frozenset({"admin"}),
    # Alerts and host health: everyone sees them; those on call (and operators, admins) ack and silence.
    "alerts.view": ALL_ROLES,
    "alerts.manage": frozenset({"admin", "operator", "oncall"}),
    # The tokens sites' own Alertmanagers post with (each speaks for one site): admins, within their scope.
    "alerts.intake_tokens": frozenset({"admin"}),
    # Runbooks: everyone sees plans, journals and drill results; operators and admins start them.
    "runbooks.view": ALL_ROLES,
    "runbooks.start": frozenset({"admin", "operator"}),
    # The second person of a critical runbook's real run: another admin or operator whose scope covers it.
    "runbooks.approve": frozenset({"admin", "operator"}),
    # Provision and harden: everyone sees runs, per-host progress and drift; operators and admins start them.
    "automation.view": ALL_ROLES,
    "automation.start": frozenset({"admin", "operator"}),
    # Service levels: everyone sees objectives, budgets and reports of their sites; those who plan the work
    # (and on call) declare maintenance windows, which leave the budget and silence alerts (audited, in reports).
    "availability.view": ALL_ROLES,
    "maintenance.manage": frozenset({"admin", "operator", "oncall"}),
    # SSH certificates for people (issue 15): a root shell on the hosts of one's scope, so only those who run
    # automation on hosts; security officers and auditors stay without one (separation of duties).
    "ssh.certificate": frozenset({"admin", "operator"}),
    # The network (issue 16): everyone sees the zones, flows and verifies of their sites; those who run automation
    # start a verify (it probes from a host in every zone: read-only, but it is traffic on every boundary).
    "network.view": ALL_ROLES,
    "network.verify": frozenset({"admin", "operator"}),
    ENROLMENT: ALL_ROLES,
}
__all__ = ["ALL_ROLES", "ANONYMOUS", "ENROLMENT", "PERMISSIONS", "SECOND_FACTOR"]
