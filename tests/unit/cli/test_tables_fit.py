"""Every table the CLI prints is readable at 80 columns (an ssh session): nothing cut with "…", no "None".

Tables of commands that need only the store run as real ``egov``
subprocesses with ``COLUMNS=80``; tables of commands that need the lab
(probes, playbooks, scans, restic snapshots, lab status) are rendered by the
command's own rendering code on an 80-column console with realistic rows.
Values are the longest the shipped site has (``backup-center``,
``interrupted``, ``alerts.intake_token.create``...).
"""

from __future__ import annotations

import datetime as dt
import re
from io import StringIO
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from rich.cells import cell_len

from tests.conftest import egov, write_config

WIDTH = 80
NOW = dt.datetime(2025, 3, 1, 12, 34, 56, tzinfo=dt.UTC)


@pytest.fixture
def narrow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", str(WIDTH))


@pytest.fixture
def site(tmp_path: Path, narrow: None) -> Path:
    write_config(tmp_path)
    made = egov(tmp_path, "init")
    assert made.returncode == 0, made.stderr
    return tmp_path


def hidden_columns(stderr: str) -> list[str]:
    """The headers the CLI said it hid to fit (from its note on stderr)."""
    found = re.search(r"hidden to fit \d+ columns \((.*)\): --wide", stderr)
    return found.group(1).split(", ") if found else []


def assert_readable(stdout: str, headers: list[str], keys: list[str], stderr: str = "") -> None:
    """No line wider than WIDTH, nothing cut with "…", no "None"; every shown header and each key cell whole."""
    for line in stdout.splitlines():
        assert cell_len(line.rstrip()) <= WIDTH, f"{cell_len(line.rstrip())} columns: {line!r}\n{stdout}"
    assert "…" not in stdout, stdout
    assert "None" not in stdout, stdout
    hidden = hidden_columns(stderr)
    for header in headers:
        if header in hidden:
            continue
        for word in header.split():
            assert re.search(rf"(^|\s){re.escape(word)}(\s|$)", stdout, re.M), f"header {header!r} cut:\n{stdout}"
    for key in keys:
        assert key in stdout, f"{key!r} not shown whole:\n{stdout}"


def assert_rendered(printed: tuple[str, str], headers: list[str], keys: list[str]) -> None:
    """:func:`assert_readable` of what a rendering function printed, with the notes it wrote on stderr."""
    assert_readable(printed[0], headers, keys, printed[1])


def run_narrow(site: Path, *args: str) -> Any:
    result = egov(site, *args)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result


def open_site_store(site: Path) -> Any:
    from controlplane.config import load_config
    from controlplane.store import open_store

    return open_store(load_config(site / "egov.yml"))


@pytest.fixture
def rendered(narrow: None, capsys: pytest.CaptureFixture[str]) -> Any:
    """A function: ``draw(console)`` on an 80-column console -> (what it printed, the CLI's notes on stderr)."""
    from controlplane.cli.output import SafeConsole

    def render(draw: Any) -> tuple[str, str]:
        buffer = StringIO()
        capsys.readouterr()
        draw(SafeConsole(file=buffer, width=WIDTH, highlight=False))
        return buffer.getvalue(), capsys.readouterr().err

    return render


# --------------------------------------------------------------------------- commands on the store
def test_runs_list_fits_80_columns_and_shows_every_column_with_wide(site: Path) -> None:
    from controlplane.runs import create_run, finish_run

    store = open_site_store(site)
    try:
        with store.session() as session:
            finish_run(session, create_run(session, kind="backup-restore", target="controlplane-keys@controlplane",
                                           actor="cli:administrator", site="backup-center"), "interrupted")  # fmt: skip
            create_run(session, kind="provision", target="all", actor="web:ops1", site=None)
    finally:
        store.close()
    result = run_narrow(site, "runs", "list")
    headers = ["ID", "KIND", "TARGET", "SITE", "ACTOR", "STATUS", "STARTED (UTC)", "SECONDS"]
    assert_readable(result.stdout, headers, ["backup-restore", "interrupted", "provision"], result.stderr)
    assert not {"ID", "KIND", "TARGET", "STATUS", "STARTED (UTC)"} & set(hidden_columns(result.stderr))
    wide = run_narrow(site, "runs", "list", "--wide")
    assert all(header in wide.stdout for header in headers) and not hidden_columns(wide.stderr)
    assert "—" in wide.stdout  # the missing site and duration, never "None"


def test_audit_list_fits_80_columns(site: Path) -> None:
    from controlplane import audit

    store = open_site_store(site)
    try:
        audit.append(store, actor="web:security-officer-gd", action="alerts.intake_token.create",
                     target="intake-token:12", outcome="denied", client="192.168.100.200")  # fmt: skip
    finally:
        store.close()
    result = run_narrow(site, "audit", "list")
    headers = ["SEQ", "AT (UTC)", "ACTOR", "ACTION", "TARGET", "OUTCOME", "CLIENT"]
    assert_readable(result.stdout, headers, ["alerts.intake_token.create", "init"], result.stderr)


def test_users_list_fits_80_columns(site: Path) -> None:
    for name, role, sites in (("security-officer-gd", "security_officer", ["province-gd", "school-gd-1"]),
                              ("admin", "admin", [])):  # fmt: skip
        args = ["users", "add", name, "--role", role] + [word for s in sites for word in ("--site", s)]
        assert egov(site, *args, stdin="a long enough password\n").returncode == 0
    result = run_narrow(site, "users", "list")
    headers = ["NAME", "ROLE", "SITES", "TOTP", "STATE", "LAST LOGIN (UTC)"]
    assert_readable(result.stdout, headers, ["security-officer-gd", "security_officer", "(all)"], result.stderr)


def test_alert_tables_fit_80_columns(site: Path) -> None:
    from controlplane.monitoring.models import AlertRecord, Delivery, SilenceRecord
    from controlplane.store.models import utcnow

    store = open_site_store(site)
    try:
        with store.session() as session:
            session.add(AlertRecord(fingerprint="0123456789abcdef", source="engine", state="firing",
                                    labels={"alertname": "BackupTooOld", "host": "bc-backup-1", "site": "backup-center",
                                            "severity": "critical"},
                                    annotations={"summary": "the last good backup is older than its RPO of 2h"},
                                    fired_at=NOW, active_since=NOW, last_seen=NOW, transitions=[],
                                    acked_by="web:oncall-gd"))  # fmt: skip
            session.add(SilenceRecord(id="feedfacefeedface", matchers=["host=mn-db-1", "alertname=~Disk.*"],
                                      starts_at=utcnow(), ends_at=utcnow() + dt.timedelta(days=9), author="oncall",
                                      comment="disk replaced on Monday, the array rebuilds until Friday"))  # fmt: skip
            session.add(Delivery(receiver="wecom-oncall", group_key="g", kind="escalate", status="failed", attempts=12,
                                 payload={"status": "firing", "alerts": [{}, {}]},
                                 last_error="HTTP 502 from the robot endpoint: Bad Gateway"))  # fmt: skip
    finally:
        store.close()
    listed = run_narrow(site, "alerts", "list")
    headers = ["FINGERPRINT", "STATE", "ALERT", "SEVERITY", "HOST", "SITE", "SINCE (UTC)", "NOTES"]
    assert_readable(listed.stdout, headers, ["firing", "BackupTooOld", "bc-backup-1"], listed.stderr)
    assert re.search(r"^[0-9a-f]{16}\s", listed.stdout, re.M), listed.stdout  # the whole fingerprint
    silences = run_narrow(site, "alerts", "silences")
    assert_readable(silences.stdout, ["ID", "ACTIVE", "MATCHERS", "UNTIL / WINDOW", "AUTHOR", "COMMENT"],
                    ["feedfacefeedface"], silences.stderr)  # fmt: skip
    deliveries = run_narrow(site, "alerts", "deliveries")
    assert_readable(deliveries.stdout, ["ID", "RECEIVER", "KIND", "STATUS", "ALERTS", "TRIES", "CREATED (UTC)",
                                        "ERROR"], ["wecom-oncall", "failed"], deliveries.stderr)  # fmt: skip
    assert egov(site, "alerts", "intake-token", "create", "--site", "backup-center",
                "--name", "backup center alertmanager").returncode == 0  # fmt: skip
    tokens = run_narrow(site, "alerts", "intake-token", "list")
    assert_readable(tokens.stdout, ["ID", "SITE", "NAME", "PREFIX", "LAST USED (UTC)", "ACCEPTED", "REFUSED"],
                    ["backup-center"], tokens.stderr)  # fmt: skip


def test_runbook_list_and_history_fit_80_columns(site: Path) -> None:
    from controlplane.runs import create_run, finish_run

    store = open_site_store(site)
    try:
        with store.session() as session:
            params = {"runbook": "backup-center-failover", "mode": "drill"}
            run = create_run(session, kind="runbook", target="mn-portal-1,mn-portal-2", actor="cli:administrator",
                             site="ministry", params=params)  # fmt: skip
            finish_run(session, run, "interrupted", summary={"figures": {"rto_objective_seconds": 900}})
    finally:
        store.close()
    listed = run_narrow(site, "runbook", "list")
    assert_readable(listed.stdout, ["NAME", "TITLE", "SEVERITY", "RTO GOAL", "STATUS"], ["backup-center-failover"],
                    listed.stderr)  # fmt: skip
    history = run_narrow(site, "runbook", "history")
    headers = ["RUN", "RUNBOOK", "MODE", "TARGETS", "ACTOR", "STATUS", "STARTED (UTC)", "RTO", "GOAL"]
    assert_readable(history.stdout, headers, ["backup-center-failover", "interrupted", "drill"], history.stderr)


def test_inventory_list_fits_80_columns(site: Path) -> None:
    result = run_narrow(site, "inventory", "list")
    assert_readable(result.stdout, ["HOST", "SITE", "ROLE", "ADDRESS", "GROUPS"],
                    ["bc-backup-1", "backup-center", "10.198.0."], result.stderr)  # fmt: skip


def test_backup_list_and_schedule_fit_80_columns_with_no_none(site: Path) -> None:
    from controlplane.backup.models import BackupStatus

    store = open_site_store(site)
    try:
        with store.session() as session:
            session.add(BackupStatus(dataset="controlplane-keys", host="controlplane", site="controlplane",
                                     last_status="succeeded", last_run_at=NOW, last_success_at=NOW,
                                     last_drill_at=NOW, last_drill_passed=True, last_drill_rpo_seconds=60.0,
                                     last_drill_rto_seconds=None))  # fmt: skip
    finally:
        store.close()
    listed = run_narrow(site, "backup", "list")
    headers = ["DATASET", "HOST", "SCHEDULE", "RPO", "LAST SUCCESS", "AGE", "LAST RUN", "LAST CHECK", "LAST DRILL",
               "COPY AGE", "VERDICT"]  # fmt: skip
    assert_readable(listed.stdout, headers, ["controlplane-keys", "portal-content", "never"], listed.stderr)
    schedule = run_narrow(site, "backup", "schedule")
    assert_readable(schedule.stdout, ["JOB", "CRON (UTC)", "JITTER"], ["backup:backup:oa-data:mn-oa-1"])


def test_doctor_fits_80_columns(site: Path) -> None:
    result = egov(site, "doctor")
    assert result.returncode in (0, 1), result.stderr
    assert_readable(result.stdout, ["TOOL", "PATH", "VERSION", "USABLE", "NEEDED"], ["restic"], result.stderr)


# --------------------------------------------------------------------------- commands that need the lab
def test_monitor_once_table_fits_80_columns(rendered: Any) -> None:
    from controlplane.cli import monitor
    from controlplane.cli.output import show_table
    from controlplane.monitoring.results import ProbeResult

    results = [
        ProbeResult("portal-http", "http", "mn-portal-1", "ministry", "portal", False, 2.5,
                    "GET http://10.198.0.11/ answered 502 Bad Gateway after 2.5 s (expected 200)"),
        ProbeResult("database-tcp", "tcp", "mn-db-1", "backup-center", "database", True, 0.004, ""),
    ]  # fmt: skip
    printed = rendered(lambda out: show_table(monitor.PROBE_COLUMNS, monitor.probe_rows(results), out=out))
    assert_rendered(printed, ["CHECK", "HOST", "SITE", "OK", "MS", "MESSAGE"], ["portal-http", "mn-portal-1", "FAIL"])


def test_backup_snapshots_table_fits_80_columns(rendered: Any) -> None:
    from controlplane.backup.jsonout import Snapshot
    from controlplane.cli import backup
    from controlplane.cli.output import show_table

    found = [Snapshot("a" * 64, "a1b2c3d4", NOW, "mn-portal-1", ("/srv/egov/www", "/etc/egov/portal"),
                      ("egov", "portal-content", "site:ministry"))]  # fmt: skip
    printed = rendered(lambda out: show_table(backup.SNAPSHOT_COLUMNS, backup.snapshot_rows(found), out=out))
    assert_rendered(printed, ["ID", "TIME (UTC)", "HOST", "PATHS", "TAGS"], ["a1b2c3d4", "2025-03-01 12:34:56"])


def test_playbook_live_view_and_summary_fit_80_columns(rendered: Any) -> None:
    from controlplane.automation.engine import PlaybookOutcome
    from controlplane.automation.events import HostTally, TaskResult
    from controlplane.cli.automation import LiveView, print_summary

    hosts = {"bc-backup-1": HostTally("bc-backup-1", ok=120, changed=33, failed=1, unreachable=0, skipped=14),
             "gd-school-1": HostTally("gd-school-1", ok=99, unreachable=1)}  # fmt: skip
    failed = TaskResult("bc-backup-1", "backup : create the per-site SFTP accounts", "backup", "failed", False, (),
                        "useradd: group 'backup-school-gd-1' does not exist")  # fmt: skip
    outcome = PlaybookOutcome(run_id=12345, status="partial", hosts=hosts, results=[failed], duration=301.5)
    printed = rendered(lambda out: print_summary(out, outcome, check=False))
    headers = ["HOST", "OUTCOME", "OK", "CHANGED", "FAILED", "UNREACHABLE", "SKIPPED"]
    assert_rendered(printed, headers, ["bc-backup-1", "unreachable"])

    def live(out: Any) -> None:
        view = LiveView(out)
        view.rows = {name: {"task": "hardening : set sshd_config options from the national baseline", "ok": 3,
                            "changed": 1, "failed": 0, "unreachable": 0, "skipped": 2} for name in hosts}  # fmt: skip
        out.print(view.render())

    assert_rendered(rendered(live), ["HOST", "CURRENT TASK", *headers[2:]], ["bc-backup-1", "gd-school-1"])


def test_scan_summary_fits_80_columns(rendered: Any) -> None:
    from controlplane.cli.compliance import _print_summary
    from controlplane.compliance.evaluate import HostContext, Result
    from controlplane.compliance.scanner import HostScan, Scan

    results = [Result("mlps.ssh.root-login", "bc-backup-1", "backup-center", "high", status)
               for status in ("pass", "fail", "waived", "error")]  # fmt: skip
    host = HostScan(HostContext("bc-backup-1", "backup-center", ("backup",)), results, {}, 1.2)
    scan = Scan(NOW, NOW, "2025.1", [host])
    outcome = SimpleNamespace(scan_id=7, run_id=8, scan=scan, diff=None, status="succeeded", scope="all sites")
    printed = rendered(lambda out: _print_summary(outcome, out=out))
    headers = ["SITE", "BEFORE WAIVERS", "AFTER WAIVERS", "FAIL", "ERROR", "WAIVED"]
    assert_rendered(printed, headers, ["backup-center", "25.0%", "50.0%"])


def test_runbook_live_steps_fit_80_columns(rendered: Any) -> None:
    from controlplane.cli.runbook import LiveSteps

    def live(out: Any) -> None:
        steps = LiveSteps("backup-center-failover (drill)")
        steps.console = out
        steps({"seq": 1, "event": "start", "phase": "steady-state-before", "name": "the backup center answers sftp"})
        steps(
            {"seq": 1, "event": "line", "phase": "steady-state-before", "text": "sftp backup-ministry@10.198.0.31 ok"}
        )
        steps({"seq": 1, "event": "end", "phase": "steady-state-before", "name": "x", "status": "interrupted",
               "duration": 12.25})  # fmt: skip
        out.print(steps.render())

    printed = rendered(live)
    assert_rendered(printed, ["#", "PHASE", "ACTIVITY", "STATUS", "SECONDS", "LAST OUTPUT"],
                    ["steady-state-before", "interrupted"])  # fmt: skip


def test_lab_status_fits_80_columns(rendered: Any) -> None:
    from controlplane.cli.lab import _print_table

    host = {"name": "bc-backup-1", "site": "backup-center", "role": "backup", "address": "10.198.0.31",
            "state": "isolated", "pid": 123456, "link": "down", "sshd": "running",
            "services": {"sshd": {"running": True}, "portal": {"running": True}, "postgresql": {"running": False}},
            "detail": "link cut by `egov lab fault bc-backup-1 isolate`"}  # fmt: skip
    data = {"bridge": "egov-br0", "bridge_up": True, "gateway": "10.198.0.1", "subnet": "10.198.0.0/24",
            "portal_vip": None, "hosts": [host, {**host, "name": "gd-school-1", "site": "school-gd-1",
                                                 "state": "running", "pid": None, "detail": None}],
            "key_file": "var/lab/ssh/id_ed25519", "known_hosts": "var/lab/ssh/known_hosts"}  # fmt: skip
    printed = rendered(lambda out: _print_table(data, out=out))
    headers = ["HOST", "SITE", "ROLE", "ADDRESS", "STATE", "PID", "LINK", "SSHD", "SERVICES", "DETAIL"]
    assert_rendered(printed, headers, ["bc-backup-1", "backup-center", "10.198.0.31", "isolated"])
