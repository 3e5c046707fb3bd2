"""restic argv builders, tested by their exact argv."""

from __future__ import annotations

import pytest

from controlplane.backup import commands
from controlplane.backup.commands import ENV_SCRUB, Repo
from controlplane.backup.policy import Center, Retention
from controlplane.errors import BadInputError

URL = "sftp:backup-ministry@10.198.0.21:/srv/restic/ministry/mn-db-1/edu-db"
REPO = Repo(location=URL, restic="/usr/local/bin/restic", retry_lock="5m")
HEAD = [*ENV_SCRUB, "/usr/local/bin/restic", "--repo", URL]
LOCKED = [*HEAD, "--retry-lock", "5m"]


def test_every_command_starts_by_removing_restic_password_and_repository_variables() -> None:
    assert ENV_SCRUB == (
        "env",
        "-u",
        "RESTIC_PASSWORD",
        "-u",
        "RESTIC_PASSWORD_FILE",
        "-u",
        "RESTIC_PASSWORD_COMMAND",
        "-u",
        "RESTIC_REPOSITORY",
        "-u",
        "RESTIC_REPOSITORY_FILE",
        "-u",
        "RESTIC_HOST",
        "-u",
        "RESTIC_FROM_PASSWORD",
        "-u",
        "RESTIC_FROM_PASSWORD_FILE",
        "-u",
        "RESTIC_FROM_PASSWORD_COMMAND",
        "-u",
        "RESTIC_FROM_REPOSITORY",
        "-u",
        "RESTIC_FROM_REPOSITORY_FILE",
    )


def test_no_builder_ever_puts_a_password_option_in_argv() -> None:
    built = [
        commands.init(REPO),
        commands.backup_paths(REPO, ["/srv"], host="h"),
        commands.backup_dump(REPO, ["pg_dump"], filename="x.dump", host="h"),
        commands.snapshots(REPO),
        commands.forget(REPO, Retention(keep_last=1)),
        commands.check(REPO),
        commands.restore(REPO, target="/t"),
        commands.ls(REPO),
        commands.unlock(REPO),
        commands.stats(REPO),
    ]
    for argv in built:
        assert not [w for w in argv if w.startswith(("--password", "-p")) or "RESTIC_PASSWORD=" in w]


def test_init_asks_for_json_and_takes_no_lock_wait() -> None:
    assert commands.init(REPO) == [*HEAD, "init", "--json"]


def test_backup_of_paths_has_host_tags_excludes_and_paths_after_a_double_dash() -> None:
    argv = commands.backup_paths(
        REPO,
        ["/srv/portal", "/etc/nginx"],
        host="mn-portal-1",
        excludes=["*.tmp", "/srv/portal/cache"],
        tags=["egov", "portal-content"],
        one_file_system=True,
    )
    assert argv == [
        *LOCKED, "backup", "--json", "--host", "mn-portal-1", "--tag", "egov", "--tag", "portal-content",
        "--exclude", "*.tmp", "--exclude", "/srv/portal/cache", "--one-file-system", "--", "/srv/portal", "/etc/nginx",
    ]  # fmt: skip


def test_a_dump_backup_runs_the_command_through_stdin_from_command_with_a_file_name() -> None:
    argv = commands.backup_dump(
        REPO,
        ["runuser", "-u", "postgres", "--", "pg_dump", "--format=custom", "edu"],
        filename="edu.dump",
        host="mn-db-1",
        tags=["egov", "edu-db"],
    )
    assert argv == [
        *LOCKED, "backup", "--json", "--host", "mn-db-1", "--tag", "egov", "--tag", "edu-db",
        "--stdin-filename", "edu.dump", "--stdin-from-command",
        "--", "runuser", "-u", "postgres", "--", "pg_dump", "--format=custom", "edu",
    ]  # fmt: skip


def test_snapshots_can_be_narrowed_to_a_host_tags_and_the_latest() -> None:
    assert commands.snapshots(REPO) == [*LOCKED, "snapshots", "--json"]
    assert commands.snapshots(REPO, host="h1", tags=["edu-db"], latest=1) == [
        *LOCKED, "snapshots", "--json", "--host", "h1", "--tag", "edu-db", "--latest", "1",
    ]  # fmt: skip


def test_forget_passes_each_retention_rule_and_prunes() -> None:
    retention = Retention(keep_last=3, keep_hourly=24, keep_daily=7, keep_weekly=4, keep_monthly=12, keep_yearly=2)
    assert commands.forget(REPO, retention, host="mn-db-1") == [
        *LOCKED, "forget", "--json", "--host", "mn-db-1", "--keep-last", "3", "--keep-hourly", "24",
        "--keep-daily", "7", "--keep-weekly", "4", "--keep-monthly", "12", "--keep-yearly", "2", "--prune",
    ]  # fmt: skip
    assert commands.forget(REPO, Retention(keep_daily=7), prune=False) == [
        *LOCKED, "forget", "--json", "--keep-daily", "7",
    ]  # fmt: skip


def test_forget_without_any_keep_rule_is_refused() -> None:
    with pytest.raises(BadInputError, match="no keep rule"):
        commands.forget(REPO, Retention())


def test_forgetting_given_snapshots_takes_ids_only() -> None:
    assert commands.forget_snapshots(REPO, ["8739e1d1"]) == [*LOCKED, "forget", "--json", "--", "8739e1d1"]
    with pytest.raises(BadInputError):
        commands.forget_snapshots(REPO, ["latest"])


def test_check_reads_a_subset_of_the_data_when_asked() -> None:
    assert commands.check(REPO) == [*LOCKED, "check", "--json"]
    assert commands.check(REPO, read_data_subset="5%") == [*LOCKED, "check", "--json", "--read-data-subset", "5%"]


def test_restore_names_target_host_includes_and_the_snapshot_last() -> None:
    argv = commands.restore(
        REPO, target="/var/tmp/egov-restore/x", snapshot="latest", host="mn-db-1", includes=["/edu.dump"]
    )
    assert argv == [
        *LOCKED, "restore", "--json", "--target", "/var/tmp/egov-restore/x", "--host", "mn-db-1",
        "--include", "/edu.dump", "--verify", "--", "latest",
    ]  # fmt: skip
    assert commands.restore(REPO, target="/t", snapshot="0123abcd", verify=False) == [
        *LOCKED, "restore", "--json", "--target", "/t", "--", "0123abcd",
    ]  # fmt: skip


@pytest.mark.parametrize("snapshot", ["", "LATEST", "--delete", "abc", "0123abcd; rm -rf /", "../x"])
def test_a_snapshot_that_is_not_latest_or_a_hex_id_is_refused(snapshot: str) -> None:
    with pytest.raises(BadInputError):
        commands.restore(REPO, target="/t", snapshot=snapshot)


def test_ls_lists_a_snapshot_as_json() -> None:
    assert commands.ls(REPO, host="h1") == [*LOCKED, "ls", "--json", "--host", "h1", "--", "latest"]


def test_unlock_never_removes_all_locks_and_does_not_wait_for_one() -> None:
    assert commands.unlock(REPO) == [*HEAD, "unlock"]
    assert "--remove-all" not in commands.unlock(REPO)


def test_stats_counts_in_a_known_mode() -> None:
    assert commands.stats(REPO) == [*LOCKED, "stats", "--json", "--mode", "restore-size"]
    assert commands.stats(REPO, snapshot="latest", mode="raw-data") == [
        *LOCKED, "stats", "--json", "--mode", "raw-data", "--", "latest",
    ]  # fmt: skip
    with pytest.raises(BadInputError):
        commands.stats(REPO, mode="everything")


def test_the_sftp_command_pins_the_host_key_uses_batch_mode_the_backup_key_and_keepalives() -> None:
    center = Center(host="bc-backup-1", root="/srv/restic")
    repo = commands.repo_for(center, "10.198.0.21", "ministry", URL, retry_lock="10m")
    assert commands.init(repo) == [
        *ENV_SCRUB, "restic", "--repo", URL,
        "-o", "sftp.command=ssh -i /etc/egov/backup/id_ed25519 -p 22 -o BatchMode=yes -o StrictHostKeyChecking=yes"
        " -o UserKnownHostsFile=/etc/egov/backup/known_hosts -o IdentitiesOnly=yes"
        " -o ConnectTimeout=10 -o ServerAliveInterval=5 -o ServerAliveCountMax=3"
        " backup-ministry@10.198.0.21 -s sftp",
        "init", "--json",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("stall", "words"),
    [
        (20, "-o ConnectTimeout=10 -o ServerAliveInterval=5 -o ServerAliveCountMax=3"),
        (8, "-o ConnectTimeout=4 -o ServerAliveInterval=2 -o ServerAliveCountMax=3"),
        (30, "-o ConnectTimeout=15 -o ServerAliveInterval=8 -o ServerAliveCountMax=3"),
        (3, "-o ConnectTimeout=2 -o ServerAliveInterval=1 -o ServerAliveCountMax=3"),
    ],
)
def test_the_centers_stall_timeout_bounds_restics_ssh_connecting_and_mid_transfer(stall: int, words: str) -> None:
    # ssh gives up after ServerAliveCountMax + 1 unanswered intervals: 4 x ceil(stall / 4) >= stall seconds.
    center = Center(host="bc-backup-1", root="/srv/restic", stall_timeout=stall)
    command = " ".join(commands.sftp_command(center, "backup-ministry", "10.198.0.21"))
    assert command == (
        "ssh -i /etc/egov/backup/id_ed25519 -p 22 -o BatchMode=yes -o StrictHostKeyChecking=yes"
        f" -o UserKnownHostsFile=/etc/egov/backup/known_hosts -o IdentitiesOnly=yes {words}"
        " backup-ministry@10.198.0.21 -s sftp"
    )
    assert commands.sftp_args(center)[-6:] == tuple(words.split())


def test_a_cache_dir_is_passed_when_set() -> None:
    repo = Repo(location="/r", cache_dir="/var/cache/egov-restic")
    assert commands.snapshots(repo) == [*ENV_SCRUB, "restic", "--repo", "/r", "--cache-dir", "/var/cache/egov-restic",
                                        "snapshots", "--json"]  # fmt: skip


def test_sftp_words_restic_would_split_are_refused() -> None:
    center = Center(host="bc", root="/srv/restic", identity_file="/etc/my key")
    with pytest.raises(BadInputError, match="split"):
        commands.sftp_command(center, "backup-x", "10.0.0.1")


@pytest.mark.parametrize("word", ["a\nb", "nul\x00", ""])
def test_paths_tags_and_dump_words_with_newlines_nuls_or_nothing_are_refused(word: str) -> None:
    with pytest.raises(BadInputError):
        commands.backup_paths(REPO, [word], host="h")
    with pytest.raises(BadInputError):
        commands.backup_dump(REPO, ["pg_dump", word], filename="x", host="h")
    with pytest.raises(BadInputError):
        commands.snapshots(REPO, tags=[word])


def test_a_tag_with_a_comma_is_refused_because_restic_would_split_it() -> None:
    with pytest.raises(BadInputError, match="comma"):
        commands.snapshots(REPO, tags=["a,b"])


def test_a_malformed_lock_wait_is_refused() -> None:
    with pytest.raises(BadInputError):
        commands.snapshots(Repo(location="/r", retry_lock="5 minutes"))
