"""Every route and API call x every role x in-scope and out-of-scope objects.

The route list comes from the app's URL map: a route without a policy
declaration, or without a sample request here, fails. Each sample also
names the permission the route is expected to declare (written down twice on
purpose: changing who may do something must change this table too). The
expected outcome comes from the policy table: allowed when the role holds the
permission and, for routes that touch a site-owned object, the object is in
the actor's scope (province-gd covers school-gd-1; ministry and dr-center are
outside it).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from controlplane.web.policy import ANONYMOUS, ENROLMENT, PERMISSIONS, SECOND_FACTOR, policy_for
from tests.unit.web.conftest import (
    ROLES,
    login_as,
    make_app,
    make_people,
    make_site,
    record_starts,
    remote_client,
    token_for,
)

UNUSED_HOST = "gd-edu-1"


@dataclass(frozen=True)
class Sample:
    """One request per scope: ``out`` is None when the route touches no site-owned object."""

    permission: str
    scoped: bool
    inside: str
    out: str | None = None
    json: Any = None
    form: dict[str, Any] | None = None


# (endpoint, method) -> Sample. {in_run}/{out_run} are active runs, {in_done}/{out_done} final ones.
SAMPLES: dict[tuple[str, str], Sample] = {
    ("static", "GET"): Sample(ANONYMOUS, False, "/static/console.css"),
    ("auth.login", "GET"): Sample(ANONYMOUS, False, "/login"),
    ("auth.login", "POST"): Sample(ANONYMOUS, False, "/login", form={"name": "x1", "password": "not it"}),
    ("auth.login_totp", "GET"): Sample(SECOND_FACTOR, False, "/login/totp"),
    ("auth.login_totp", "POST"): Sample(SECOND_FACTOR, False, "/login/totp", form={"code": "000000"}),
    ("auth.login_cancel", "POST"): Sample(SECOND_FACTOR, False, "/login/cancel", form={}),
    ("auth.logout", "POST"): Sample(ENROLMENT, False, "/logout", form={}),
    ("dashboard.index", "GET"): Sample("dashboard.view", True, "/"),
    ("hosts.index", "GET"): Sample("hosts.view", True, "/hosts"),
    ("hosts.detail", "GET"): Sample("hosts.view", True, "/hosts/gd-school-1", "/hosts/mn-portal-1"),
    ("runs.index", "GET"): Sample("runs.view", True, "/runs?status=running"),
    ("runs.detail", "GET"): Sample("runs.view", True, "/runs/{in_done}", "/runs/{out_done}"),
    ("runs.stream", "GET"): Sample("runs.view", True, "/runs/{in_done}/stream", "/runs/{out_done}/stream"),
    ("runs.create", "POST"): Sample(
        "runs.start", True, "/runs/new", "/runs/new", form={"kind": "ping", "host": "{host}"}
    ),
    ("runs.cancel", "POST"): Sample("runs.cancel", True, "/runs/{in_run}/cancel", "/runs/{out_run}/cancel", form={}),
    ("audit.index", "GET"): Sample("audit.view", True, "/audit"),
    ("users.index", "GET"): Sample("users.manage", True, "/users"),
    ("users.create", "POST"): Sample(
        "users.manage",
        True,
        "/users",
        "/users",
        form={"name": "{new_user}", "role": "oncall", "password": "a long enough password", "sites": "{sites}"},
    ),
    ("users.edit", "GET"): Sample("users.manage", True, "/users/target-school", "/users/target-ministry"),
    ("users.update", "POST"): Sample(
        "users.manage",
        True,
        "/users/target-school",
        "/users/target-ministry",
        form={"role": "oncall", "sites": "{target_sites}", "display_name": "T"},
    ),
    ("users.disable", "POST"): Sample(
        "users.manage", True, "/users/target-school/disable", "/users/target-ministry/disable", form={}
    ),
    ("users.enable", "POST"): Sample(
        "users.manage", True, "/users/target-school/enable", "/users/target-ministry/enable", form={}
    ),
    ("users.totp_reset", "POST"): Sample(
        "users.manage", True, "/users/target-school/totp-reset", "/users/target-ministry/totp-reset", form={}
    ),
    ("users.sessions_end", "POST"): Sample(
        "users.manage", True, "/users/target-school/sessions/end", "/users/target-ministry/sessions/end", form={}
    ),
    ("profile.index", "GET"): Sample("self.profile", False, "/profile"),
    ("profile.sessions_end_others", "POST"): Sample("self.profile", False, "/profile/sessions/end-others", form={}),
    ("api.me_sessions", "GET"): Sample("self.profile", False, "/api/v1/me/sessions"),
    ("api.me_sessions_end", "POST"): Sample("self.profile", False, "/api/v1/me/sessions/end", json={}),
    ("api.user_sessions_end", "POST"): Sample(
        "users.manage", True, "/api/v1/users/target-school/sessions/end", "/api/v1/users/target-ministry/sessions/end"
    ),
    ("profile.update", "POST"): Sample("self.profile", False, "/profile", form={"display_name": "Me", "language": ""}),
    ("profile.password", "POST"): Sample(
        "self.profile",
        False,
        "/profile/password",
        form={"old_password": "wrong", "new_password": "x" * 12, "new_password2": "x" * 12},
    ),
    ("profile.totp_enrol", "GET"): Sample(ENROLMENT, False, "/profile/totp"),
    ("profile.totp_enrol", "POST"): Sample(ENROLMENT, False, "/profile/totp", form={"code": "000000"}),
    ("profile.totp_disable", "POST"): Sample("self.profile", False, "/profile/totp/disable", form={"code": "000000"}),
    ("ssh_certificate.index", "GET"): Sample("ssh.certificate", False, "/ssh-certificate"),
    ("ssh_certificate.issue", "POST"): Sample(
        "ssh.certificate", False, "/ssh-certificate", form={"public_key": "ssh-dss AAAA", "code": "000000"}
    ),
    ("profile.token_create", "POST"): Sample("self.tokens", False, "/profile/tokens", form={"name": "matrix"}),
    ("profile.token_revoke", "POST"): Sample("self.tokens", False, "/profile/tokens/999999/revoke", form={}),
    ("metrics.metrics", "GET"): Sample("metrics.view", True, "/metrics"),
    ("api.openapi", "GET"): Sample(ANONYMOUS, False, "/api/v1/openapi.json"),
    ("api.me", "GET"): Sample(ENROLMENT, False, "/api/v1/me"),
    ("api.me_update", "PATCH"): Sample("self.profile", False, "/api/v1/me", json={"language": None}),
    ("api.me_password", "POST"): Sample(
        "self.profile", False, "/api/v1/me/password", json={"old_password": "wrong", "new_password": "y" * 12}
    ),
    ("api.me_totp_start", "POST"): Sample(ENROLMENT, False, "/api/v1/me/totp"),
    ("api.me_totp_confirm", "POST"): Sample(ENROLMENT, False, "/api/v1/me/totp/confirm", json={"code": "000000"}),
    ("api.me_totp_disable", "POST"): Sample("self.profile", False, "/api/v1/me/totp/disable", json={"code": "000000"}),
    ("api.tokens", "GET"): Sample("self.tokens", False, "/api/v1/tokens"),
    ("api.token_create", "POST"): Sample("self.tokens", False, "/api/v1/tokens", json={"name": "matrix"}),
    ("api.token_revoke", "DELETE"): Sample("self.tokens", False, "/api/v1/tokens/999999"),
    ("api.dashboard", "GET"): Sample("dashboard.view", True, "/api/v1/dashboard"),
    ("api.sites", "GET"): Sample("sites.view", True, "/api/v1/sites"),
    ("api.hosts", "GET"): Sample("hosts.view", True, "/api/v1/hosts"),
    ("api.host", "GET"): Sample("hosts.view", True, "/api/v1/hosts/gd-school-1", "/api/v1/hosts/mn-portal-1"),
    ("api.runs", "GET"): Sample("runs.view", True, "/api/v1/runs"),
    ("api.run_create", "POST"): Sample(
        "runs.start", True, "/api/v1/runs", "/api/v1/runs", json={"kind": "ping", "host": "{host}"}
    ),
    ("api.run", "GET"): Sample("runs.view", True, "/api/v1/runs/{in_done}", "/api/v1/runs/{out_done}"),
    ("api.run_output", "GET"): Sample(
        "runs.view", True, "/api/v1/runs/{in_done}/output", "/api/v1/runs/{out_done}/output"
    ),
    ("api.run_cancel", "POST"): Sample(
        "runs.cancel", True, "/api/v1/runs/{in_run}/cancel", "/api/v1/runs/{out_run}/cancel"
    ),
    ("api.audit_list", "GET"): Sample("audit.view", True, "/api/v1/audit"),
    ("api.audit_verify", "GET"): Sample("audit.view", True, "/api/v1/audit/verify"),
    ("api.users_list", "GET"): Sample("users.manage", True, "/api/v1/users"),
    ("api.user_create", "POST"): Sample(
        "users.manage",
        True,
        "/api/v1/users",
        "/api/v1/users",
        json={"name": "{new_user}", "role": "oncall", "password": "a long enough password", "sites": "{sites}"},
    ),
    ("api.user", "GET"): Sample("users.manage", True, "/api/v1/users/target-school", "/api/v1/users/target-ministry"),
    ("api.user_update", "PATCH"): Sample(
        "users.manage",
        True,
        "/api/v1/users/target-school",
        "/api/v1/users/target-ministry",
        json={"display_name": "Target"},
    ),
    ("api.user_delete", "DELETE"): Sample(
        "users.manage", True, "/api/v1/users/target-school", "/api/v1/users/target-ministry"
    ),
    ("api.user_totp_reset", "POST"): Sample(
        "users.manage", True, "/api/v1/users/target-school/totp-reset", "/api/v1/users/target-ministry/totp-reset"
    ),
    # Compliance: waiver expiry and downloads are also tested out of scope in tests/unit/web/test_compliance_pages.py.
    ("compliance.index", "GET"): Sample("compliance.view", True, "/compliance"),
    ("compliance.host", "GET"): Sample(
        "compliance.view", True, "/compliance/hosts/gd-school-1", "/compliance/hosts/mn-portal-1"
    ),
    ("compliance.control", "GET"): Sample(
        "compliance.view",
        True,
        "/compliance/hosts/gd-school-1/ssh.permit-root-login",
        "/compliance/hosts/mn-portal-1/ssh.permit-root-login",
    ),
    ("compliance.waivers", "GET"): Sample("compliance.view", True, "/compliance/waivers"),
    ("compliance.waiver_add", "POST"): Sample(
        "compliance.waive",
        True,
        "/compliance/waivers",
        "/compliance/waivers",
        form={
            "control": "ssh.permit-root-login",
            "hosts": "{host}",
            "justification": "matrix",
            "approver": "m",
            "expires": "2099-01-01",
        },
    ),
    ("compliance.waiver_expire", "POST"): Sample(
        "compliance.waive", True, "/compliance/waivers/0/expire", form={"control": "ssh.permit-root-login"}
    ),
    ("compliance.report", "GET"): Sample(
        "compliance.view", True, "/compliance/report.json?site=school-gd-1", "/compliance/report.json?site=ministry"
    ),
    ("api.compliance_scores", "GET"): Sample("compliance.view", True, "/api/v1/compliance/scores"),
    ("api.compliance_host", "GET"): Sample(
        "compliance.view", True, "/api/v1/compliance/hosts/gd-school-1", "/api/v1/compliance/hosts/mn-portal-1"
    ),
    ("api.compliance_waivers", "GET"): Sample("compliance.view", True, "/api/v1/compliance/waivers"),
    # Backups: gd-school-1 is in school-data; mn-oa-1 (ministry) in oa-data. Background work is stubbed below.
    ("backup.index", "GET"): Sample("backup.view", True, "/backup"),
    ("backup.detail", "GET"): Sample("backup.view", True, "/backup/school-data/gd-school-1", "/backup/oa-data/mn-oa-1"),
    ("backup.run_now", "POST"): Sample(
        "backup.run",
        True,
        "/backup/school-data/gd-school-1/run",
        "/backup/oa-data/mn-oa-1/run",
        form={"action": "backup"},
    ),
    ("backup.restore_now", "POST"): Sample(
        "backup.restore",
        True,
        "/backup/school-data/gd-school-1/restore",
        "/backup/oa-data/mn-oa-1/restore",
        form={"target": "/var/lib/egov/restore/x"},
    ),
    ("backup_api.status", "GET"): Sample("backup.view", True, "/api/v1/backup/status"),
    ("backup_api.snapshots", "GET"): Sample(
        "backup.view",
        True,
        "/api/v1/backup/school-data/gd-school-1/snapshots",
        "/api/v1/backup/oa-data/mn-oa-1/snapshots",
    ),
    ("backup_api.drills", "GET"): Sample(
        "backup.view", True, "/api/v1/backup/school-data/gd-school-1/drills", "/api/v1/backup/oa-data/mn-oa-1/drills"
    ),
    ("backup_api.run", "POST"): Sample(
        "backup.run",
        True,
        "/api/v1/backup/school-data/gd-school-1/run",
        "/api/v1/backup/oa-data/mn-oa-1/run",
        json={"action": "backup"},
    ),
    # Alerts: {in_alert}/{out_alert} fire on school-gd-1/ministry; silences pinned to gd-school-1/mn-portal-1.
    ("alerts.index", "GET"): Sample("alerts.view", True, "/alerts"),
    ("alerts.ack", "POST"): Sample(
        "alerts.manage", True, "/alerts/{in_alert}/ack", "/alerts/{out_alert}/ack", form={"comment": "matrix"}
    ),
    ("alerts.silence", "POST"): Sample(
        "alerts.manage",
        True,
        "/alerts/silences",
        "/alerts/silences",
        form={"matchers": "alertname=Matrix\nhost={host}", "comment": "matrix", "hours": "1"},
    ),
    ("alerts.expire", "POST"): Sample(
        "alerts.manage", True, "/alerts/silences/{in_silence}/expire", "/alerts/silences/{out_silence}/expire", form={}
    ),
    ("monitoring.index", "GET"): Sample("alerts.view", True, "/monitoring"),
    ("alerts_api.alerts", "GET"): Sample("alerts.view", True, "/api/v1/alerts"),
    ("alerts_api.ack", "POST"): Sample(
        "alerts.manage",
        True,
        "/api/v1/alerts/{in_alert}/ack",
        "/api/v1/alerts/{out_alert}/ack",
        json={"comment": "matrix"},
    ),
    ("alerts_api.silences", "GET"): Sample("alerts.view", True, "/api/v1/alerts/silences"),
    ("alerts_api.silence_create", "POST"): Sample(
        "alerts.manage",
        True,
        "/api/v1/alerts/silences",
        "/api/v1/alerts/silences",
        json={"matchers": ["alertname=Matrix", "host={host}"], "comment": "matrix", "duration_hours": 1},
    ),
    ("alerts_api.silence_expire", "DELETE"): Sample(
        "alerts.manage", True, "/api/v1/alerts/silences/{in_silence}", "/api/v1/alerts/silences/{out_silence}"
    ),
    # The intake has its own token (a user's is refused as invalid_intake_token); tested in test_alert_intake.py.
    ("alerts_api.intake", "POST"): Sample(
        ANONYMOUS, False, "/api/v1/alerts/alertmanager", json={"version": "4", "alerts": []}
    ),
    # {in_intake}/{out_intake}: intake tokens of school-gd-1 and the ministry.
    ("alerts_api.intake_tokens_list", "GET"): Sample("alerts.intake_tokens", True, "/api/v1/alerts/intake-tokens"),
    ("alerts_api.intake_token_create", "POST"): Sample(
        "alerts.intake_tokens",
        True,
        "/api/v1/alerts/intake-tokens",
        "/api/v1/alerts/intake-tokens",
        json={"site": "{site}"},
    ),
    ("alerts_api.intake_token_revoke", "DELETE"): Sample(
        "alerts.intake_tokens",
        True,
        "/api/v1/alerts/intake-tokens/{in_intake}",
        "/api/v1/alerts/intake-tokens/{out_intake}",
    ),
    # Runbooks: isolate-host targets the host given; {in_rb}/{out_rb} are runbook runs on gd-school-1/mn-portal-1.
    ("runbooks.index", "GET"): Sample("runbooks.view", True, "/runbooks"),
    ("runbooks.detail", "GET"): Sample("runbooks.view", True, "/runbooks/isolate-host"),
    ("runbooks.start", "POST"): Sample(
        "runbooks.start",
        True,
        "/runbooks/isolate-host/start",
        "/runbooks/isolate-host/start",
        form={"mode": "dry-run", "param_host": "{host}"},
    ),
    ("runbooks.journal", "GET"): Sample("runbooks.view", True, "/runbooks/runs/{in_rb}", "/runbooks/runs/{out_rb}"),
    ("runbooks.stream", "GET"): Sample(
        "runbooks.view", True, "/runbooks/runs/{in_rb}/stream", "/runbooks/runs/{out_rb}/stream"
    ),
    ("runbooks.export", "GET"): Sample(
        "runbooks.view", True, "/runbooks/runs/{in_rb}/journal.md", "/runbooks/runs/{out_rb}/journal.md"
    ),
    # {in_req}/{out_req}: run requests on gd-school-1/mn-portal-1, already rejected (allowed roles get "already
    # decided", so the matrix starts nothing); the approval flow itself: test_runbook_approvals.py.
    ("runbooks.approvals", "GET"): Sample("runbooks.view", True, "/runbooks/approvals"),
    ("runbooks.approve", "POST"): Sample(
        "runbooks.approve",
        True,
        "/runbooks/approvals/{in_req}/approve",
        "/runbooks/approvals/{out_req}/approve",
        form={},
    ),
    ("runbooks.reject", "POST"): Sample(
        "runbooks.approve",
        True,
        "/runbooks/approvals/{in_req}/reject",
        "/runbooks/approvals/{out_req}/reject",
        form={},
    ),
    ("runbooks_api.runbooks", "GET"): Sample("runbooks.view", False, "/api/v1/runbooks"),
    ("runbooks_api.start", "POST"): Sample(
        "runbooks.start",
        True,
        "/api/v1/runbooks/isolate-host/start",
        "/api/v1/runbooks/isolate-host/start",
        json={"mode": "dry-run", "params": {"host": "{host}"}},
    ),
    ("runbooks_api.history", "GET"): Sample("runbooks.view", True, "/api/v1/runbooks/history"),
    ("runbooks_api.journal", "GET"): Sample(
        "runbooks.view", True, "/api/v1/runbooks/runs/{in_rb}/journal", "/api/v1/runbooks/runs/{out_rb}/journal"
    ),
    # The same already-rejected {in_req}/{out_req} as the console: allowed roles get 409, nothing starts.
    ("runbooks_api.requests", "GET"): Sample("runbooks.view", True, "/api/v1/runbooks/requests"),
    ("runbooks_api.approve", "POST"): Sample(
        "runbooks.approve",
        True,
        "/api/v1/runbooks/requests/{in_req}/approve",
        "/api/v1/runbooks/requests/{out_req}/approve",
        json={"reason": "matrix"},
    ),
    ("runbooks_api.reject", "POST"): Sample(
        "runbooks.approve",
        True,
        "/api/v1/runbooks/requests/{in_req}/reject",
        "/api/v1/runbooks/requests/{out_req}/reject",
        json={},
    ),
    # Provision/harden: {in_pb}/{out_pb} are harden check runs on gd-school-1/mn-portal-1; starts are recorded below.
    ("automation.index", "GET"): Sample("automation.view", True, "/automation"),
    ("automation.start", "POST"): Sample(
        "automation.start",
        True,
        "/automation/start",
        "/automation/start",
        form={"kind": "harden", "limit": "{host}", "check": "1"},
    ),
    ("automation.run", "GET"): Sample("automation.view", True, "/automation/runs/{in_pb}", "/automation/runs/{out_pb}"),
    ("automation.progress", "GET"): Sample(
        "automation.view", True, "/automation/runs/{in_pb}/progress", "/automation/runs/{out_pb}/progress"
    ),
    ("automation.host", "GET"): Sample(
        "automation.view", True, "/automation/hosts/gd-school-1", "/automation/hosts/mn-portal-1"
    ),
    ("automation_api.start", "POST"): Sample(
        "automation.start",
        True,
        "/api/v1/automation/runs",
        "/api/v1/automation/runs",
        json={"kind": "harden", "limit": "{host}", "check": True},
    ),
    ("automation_api.runs", "GET"): Sample("automation.view", True, "/api/v1/automation/runs"),
    ("automation_api.hosts", "GET"): Sample(
        "automation.view", True, "/api/v1/automation/runs/{in_pb}/hosts", "/api/v1/automation/runs/{out_pb}/hosts"
    ),
    ("automation_api.drift", "GET"): Sample("automation.view", True, "/api/v1/automation/drift"),
    ("automation_api.history", "GET"): Sample(
        "automation.view",
        True,
        "/api/v1/automation/hosts/gd-school-1/history",
        "/api/v1/automation/hosts/mn-portal-1/history",
    ),
    # Service levels: {in_mw}/{out_mw} are maintenance windows of school-gd-1/ministry, {in_report}/{out_report}
    # written reports of school-gd-1 and the national one (files absent: allowed roles get 404).
    ("availability.index", "GET"): Sample("availability.view", True, "/availability"),
    ("availability.report_file", "GET"): Sample(
        "availability.view", True, "/availability/reports/{in_report}", "/availability/reports/{out_report}"
    ),
    ("availability.maintenance_add", "POST"): Sample(
        "maintenance.manage",
        True,
        "/availability/maintenance",
        "/availability/maintenance",
        form={"site": "{site}", "start": "2099-01-01T08:00", "end": "2099-01-01T09:00", "reason": "matrix"},
    ),
    ("availability.maintenance_end", "POST"): Sample(
        "maintenance.manage", True, "/availability/maintenance/{in_mw}/end", "/availability/maintenance/{out_mw}/end"
    ),
    ("availability.status", "GET"): Sample(ANONYMOUS, False, "/status"),
    # The network (issue 16): {zone} is school-gd (in scope) or internal (the ministry's); starts are recorded below.
    ("network.index", "GET"): Sample("network.view", True, "/network"),
    ("network.verify", "POST"): Sample(
        "network.verify", True, "/network/verify", "/network/verify", form={"zone": "{zone}"}
    ),
    ("network_api.network", "GET"): Sample("network.view", True, "/api/v1/network"),
    ("network_api.verify", "POST"): Sample(
        "network.verify", True, "/api/v1/network/verify", "/api/v1/network/verify", json={"zone": "{zone}"}
    ),
}


def seed_service_levels(store: Any) -> dict[str, int]:
    """Maintenance windows and written reports in scope (school-gd-1) and out of it (ministry, national)."""
    import datetime as dt

    from controlplane.slo.models import MaintenanceWindow, ReportFile
    from controlplane.store.models import utcnow

    now = utcnow()
    ids = {}
    with store.session() as session:
        for key, site in (("in", "school-gd-1"), ("out", "ministry")):
            start = now + dt.timedelta(days=1)
            window = MaintenanceWindow(site=site, services=[], starts_at=start, ends_at=start + dt.timedelta(hours=1),
                                       reason="matrix", created_by="seed")  # fmt: skip
            report = ReportFile(month="2026-11", site=site if key == "in" else "", lang="zh", format="html",
                                path="/nonexistent/report.html", created_by="seed")  # fmt: skip
            session.add_all([window, report])
            session.flush()
            ids[f"{key}_mw"], ids[f"{key}_report"] = window.id, report.id
    return ids


def seed_alerts_and_runbook_runs(store: Any) -> dict[str, Any]:
    """Firing alerts, silences and runbook runs in scope (school-gd-1) and out of it (ministry)."""
    from controlplane.monitoring.alert_actions import create_silence
    from controlplane.monitoring.intake import intake_alertmanager
    from controlplane.monitoring.labels import fingerprint
    from controlplane.runs import create_run, finish_run
    from controlplane.store.models import RunStatus

    ids: dict[str, Any] = {}
    for key, site, host in (("in", "school-gd-1", "gd-school-1"), ("out", "ministry", "mn-portal-1")):
        labels = {"alertname": "MatrixAlert", "site": site, "host": host, "severity": "warning"}
        intake_alertmanager({"version": "4", "alerts": [{"status": "firing", "labels": labels}]}, store)
        ids[f"{key}_alert"] = fingerprint(labels)
        made = create_silence(store, [f"host={host}"], author="seed", comment="matrix", duration=3600)
        ids[f"{key}_silence"] = made["id"]
        with store.session() as session:
            run = create_run(
                session,
                kind="runbook",
                target=host,
                actor="seed",
                params={"runbook": "isolate-host", "mode": "dry-run", "params": {"host": host}, "targets": [host]},
                dry_run=True,
            )
            finish_run(session, run, RunStatus.SUCCEEDED, exit_code=0)
            ids[f"{key}_rb"] = run.id
        from controlplane.runbook import approvals

        asked = approvals.request_run(
            store, runbook="isolate-host", params={"host": host}, targets=[host], requester="seed"
        )
        approvals.decide(store, asked["id"], decider="seed2", approve=False)
        ids[f"{key}_req"] = asked["id"]
        from controlplane.monitoring.intake_tokens import create_token

        with store.session() as session:
            ids[f"{key}_intake"] = create_token(session, site, name=None, created_by="seed", known_sites=None)[0].id
    return ids


def seed_playbook_runs(store: Any) -> dict[str, int]:
    """Finished harden check runs on gd-school-1 (in scope) and mn-portal-1 (out of scope)."""
    from controlplane.automation.models import HostRunStats
    from controlplane.runs import create_run, finish_run
    from controlplane.store.models import RunStatus

    ids = {}
    for key, site, host in (("in_pb", "school-gd-1", "gd-school-1"), ("out_pb", "ministry", "mn-portal-1")):
        with store.session() as session:
            run = create_run(
                session, kind="harden", target=host, actor="seed", site=site, params={"hosts": [host]}, dry_run=True
            )
            session.add(HostRunStats(run_id=run.id, host=host, ok=3, outcome="ok"))
            finish_run(session, run, RunStatus.SUCCEEDED, exit_code=0)
            ids[key] = run.id
    return ids


def record_playbook_start(store: Any, started: list[Any], run: Any) -> None:
    """Stand-in for the playbook task: note the start, end the run and free its hosts."""
    from controlplane.automation import locks

    started.append((run.kind, run.params.get("limit"), run.id))
    end_recorded_run(store, run.id)
    with store.session() as session:
        locks.release(session, run.id)


def end_recorded_run(store: Any, run_id: int) -> None:
    """End a recorded run as succeeded (nothing ran)."""
    from controlplane.runs import finish_run
    from controlplane.store.models import Run, RunStatus

    with store.session() as session:
        finish_run(session, session.get(Run, run_id), RunStatus.SUCCEEDED, exit_code=0)


def url_map_routes(app: Any) -> list[tuple[str, str]]:
    """Every (endpoint, method) the app serves, HEAD and OPTIONS aside (Flask adds those itself)."""
    routes = set()
    for rule in app.url_map.iter_rules():
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add((rule.endpoint, method))
    return sorted(routes)


@pytest.fixture(scope="module")
def matrix(tmp_path_factory, template_site, lab_inventory, password_hash) -> Iterator[dict[str, Any]]:
    """One app for the whole matrix, with fixture users, target users and runs in and out of scope."""
    from controlplane.runs import create_run, finish_run
    from controlplane.store import open_store
    from controlplane.store.models import RunStatus
    from controlplane.vault import open_vault
    from controlplane.web import shutdown
    from tests.unit.web.conftest import add_person

    config = make_site(tmp_path_factory.mktemp("matrix"), template_site)
    store = open_store(config)
    vault = open_vault(config, store)
    app = make_app(config, store, vault, lab_inventory)
    started: list[tuple[str, str, str]] = []
    patch = pytest.MonkeyPatch()
    people = make_people(store, vault, password_hash)
    add_person(store, vault, password_hash, "target-school", "oncall", ["school-gd-1"])
    add_person(store, vault, password_hash, "target-ministry", "oncall", [])
    ids: dict[str, int] = {}
    with store.session() as session:
        for key, host, site, final in (
            ("in_run", "gd-school-1", "school-gd-1", False),
            ("out_run", "mn-portal-1", "ministry", False),
            ("in_done", "gd-school-1", "school-gd-1", True),
            ("out_done", "mn-portal-1", "ministry", True),
        ):
            run = create_run(session, kind="ping", target=host, actor="seed", site=site)
            if final:
                finish_run(session, run, RunStatus.SUCCEEDED, exit_code=0)
            ids[key] = run.id

    # Background starts would run the engine, ansible or restic: the dispatcher records them instead.
    def record_start(run: Any) -> None:
        if run.kind == "runbook":
            started.append(("runbook", run.params["runbook"], run.params["mode"]))
            end_recorded_run(store, run.id)
        elif run.kind in ("provision", "harden"):
            record_playbook_start(store, started, run)
        elif run.kind == "ping":
            end_recorded_run(store, run.id)
        elif run.kind == "network-verify":
            started.append((run.kind, run.target, run.site))
            end_recorded_run(store, run.id)
        else:
            dataset, host = run.target.split("@", 1)
            started.append((run.kind, dataset, host))
            end_recorded_run(store, run.id)

    record_starts(app, record_start)
    ids.update(seed_alerts_and_runbook_runs(store))
    config.ssh_key_file.parent.mkdir(parents=True, exist_ok=True)
    config.ssh_key_file.write_text("unused\n")  # a start needs the management key file to exist
    ids.update(seed_playbook_runs(store))
    ids.update(seed_service_levels(store))
    tokens = {name: token_for(app, person) for name, person in people.items()}
    yield {"app": app, "people": people, "ids": ids, "tokens": tokens, "store": store, "started": started}
    patch.undo()
    shutdown(app)
    store.close()


def test_every_route_declares_a_known_policy_and_has_a_sample(matrix) -> None:
    app = matrix["app"]
    missing_policy, missing_sample, wrong = [], [], []
    with app.test_request_context():
        for endpoint, method in url_map_routes(app):
            declared = policy_for(endpoint)
            if declared is None:
                missing_policy.append(endpoint)
                continue
            sample = SAMPLES.get((endpoint, method))
            if sample is None:
                missing_sample.append((endpoint, method))
                continue
            if (declared.permission, declared.scoped) != (sample.permission, sample.scoped):
                wrong.append((endpoint, declared, sample.permission, sample.scoped))
            assert declared.permission in PERMISSIONS or declared.permission in (ANONYMOUS, SECOND_FACTOR)
    assert not missing_policy, f"routes without @requires: {missing_policy}"
    assert not missing_sample, f"routes without a sample in SAMPLES: {missing_sample}"
    assert not wrong, f"declared policy differs from the expected one: {wrong}"
    assert set(SAMPLES) <= set(url_map_routes(app)), "SAMPLES names routes that no longer exist"


def test_a_route_without_a_policy_is_denied(tmp_path, template_site, lab_inventory) -> None:
    from controlplane.store import open_store
    from controlplane.vault import open_vault

    config = make_site(tmp_path, template_site)
    store = open_store(config)
    app = make_app(config, store, open_vault(config, store), lab_inventory)

    @app.get("/undeclared")
    def undeclared() -> str:
        return "should never be served"

    assert remote_client(app).get("/undeclared").status_code == 403
    store.close()


ACTORS = ("anonymous", *ROLES)
CASES = [
    (endpoint, method, actor, scope)
    for (endpoint, method), actor, scope in itertools.product(sorted(SAMPLES), ACTORS, ("in", "out"))
]
_counter = itertools.count()


def _fill(text: str, matrix: dict[str, Any], scope: str) -> str:
    values = {
        **{key: str(value) for key, value in matrix["ids"].items()},
        "host": "gd-school-1" if scope == "in" else "mn-portal-1",
        "site": "school-gd-1" if scope == "in" else "ministry",
        "zone": "school-gd" if scope == "in" else "internal",
        "new_user": f"made-{next(_counter)}",
        "sites": "school-gd-1" if scope == "in" else "",
        "target_sites": "school-gd-1" if scope == "in" else "",
    }
    return text.format(**values)


def _fill_data(data: Any, matrix: dict[str, Any], scope: str) -> Any:
    if isinstance(data, dict):
        return {key: _fill_data(value, matrix, scope) for key, value in data.items()}
    if isinstance(data, str):
        return _fill(data, matrix, scope)
    if isinstance(data, list):
        return [_fill_data(value, matrix, scope) for value in data]
    return data


def _expected(sample: Sample, actor: str, scope: str) -> bool:
    if sample.permission == ANONYMOUS:
        return True
    if actor == "anonymous" or sample.permission == SECOND_FACTOR:
        return False  # a fully logged-in user is past the second-factor step
    if actor not in PERMISSIONS[sample.permission]:
        return False
    return scope == "in" or sample.out is None


@pytest.mark.parametrize(("endpoint", "method", "actor", "scope"), CASES)
def test_policy_matrix(matrix, endpoint: str, method: str, actor: str, scope: str) -> None:
    sample = SAMPLES[(endpoint, method)]
    app = matrix["app"]
    client = remote_client(app)
    url = _fill(sample.inside if scope == "in" or sample.out is None else sample.out, matrix, scope)
    headers: dict[str, str] = {}
    is_api = url.startswith(("/api/", "/metrics"))
    person_name = f"{actor.replace('_', '-')}-gd"
    csrf = None
    if actor != "anonymous":
        if is_api:
            headers["Authorization"] = f"Bearer {matrix['tokens'][person_name]}"
        else:
            csrf = login_as(client, matrix["people"][person_name])
    kwargs: dict[str, Any] = {"headers": headers}
    if sample.json is not None:
        body = _fill_data(sample.json, matrix, scope)
        if "sites" in body:
            body["sites"] = [body["sites"]] if body["sites"] else []
        kwargs["json"] = body
    if sample.form is not None or (method != "GET" and not is_api):
        form = _fill_data(dict(sample.form or {}), matrix, scope)
        if form.get("sites") == "":
            form.pop("sites")
        form["csrf_token"] = csrf or "none"
        if endpoint.startswith("auth.login") and actor == "anonymous":
            with client.session_transaction() as data:
                data["csrf"] = "anon-csrf"
            form["csrf_token"] = "anon-csrf"
        kwargs["data"] = form
    response = client.open(url, method=method, **kwargs)
    status = response.status_code
    location = response.headers.get("Location", "")
    if is_api:
        code = (response.get_json(silent=True) or {}).get("error", {}).get("code") if status >= 400 else None
        denied = status in (401, 403) and code in ("unauthorized", "forbidden", "invalid_token")
    else:
        denied = status in (401, 403) or (status == 302 and location.startswith("/login?next="))
    expected = _expected(sample, actor, scope)
    assert status != 500, response.get_data(as_text=True)[:300]
    assert denied != expected, (
        f"{actor} {method} {url} ({scope} scope): status {status} {location} "
        f"{response.get_data(as_text=True)[:200]!r}; expected {'allowed' if expected else 'denied'}"
    )
