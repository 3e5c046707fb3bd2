"""Backups on the real lab, checked with restic directly on the backup center.

restic runs on the managed hosts over SSH with its repository on
bc-backup-1 over SFTP (chrooted per-site accounts made by ``egov backup
setup``). Every test that breaks a host restores it in ``finally``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy import func, select

from controlplane.backup import engine, maintenance, restore
from controlplane.backup.models import BackupDrill, BackupSnapshot
from controlplane.errors import BadInputError
from controlplane.lab import fault
from controlplane.store.models import Run

if TYPE_CHECKING:
    from tests.integration.backup.conftest import BackupLab

pytestmark = [pytest.mark.root, pytest.mark.lab]


def _sha256_tree(bk: BackupLab, host: str, folder: str) -> dict[str, str]:
    program = f"""
import hashlib, json, os
root = {folder!r}
out = {{}}
for base, dirs, files in os.walk(root):
    for name in files:
        path = os.path.join(base, name)
        rel = os.path.relpath(path, root)
        if os.path.islink(path):
            out[rel] = "link:" + os.readlink(path)
        else:
            out[rel] = hashlib.sha256(open(path, "rb").read()).hexdigest()
print(json.dumps(out))
"""
    result = bk.sh(host, ["python3", "-"], input_text=program)
    assert result.exit_code == 0, result.stderr
    return dict(json.loads(result.stdout))


def test_a_backup_lands_on_the_backup_center_and_restic_lists_it(bk: BackupLab) -> None:
    target = bk.ctx.target(bk.name("files"), "mn-oa-1")
    result = engine.backup(bk.ctx, target)
    assert result.status == "succeeded", result.message
    assert result.summary["files_new"] == 2 and result.summary["bytes_added"] > 2_000_000
    listed = bk.restic_on_center("ministry", "mn-oa-1", bk.name("files"), "snapshots", "--json")
    assert listed.exit_code == 0, listed.stderr
    snapshots = json.loads(listed.stdout)
    assert [s["id"] for s in snapshots] == [result.summary["snapshot_id"]]
    assert snapshots[0]["hostname"] == "mn-oa-1" and bk.name("files") in snapshots[0]["tags"]
    with bk.ctx.store.session() as session:
        row = session.scalars(select(BackupSnapshot).where(BackupSnapshot.dataset == bk.name("files"))).one()
        assert row.manifest is not None and f"{bk.data}/files/docs/report.bin" in row.manifest["files"]
        assert f"{bk.data}/files/scratch.tmp" not in row.manifest["files"]


def test_a_second_backup_without_changes_adds_almost_nothing(bk: BackupLab) -> None:
    target = bk.ctx.target(bk.name("files"), "mn-oa-1")
    result = engine.backup(bk.ctx, target)
    assert result.status == "succeeded", result.message
    assert result.summary["files_new"] == 0 and result.summary["files_changed"] == 0
    assert result.summary["bytes_added"] < 10_000


def test_a_restore_reproduces_the_files_bit_for_bit_without_the_excluded_ones(bk: BackupLab) -> None:
    target = bk.ctx.target(bk.name("files"), "mn-oa-1")
    folder = f"/var/lib/egov/restore/it-{bk.token}/files"
    result = restore.restore(bk.ctx, target, directory=folder)
    assert result.status == "succeeded", result.message
    source = _sha256_tree(bk, "mn-oa-1", f"{bk.data}/files")
    restored = _sha256_tree(bk, "mn-oa-1", f"{folder}{bk.data}/files")
    del source["scratch.tmp"]
    assert restored == source
    with bk.ctx.store.session() as session:
        run = session.get(Run, result.run_id)
        assert run.kind == "backup-restore" and run.summary["target_dir"] == folder


def test_a_restore_target_outside_the_allowed_roots_is_refused_before_any_work(bk: BackupLab) -> None:
    target = bk.ctx.target(bk.name("files"), "mn-oa-1")
    with bk.ctx.store.session() as session:
        before = len(session.scalars(select(Run.id)).all())
    for folder in ("/etc", "/var/lib/egov/restore/../../../etc", "relative/path", "/var/lib/egov/restore-evil"):
        with pytest.raises(BadInputError, match="restore"):
            restore.restore(bk.ctx, target, directory=folder)
    with bk.ctx.store.session() as session:
        assert len(session.scalars(select(Run.id)).all()) == before


def test_a_drill_restores_on_the_dr_host_verifies_the_manifest_records_rpo_and_rto_and_cleans_up(bk: BackupLab) -> None:
    target = bk.ctx.target(bk.name("files"), "mn-oa-1")
    result = restore.drill(bk.ctx, target)
    assert result.status == "succeeded", result.message
    assert result.summary["manifest_ok"] == 3 and result.summary["cleaned_up"] is True
    with bk.ctx.store.session() as session:
        drill = session.scalars(select(BackupDrill).where(BackupDrill.run_id == result.run_id)).one()
        assert drill.passed and drill.drill_host == "dr-app-1" and drill.files_checked == 3
        assert drill.data_age_seconds is not None and drill.data_age_seconds >= 0
        assert drill.rto_seconds is not None and drill.rto_seconds > 0
    leftovers = bk.sh("dr-app-1", ["ls", "/var/lib/egov/drill"])
    assert f"-{result.run_id}" not in leftovers.stdout


def test_a_drill_fails_when_the_restored_data_differs_from_the_manifest(bk: BackupLab) -> None:
    target = bk.ctx.target(bk.name("files"), "mn-oa-1")
    with bk.ctx.store.session() as session:
        row = session.scalars(select(BackupSnapshot).where(BackupSnapshot.dataset == bk.name("files"))).all()[-1]
        original = row.manifest
        tampered = json.loads(json.dumps(original))
        entry = tampered["files"][f"{bk.data}/files/docs/report.bin"]
        entry["sha256"] = "0" * 64
        row.manifest = tampered
    try:
        result = restore.drill(bk.ctx, target)
    finally:
        with bk.ctx.store.session() as session:
            session.get(BackupSnapshot, row.id).manifest = original
    assert result.status == "failed" and "differ from the backup-time manifest" in result.message
    assert result.summary["alert"] is True


def test_a_dump_snapshot_restores_into_a_database_that_passes_its_integrity_check(bk: BackupLab) -> None:
    target = bk.ctx.target(bk.name("db"), "mn-db-1")
    result = engine.backup(bk.ctx, target)
    assert result.status == "succeeded", result.message
    folder = f"/var/lib/egov/restore/it-{bk.token}/db"
    restored = restore.restore(bk.ctx, target, directory=folder, to_host="dr-app-1")
    assert restored.status == "succeeded", restored.message
    check = bk.sh(
        "dr-app-1",
        [
            "sqlite3",
            "-bail",
            f"{folder}/new.db",
            "-cmd",
            f".read {folder}/edu.sql",
            "PRAGMA integrity_check; SELECT count(*) FROM students;",
        ],
    )
    assert check.exit_code == 0, check.stderr
    assert check.stdout.split() == ["ok", "500"]
    drill = restore.drill(bk.ctx, target)
    assert drill.status == "succeeded", drill.message


def test_a_wrong_password_gives_its_own_clear_outcome(bk: BackupLab) -> None:
    target = bk.ctx.target(bk.name("files"), "mn-oa-1")
    right = bk.ctx.vault.get(target.password_secret)
    bk.ctx.vault.set(target.password_secret, "not-the-password")
    try:
        result = engine.backup(bk.ctx, target)
    finally:
        bk.ctx.vault.set(target.password_secret, right)
    assert result.status == "failed" and result.summary["reason"] == "wrong_password"
    assert "wrong repository password" in result.message
    assert "not-the-password" not in json.dumps(result.summary)


def test_a_missing_source_path_gives_its_own_clear_outcome(bk: BackupLab) -> None:
    result = engine.backup(bk.ctx, bk.ctx.target(bk.name("missing"), "mn-oa-1"))
    assert result.status == "failed" and result.summary["reason"] == "source_missing"
    assert f"{bk.data}/does-not-exist" in result.message


def test_a_failing_dump_command_gives_its_own_clear_outcome_and_leaves_no_snapshot(bk: BackupLab) -> None:
    target = bk.ctx.target(bk.name("faildump"), "mn-db-1")
    result = engine.backup(bk.ctx, target)
    assert result.status == "failed" and result.summary["reason"] == "dump_failed"
    assert "dump command failed" in result.message
    listed = bk.restic_on_center("ministry", "mn-db-1", bk.name("faildump"), "snapshots", "--json")
    assert listed.exit_code == 0 and json.loads(listed.stdout) == []


def _scan_for(needle: bytes) -> tuple[list[str], int]:
    """Every /proc/PID/{cmdline,environ} of the machine (lab hosts included) holding needle; restic count."""
    import os

    hits, restics = [], 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        for name in ("cmdline", "environ"):
            try:
                with open(f"/proc/{pid}/{name}", "rb") as handle:
                    data = handle.read()
            except OSError:
                continue
            if needle in data:
                hits.append(f"{pid}/{name}")
            if name == "cmdline" and b"restic" in data.split(b"\0")[0] and b"backup" in data:
                restics += 1
    return hits, restics


# Runs inside a host: the needle comes on stdin, so it is in no argv of the scanner itself.
SCAN_PROGRAM = """
import json, os, sys
needle = sys.stdin.read().strip().encode()
hits, restics = [], 0
for pid in os.listdir("/proc"):
    if not pid.isdigit() or int(pid) == os.getpid():
        continue
    for name in ("cmdline", "environ"):
        try:
            data = open(f"/proc/{pid}/{name}", "rb").read()
        except OSError:
            continue
        if needle in data:
            hits.append(f"{pid}/{name}")
        if name == "cmdline" and data.split(b"\\0")[0].endswith(b"restic"):
            restics += 1
print(json.dumps({"hits": hits, "restics": restics}))
"""


def test_no_process_on_either_host_shows_the_password_while_a_backup_runs(bk: BackupLab) -> None:
    target = bk.ctx.target(bk.name("slow"), "mn-db-1")
    password = bk.ctx.password(target, create=True)
    assert password
    outcome: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: outcome.update(result=engine.backup(bk.ctx, target)))
    worker.start()
    seen_restic = 0
    hits: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while worker.is_alive() and time.monotonic() < deadline:
            found, restics = _scan_for(password.encode())
            hits += found
            seen_restic += restics
            for host in ("mn-db-1", "bc-backup-1"):
                scan = bk.sh(host, ["python3", "-c", SCAN_PROGRAM], input_text=password + "\n")
                report = json.loads(scan.stdout)
                hits += [f"{host}:{hit}" for hit in report["hits"]]
                seen_restic += report["restics"] if host == "mn-db-1" else 0
            time.sleep(0.5)
    finally:
        worker.join(timeout=120)
    assert seen_restic > 0, "the backup was not seen running"
    assert hits == []
    assert outcome["result"].status == "succeeded", outcome["result"].message


def _restics_of(bk: BackupLab, host: str, dataset: str) -> list[str]:
    """Command lines of the host's processes that work on a dataset's repository (restic, its ssh, its dump)."""
    program = (
        "import os, sys\n"
        "for pid in os.listdir('/proc'):\n"
        "    if pid.isdigit() and int(pid) != os.getpid():\n"
        "        try: line = open(f'/proc/{pid}/cmdline', 'rb').read().replace(b'\\0', b' ').decode()\n"
        "        except OSError: continue\n"
        "        if sys.argv[1] in line and 'python3' not in line: print(pid, line)\n"
    )
    found = bk.sh(host, ["python3", "-c", program, dataset])
    return [line for line in found.stdout.splitlines() if line.strip()]


def _backing_up(bk: BackupLab, dataset: str) -> bool:
    """Whether restic backup of the dataset runs on mn-db-1 now."""
    return any(" backup " in line for line in _restics_of(bk, "mn-db-1", dataset))


# After the center is cut off, restic's ssh gives up within the center's stall_timeout (4 unanswered
# ServerAlive intervals, see commands.stall_options); restic then fails its pending requests and ends, or,
# when it hangs (restic issue #3133), is stopped CENTER_LOST_GRACE later (SIGTERM, SIGKILL after TERM_GRACE).
# The margin covers the run's recording and a busy machine.
STALL_MARGIN = 10.0


def _stall_bound(stall: float) -> float:
    from controlplane.backup.diagnose import CENTER_LOST_GRACE
    from controlplane.ssh.groups import TERM_GRACE

    return stall + CENTER_LOST_GRACE + TERM_GRACE + STALL_MARGIN


@contextmanager
def backup_in_background(bk: BackupLab, target: Any) -> Iterator[dict[str, Any]]:
    """Run engine.backup in a thread; on leaving, cancel it if it still runs and wait for it to end.

    Yields a dict with ``worker``, ``run_id()`` (this backup's run, once it exists) and, once it ended,
    ``result``: every test that starts a backup waits for its own run, so the next test starts clean.
    """
    from controlplane.runs import request_cancel

    with bk.ctx.store.session() as session:
        before = session.scalar(select(func.max(Run.id))) or 0
    state: dict[str, Any] = {}

    def run_id() -> int | None:
        name = f"{target.dataset.name}@{target.host}"
        with bk.ctx.store.session() as session:
            return session.scalar(select(Run.id).where(Run.id > before, Run.target == name).order_by(Run.id))

    worker = threading.Thread(target=lambda: state.update(result=engine.backup(bk.ctx, target)), daemon=True)
    state.update(worker=worker, run_id=run_id)
    worker.start()
    try:
        yield state
    finally:
        if worker.is_alive() and (own := run_id()) is not None:
            with bk.ctx.store.session() as session:
                request_cancel(session, own)
        worker.join(timeout=120)
        assert not worker.is_alive(), "a backup started by this test did not end"


def _backup_failures_alerted(bk: BackupLab) -> tuple[float, bool]:
    """The shipped failed-runs check and rules, run once through the monitor: (runs_failed{kind=backup}, alerted)."""
    from controlplane.monitoring.models import AlertRecord
    from controlplane.monitoring.service import Monitor
    from controlplane.monitoring.spec_loader import load_monitoring
    from controlplane.runbook.catalog import RunbookFolder
    from tests.conftest import REPO

    shipped = load_monitoring(REPO / "monitoring", None, runbooks=RunbookFolder(REPO / "runbooks"))
    monitor = Monitor(bk.config, bk.ctx.store, spec=shipped, inventory=bk.ctx.inventory)
    try:
        # Only the store check runs: the lab hosts' own probes are not what this test is about.
        [result] = monitor.runner.run([check for check in monitor.checks if check.probe.type == "failed_runs"])
        monitor.record([result])
        monitor.evaluate()
    finally:
        monitor.close()
    value = next((s.value for s in result.samples if s.labels.get("kind") == "backup"), 0.0)
    with bk.ctx.store.session() as session:
        firing = [row for row in session.scalars(select(AlertRecord).where(AlertRecord.state == "firing"))
                  if row.labels.get("alertname") == "RunsFailed" and row.labels.get("kind") == "backup"]  # fmt: skip
        alerted = bool(firing) and firing[0].value == value
    return value, alerted


def _ensure_repository(bk: BackupLab, target: Any) -> None:
    """Back the unit up once when its repository does not exist yet (the test runs alone)."""
    known = bk.ctx.vault.exists(target.password_secret)
    if not known or bk.restic_on_center("ministry", target.host, target.dataset.name, "cat", "config").exit_code:
        first = engine.backup(bk.ctx, target)
        assert first.ok, first.message


def _locks(bk: BackupLab, dataset: str) -> set[str]:
    """The restic lock files of a dataset's repository, read on the center (restic list locks)."""
    listed = bk.restic_on_center("ministry", "mn-db-1", dataset, "list", "locks", "--no-lock")
    assert listed.exit_code == 0, listed.stderr
    return set(listed.stdout.split())


def test_the_center_cut_off_mid_backup_fails_within_its_stall_time_alerts_and_the_next_run_cleans_up_and_checks_clean(
    bk: BackupLab,
) -> None:
    from controlplane.backup.models import RepoLock

    dataset = bk.name("slow")
    target = bk.ctx.target(dataset, "mn-db-1")
    stall = bk.ctx.center.stall_timeout
    _ensure_repository(bk, target)  # the cut must hit a backup, not the repository's creation
    failures_before, _ = _backup_failures_alerted(bk)
    with backup_in_background(bk, target) as running:
        deadline = time.monotonic() + 60
        while not _backing_up(bk, dataset) and time.monotonic() < deadline:
            time.sleep(0.3)
        assert _backing_up(bk, dataset), "the backup was not seen running"
        time.sleep(2)  # restic is sending data to the center
        try:
            fault(bk.lab_config, "bc-backup-1", "isolate")
            cut_at = time.monotonic()
            running["worker"].join(timeout=_stall_bound(stall) + 30)
            elapsed = time.monotonic() - cut_at
        finally:
            fault(bk.lab_config, "bc-backup-1", "heal")
        assert not running["worker"].is_alive(), f"the backup still runs {elapsed:.0f} s after the center was cut off"
    result = running["result"]
    print(f"center cut off mid-backup: the run failed {elapsed:.1f} s later (stall_timeout {stall} s, "
          f"bound {_stall_bound(stall):g} s): {result.message}")  # fmt: skip
    assert result.status == "failed" and result.summary["reason"] == "center_unreachable", result.message
    assert "bc-backup-1" in result.message and "could not be reached" in result.message
    assert elapsed <= _stall_bound(stall), f"failed {elapsed:.1f} s after the cut, over {_stall_bound(stall):g} s"
    with bk.ctx.store.session() as session:
        assert session.get(RepoLock, target.repository) is None  # our repository lock is free again
    failures_after, alerted = _backup_failures_alerted(bk)
    assert failures_after == failures_before + 1 and alerted
    # restic could not remove its lock from the unreachable center; the next run removes it (stale only).
    again = engine.backup(bk.ctx, target)
    assert again.status == "succeeded", again.message
    assert _locks(bk, dataset) == set()
    check = bk.restic_on_center("ministry", "mn-db-1", dataset, "check", "--no-lock", "--read-data")
    assert check.exit_code == 0, check.stdout + check.stderr
    assert "no errors were found" in check.stdout


def test_check_and_prune_run_as_their_own_runs_and_record_their_outcome(bk: BackupLab) -> None:
    target = bk.ctx.target(bk.name("files"), "mn-oa-1")
    checked = maintenance.check(bk.ctx, target)
    assert checked.status == "succeeded", checked.message
    pruned = maintenance.prune(bk.ctx, target)
    assert pruned.status == "succeeded", pruned.message
    assert pruned.summary["kept"] >= 1
    listed = bk.restic_on_center("ministry", "mn-oa-1", bk.name("files"), "snapshots", "--json")
    assert 1 <= len(json.loads(listed.stdout)) <= 3


def test_a_school_hosts_key_cannot_read_or_delete_another_sites_repository(bk: BackupLab) -> None:
    school = bk.ctx.target(bk.name("school"), "gd-school-1")
    assert engine.backup(bk.ctx, school).status == "succeeded"
    ssh = [
        "-i",
        "/etc/egov/backup/id_ed25519",
        "-o",
        "BatchMode=yes",
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "UserKnownHostsFile=/etc/egov/backup/known_hosts",
        "-o",
        "StrictHostKeyChecking=yes",
    ]
    # As another site's account: the school's key is refused outright.
    other = bk.sh("gd-school-1", ["sftp", *ssh, "-b", "-", "backup-ministry@10.198.0.21"], input_text="ls /\n")
    assert other.exit_code != 0 and "Permission denied" in other.stderr
    # As its own account: the ministry's folders are outside its chroot.
    ministry = f"/mn-oa-1/{bk.name('files')}"
    own = bk.sh(
        "gd-school-1",
        ["sftp", *ssh, "-b", "-", "backup-school-gd-1@10.198.0.21"],
        input_text=f"ls {ministry}\nrm {ministry}/config\n",
    )
    assert own.exit_code != 0
    listing = bk.sh("gd-school-1", ["sftp", *ssh, "-b", "-", "backup-school-gd-1@10.198.0.21"], input_text="ls /\n")
    assert listing.exit_code == 0 and "gd-school-1" in listing.stdout and "mn-oa-1" not in listing.stdout
    # And no shell: the account only speaks SFTP.
    shell = bk.sh("gd-school-1", ["ssh", *ssh, "backup-school-gd-1@10.198.0.21", "cat", "/etc/passwd"])
    assert "root:" not in shell.stdout
    # The ministry's repository is untouched.
    listed = bk.restic_on_center("ministry", "mn-oa-1", bk.name("files"), "snapshots", "--json")
    assert listed.exit_code == 0 and json.loads(listed.stdout)


def test_the_readiness_report_shows_each_dataset_with_its_figures(bk: BackupLab) -> None:
    from controlplane.backup.report import report_data

    data = report_data(bk.ctx)
    rows = {(row["dataset"], row["host"]): row for row in data["rows"]}
    files = rows[(bk.name("files"), "mn-oa-1")]
    assert files["verdict"] in ("ok", "warning") and files["age_seconds"] is not None
    assert files["last_drill"] is not None and files["last_check_status"] == "succeeded"
    assert rows[(bk.name("missing"), "mn-oa-1")]["verdict"] == "never"
    assert data["ready"] is False


def test_the_center_down_fails_the_backup_clearly_and_the_next_run_after_up_succeeds(bk: BackupLab) -> None:
    target = bk.ctx.target(bk.name("school"), "gd-school-1")
    try:
        fault(bk.lab_config, "bc-backup-1", "down")
        result = engine.backup(bk.ctx, target)
    finally:
        fault(bk.lab_config, "bc-backup-1", "up")
    assert result.status == "failed" and result.summary["reason"] == "center_unreachable", result.message
    assert "bc-backup-1" in result.message
    again = engine.backup(bk.ctx, target)
    assert again.status == "succeeded", again.message


def test_a_scheduled_job_runs_a_backup_from_the_persisted_scheduler(bk: BackupLab) -> None:
    from controlplane.backup import schedule
    from controlplane.scheduler import start_scheduler, stop_scheduler
    from controlplane.store.models import utcnow

    target_name = f"{bk.name('school')}@gd-school-1"
    scheduler = start_scheduler(bk.ctx.store)
    try:
        ids = schedule.sync_jobs(scheduler, bk.config, bk.ctx.store, ctx=bk.ctx)
        job_id = f"backup:backup:{bk.name('school')}:gd-school-1"
        assert job_id in ids
        scheduler.modify_job(job_id, next_run_time=utcnow())
        deadline = time.monotonic() + 90
        run = None
        while time.monotonic() < deadline:
            with bk.ctx.store.session() as session:
                run = session.scalars(
                    select(Run).where(Run.target == target_name, Run.trigger == "schedule").order_by(Run.id.desc())
                ).first()
                if run is not None and run.status not in ("queued", "running"):
                    break
            time.sleep(0.5)
    finally:
        stop_scheduler(scheduler)
    assert run is not None and run.status == "succeeded" and run.actor == "scheduler", run and run.summary


def test_cancelling_a_backup_stops_restic_and_its_dump_on_the_host_and_the_next_run_succeeds(bk: BackupLab) -> None:
    from controlplane.runs import request_cancel

    dataset = bk.name("slow")
    target = bk.ctx.target(dataset, "mn-db-1")
    _ensure_repository(bk, target)
    # Locks left by runs before this one (none when the run after a cut-off cleaned up): only new ones count.
    stale = _locks(bk, dataset)
    with backup_in_background(bk, target) as running:
        deadline = time.monotonic() + 60
        while not _backing_up(bk, dataset) and time.monotonic() < deadline:
            time.sleep(0.3)
        assert _backing_up(bk, dataset), "the backup was not seen running"
        time.sleep(3)  # well inside the 20 s dump
        own = running["run_id"]()
        assert own is not None
        with bk.ctx.store.session() as session:
            request_cancel(session, own)
        cancelled_at = time.monotonic()
        running["worker"].join(timeout=60)
    result = running["result"]
    assert result.status == "cancelled", result.message
    assert time.monotonic() - cancelled_at < 20
    # Nothing of that backup is left on the host: restic, its dump command and its ssh to the center are gone.
    assert wait_until_empty(lambda: _restics_of(bk, "mn-db-1", dataset)) == []
    # restic was stopped by a signal it handles (SIGTERM), not cut off: it removed its own lock.
    assert _locks(bk, dataset) - stale == set()
    after = engine.backup(bk.ctx, target)
    assert after.status == "succeeded", after.message


def wait_until_empty(probe: Any, timeout: float = 15.0) -> Any:
    """Poll ``probe`` until it returns something empty (or the time is up); return its last value."""
    deadline = time.monotonic() + timeout
    value = probe()
    while value and time.monotonic() < deadline:
        time.sleep(0.5)
        value = probe()
    return value
