"""Off-site copies and the active center: argv, the password pipe with the real restic, records, switch, schedule."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from controlplane.backup import commands, report
from controlplane.backup.centers import SETTING_KEY, active_center, set_active_center
from controlplane.backup.commands import ENV_SCRUB, PASSWORD_PIPE, Repo
from controlplane.backup.models import BackupStatus, require_tables
from controlplane.backup.offsite import record_copy
from controlplane.backup.policy import Center, load_policies
from controlplane.backup.schedule import planned_jobs
from controlplane.errors import BadInputError, EgovError
from controlplane.store.models import AuditRecord, Setting, utcnow
from controlplane.tools import find_tool, restic_version, version_at_least

REPO = Path(__file__).resolve().parents[3]
ARGS = commands.sftp_args(Center(host="bc", root="/srv/restic"))
SRC = Repo("sftp:backup-ministry@10.198.0.21:/mn-oa-1/oa-data", restic="/r", sftp_args=ARGS)
DST = Repo("sftp:backup-ministry@10.198.0.32:/mn-oa-1/oa-data", restic="/r", sftp_args=ARGS)
RESTIC = find_tool("restic")


def test_sftp_args_keep_the_pinned_key_and_batch_mode_but_leave_host_user_and_port_to_the_url() -> None:
    assert ARGS == (
        "-i", "/etc/egov/backup/id_ed25519", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
        "-o", "UserKnownHostsFile=/etc/egov/backup/known_hosts", "-o", "IdentitiesOnly=yes",
        "-o", "ConnectTimeout=10", "-o", "ServerAliveInterval=5", "-o", "ServerAliveCountMax=3",
    )  # fmt: skip


def test_copy_is_wrapped_in_the_password_pipe_and_names_both_repositories() -> None:
    argv = commands.copy(DST, SRC, host="mn-oa-1")
    assert argv == [
        "sh", "-c", PASSWORD_PIPE, "egov-copy", *ENV_SCRUB, "/r", "--repo", DST.location,
        "-o", "sftp.args=" + " ".join(ARGS), "--from-repo", SRC.location, "--from-password-file", "/dev/fd/3",
        "copy", "--host", "mn-oa-1",
    ]  # fmt: skip
    assert commands.init_copy(DST, SRC)[-2:] == ["init", "--copy-chunker-params"]
    assert not any("password=" in word.lower() or word.startswith("RESTIC_FROM_PASSWORD=") for word in argv)


def test_copy_refuses_one_repository_twice_sftp_command_repos_and_different_keys() -> None:
    with pytest.raises(BadInputError, match="two different"):
        commands.copy(SRC, SRC)
    with pytest.raises(BadInputError, match=r"sftp\.args"):
        commands.copy(DST, Repo(SRC.location, sftp_command=("ssh",)))
    other = commands.sftp_args(Center(host="x", root="/r", identity_file="/other/key"))
    with pytest.raises(BadInputError, match="same backup key"):
        commands.copy(Repo(DST.location, sftp_args=other), SRC)


@pytest.mark.skipif(
    RESTIC is None or not version_at_least(restic_version(RESTIC) or (0,), (0, 17)), reason="restic >= 0.17 missing"
)
def test_the_password_pipe_gives_restic_copy_both_passwords_from_stdin_alone(tmp_path: Path) -> None:
    assert RESTIC is not None
    source, target, data = tmp_path / "src", tmp_path / "dst", tmp_path / "data"
    data.mkdir()
    (data / "file.txt").write_text("教育部\n")
    env = {"PATH": "/usr/bin:/bin", "RESTIC_CACHE_DIR": str(tmp_path / "cache")}

    def run(argv: list[str], stdin: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, input=stdin, capture_output=True, text=True, env=env, check=False)

    src, dst = Repo(str(source), restic=RESTIC), Repo(str(target), restic=RESTIC)
    assert run(commands.init(src), "pw-a\n").returncode == 0
    made = run(commands.backup_paths(src, [str(data)], host="h1"), "pw-a\n")
    assert made.returncode == 0, made.stderr
    original = json.loads(made.stdout.strip().splitlines()[-1])["snapshot_id"]
    # _copy_pair refuses local repositories only when they are the same; a local pair has no ssh words.
    init = run(commands.init_copy(dst, src), "pw-a\npw-b\n")
    assert init.returncode == 0, init.stderr
    copied = run(commands.copy(dst, src, host="h1"), "pw-a\npw-b\n")
    assert copied.returncode == 0, copied.stderr
    listed = run(commands.snapshots(dst), "pw-b\n")
    assert [s["original"] for s in json.loads(listed.stdout)] == [original]
    # The source password is the FIRST line: swapped lines fail.
    assert run(commands.copy(dst, src), "pw-b\npw-a\n").returncode != 0


def test_switching_the_active_center_is_persisted_audited_and_reversible(store: Any) -> None:
    inventory = _inventory()
    policy = load_policies(REPO / "backup", inventory)
    assert active_center(store) == "primary"
    assert set_active_center(store, policy, "secondary", actor="alice") == "primary"
    assert active_center(store) == "secondary"
    assert set_active_center(store, policy, "primary", actor="alice") == "secondary"
    with store.session() as session:
        assert session.get(Setting, SETTING_KEY).value == "primary"
        actions = [r.action for r in session.query(AuditRecord)]
    assert actions.count("backup.center.switch") == 2
    with pytest.raises(BadInputError, match="unknown backup center"):
        set_active_center(store, policy, "tertiary", actor="alice")


def test_a_policy_without_secondary_cannot_switch_to_it(store: Any) -> None:
    import dataclasses

    policy = dataclasses.replace(load_policies(REPO / "backup", _inventory()), secondary=None)
    with pytest.raises(BadInputError, match="no secondary"):
        set_active_center(store, policy, "secondary", actor="alice")
    assert active_center(store) == "primary"


def test_a_copy_job_is_planned_per_dataset_and_host_only_with_a_secondary_center() -> None:
    import dataclasses
    from types import SimpleNamespace

    inventory = _inventory()
    policy = load_policies(REPO / "backup", inventory)
    from controlplane.backup.targets import targets_of

    ctx = SimpleNamespace(targets=lambda d: targets_of(policy, inventory, d))
    jobs = {job.id: job for job in planned_jobs(policy, ctx)}
    assert jobs["backup:copy:oa-data:mn-oa-1"].cron == "50 */2 * * *"
    without = dataclasses.replace(policy, secondary=None)
    assert not [job for job in planned_jobs(without, ctx) if job.kind == "copy"]


def test_a_copy_records_its_figures_and_the_report_turns_them_into_a_copy_age(store: Any) -> None:
    newest = utcnow() - dt.timedelta(hours=30)
    record_copy(store, dataset="oa-data", host="mn-oa-1", site="ministry", status="succeeded", newest=newest)
    with store.session() as session:
        row = session.get(BackupStatus, ("oa-data", "mn-oa-1"))
        assert row.last_copy_status == "succeeded" and row.last_copy_snapshot_time == newest
    base = {
        "age_seconds": 100.0, "last_status": "succeeded", "last_check_status": None,
        "last_drill_passed": True, "drill_age_seconds": 50.0,
    }  # fmt: skip
    assert report.verdict({**base, "copy_age_seconds": 3600.0}, 3600, True, offsite=True) == ("ok", [])
    state, reasons = report.verdict({**base, "copy_age_seconds": 30 * 3600.0}, 3600, True, offsite=True)
    assert state == "warning" and reasons == ["newest off-site copy is 1d6h old"]
    assert report.verdict({**base, "copy_age_seconds": None}, 3600, True, offsite=False) == ("ok", [])


def test_the_engine_refuses_a_store_that_was_not_migrated(tmp_path: Path) -> None:
    from controlplane.store import Store, create_store_engine

    bare = Store(create_store_engine(f"sqlite:///{tmp_path}/bare.db"))
    try:
        with pytest.raises(EgovError, match="no table backup_repo_locks"):
            require_tables(bare)
    finally:
        bare.close()


def _inventory() -> Any:
    from controlplane.inventory import load_inventory

    return load_inventory(REPO / "inventory" / "lab.yml")


def test_the_metrics_export_the_copy_outcome_and_the_newest_off_site_snapshot(store: Any) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from controlplane.backup.metrics import BackupCollector

    newest = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    record_copy(store, dataset="oa-data", host="mn-oa-1", site="ministry", status="succeeded", newest=newest)
    record_copy(store, dataset="oa-data", host="gd-edu-1", site="province-gd", status="failed", newest=None)
    registry = CollectorRegistry()
    registry.register(BackupCollector(store))
    text = generate_latest(registry).decode()
    labels = 'dataset="oa-data",host="mn-oa-1",site="ministry"'
    assert f"egov_backup_offsite_newest_snapshot_timestamp_seconds{{{labels}}} 1.767323045e+09" in text
    assert f"egov_backup_last_copy_success{{{labels}}} 1.0" in text
    assert 'egov_backup_last_copy_success{dataset="oa-data",host="gd-edu-1",site="province-gd"} 0.0' in text
