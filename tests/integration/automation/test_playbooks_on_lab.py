"""provision and harden on the real lab: settings seen independently, drift, faults, cancel.

Runs against a subset of hosts (one per role that matters) to keep the time
reasonable; the session's lab comes from tests/integration/conftest.py.
A module fixture brings the hosts back to a fresh state (lab down --purge,
up) after the last test of this module, so later lab tests see unhardened
hosts whatever order the tests run in.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from controlplane.ssh import SSHPool, Target

if TYPE_CHECKING:
    from tests.integration.conftest import Lab

pytestmark = [pytest.mark.root, pytest.mark.lab]

SUBSET = "mn-portal-1,mn-portal-2,bc-backup-1,gd-school-1"
ADDRESS = {"mn-portal-1": "10.198.0.11", "mn-portal-2": "10.198.0.12", "bc-backup-1": "10.198.0.21",
           "gd-school-1": "10.198.0.51"}  # fmt: skip
PORTAL_VIP = "10.198.0.100"


def egov_json(lab: Lab, *args: str, timeout: float = 600) -> tuple[int, dict[str, Any]]:
    result = lab.egov(*args, "--json", timeout=timeout)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


def remote(pool: SSHPool, host: str, *argv: str) -> str:
    result = pool.run(Target(host, ADDRESS[host]), list(argv))
    assert result.ok, result.stderr
    return result.stdout


@pytest.fixture(scope="module", autouse=True)
def hosts_are_reset_for_the_tests_after_us(lab: Lab) -> Iterator[None]:
    """After this module's tests, purge and restart the lab (its hosts were provisioned and hardened here)."""
    yield
    from controlplane.lab import manager

    manager.down(lab.config, purge=True)
    assert lab.egov("lab", "up").returncode == 0


@pytest.fixture(scope="module")
def provisioned(lab: Lab) -> dict[str, Any]:
    code, data = egov_json(lab, "provision", "--limit", SUBSET)
    assert code == 0, data
    return data


@pytest.fixture(scope="module")
def hardened(lab: Lab, provisioned: dict[str, Any]) -> dict[str, Any]:
    code, data = egov_json(lab, "harden", "--limit", SUBSET)
    assert code == 0, data
    return data


@pytest.fixture
def pool(lab: Lab) -> Any:
    with SSHPool.from_config(lab.config) as opened:
        yield opened


def test_the_portal_answers_on_its_vip_after_provision(provisioned: dict[str, Any]) -> None:
    with urllib.request.urlopen(f"http://{PORTAL_VIP}/health", timeout=5) as response:
        body = json.loads(response.read())
    assert body["status"] == "ok" and body["host"] == "mn-portal-1"


def test_a_school_host_reaches_only_its_own_site_repositories(lab: Lab, provisioned: dict[str, Any], pool) -> None:
    # The backup engine's layout (controlplane/backup/center_setup.py, run by provision): account
    # backup-<site> chrooted to /srv/restic/<site>, the host's key in /etc/egov/backup, the center pinned.
    sftp = ["sftp", "-b", "-", "-i", "/etc/egov/backup/id_ed25519", "-o", "BatchMode=yes",
            "-o", "UserKnownHostsFile=/etc/egov/backup/known_hosts", "-o", "StrictHostKeyChecking=yes"]  # fmt: skip
    center = ADDRESS["bc-backup-1"]
    own = pool.run(Target("gd-school-1", ADDRESS["gd-school-1"]), [*sftp, f"backup-school-gd-1@{center}"],
                   input_text="ls -1 /\nls -1 /..\n")  # fmt: skip
    assert own.ok, own.stderr
    # The chroot shows the site's own host folder, and no other site's folder even one level up.
    assert "gd-school-1" in own.stdout and "ministry" not in own.stdout
    # The ministry's account exists (its portal hosts were provisioned too) but refuses a school's key.
    other = pool.run(Target("gd-school-1", ADDRESS["gd-school-1"]), [*sftp, f"backup-ministry@{center}"],
                     input_text="ls /\n")  # fmt: skip
    assert not other.ok and "Permission denied" in other.stderr
    # One account per site: no second (legacy bk-<site>) account on the center.
    passwd = remote(pool, "bc-backup-1", "getent", "passwd")
    assert "backup-school-gd-1:" in passwd and "backup-ministry:" in passwd and "bk-" not in passwd
    conf = remote(pool, "bc-backup-1", "cat", "/etc/ssh/sshd_config.d/egov-backup.conf")
    assert "Match User backup-school-gd-1" in conf and "ChrootDirectory /srv/restic/school-gd-1" in conf


def test_after_harden_an_independent_check_sees_the_settings_on_every_host(hardened: dict[str, Any], pool) -> None:
    for host in SUBSET.split(","):
        sshd = remote(pool, host, "/usr/sbin/sshd", "-T")
        assert "passwordauthentication no" in sshd and "permitrootlogin without-password" in sshd
        assert "maxauthtries 3" in sshd and "allowtcpforwarding no" in sshd
        assert "allowgroups root" in sshd
        assert remote(pool, host, "sysctl", "-n", "net.ipv4.conf.all.accept_redirects").strip() == "0"
        assert remote(pool, host, "sysctl", "-n", "net.ipv4.tcp_syncookies").strip() == "1"
        assert remote(pool, host, "stat", "-c", "%a %U", "/etc/ssh/sshd_config").strip() == "600 root"
        ruleset = remote(pool, host, "nft", "list", "ruleset")
        assert "hook input priority filter; policy drop;" in ruleset
        assert "10.198.0.0/24" in ruleset and "tcp dport 22" in ruleset


def test_after_harden_the_control_plane_reconnects_to_every_host(lab: Lab, hardened: dict[str, Any]) -> None:
    with SSHPool.from_config(lab.config) as fresh:
        for host in SUBSET.split(","):
            assert remote(fresh, host, "true") == ""


def test_after_harden_a_site_account_still_reaches_its_repositories(hardened: dict[str, Any], pool) -> None:
    # AllowGroups keeps the backup accounts (group backup-<site>) next to the management account.
    sftp = ["sftp", "-b", "-", "-i", "/etc/egov/backup/id_ed25519", "-o", "BatchMode=yes",
            "-o", "UserKnownHostsFile=/etc/egov/backup/known_hosts", "-o", "StrictHostKeyChecking=yes"]  # fmt: skip
    account = f"backup-school-gd-1@{ADDRESS['bc-backup-1']}"
    own = pool.run(Target("gd-school-1", ADDRESS["gd-school-1"]), [*sftp, account], input_text="ls -1 /\n")
    assert own.ok and "gd-school-1" in own.stdout, own.stderr


def test_a_second_harden_changes_nothing(lab: Lab, hardened: dict[str, Any]) -> None:
    code, data = egov_json(lab, "harden", "--limit", SUBSET)
    assert code == 0
    assert {host: row["changed"] for host, row in data["hosts"].items()} == dict.fromkeys(SUBSET.split(","), 0)


def test_a_host_changed_by_hand_is_reported_by_check(lab: Lab, hardened: dict[str, Any], pool) -> None:
    remote(pool, "gd-school-1", "sysctl", "-w", "net.ipv4.conf.all.accept_redirects=1")
    remote(pool, "gd-school-1", "chmod", "0644", "/etc/ssh/sshd_config")
    code, data = egov_json(lab, "harden", "--check", "--limit", "gd-school-1")
    drift = {c for row in data["changed"] for c in row["controls"]}
    assert code == 0
    assert "net.accept-redirects" in drift and "ssh.config-permissions" in drift
    # check mode changed nothing
    assert remote(pool, "gd-school-1", "sysctl", "-n", "net.ipv4.conf.all.accept_redirects").strip() == "1"
    egov_json(lab, "harden", "--limit", "gd-school-1", "--tags", "sysctl,ssh")


def test_a_host_that_is_down_leaves_the_others_successful_and_the_run_partial(lab: Lab, hardened) -> None:
    assert lab.egov("lab", "fault", "mn-portal-2", "down").returncode == 0
    try:
        code, data = egov_json(lab, "harden", "--limit", "mn-portal-1,mn-portal-2")
    finally:
        assert lab.egov("lab", "fault", "mn-portal-2", "up").returncode == 0
    assert code == 1 and data["status"] == "partial"
    assert data["hosts"]["mn-portal-2"]["outcome"] == "unreachable"
    assert data["hosts"]["mn-portal-1"]["outcome"] in ("ok", "changed")


def ansible_processes(marker: str = "egov-run-") -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\x00", b" ").decode(errors="replace")
            except OSError:
                continue
            if marker in cmdline or "ansible-playbook" in cmdline:
                found.append(f"{entry.name} {cmdline}")
    return found


def test_a_cancelled_run_leaves_no_ansible_process(lab: Lab, hardened: dict[str, Any]) -> None:
    before = set(ansible_processes())
    process = subprocess.Popen(
        [sys.executable, "-m", "controlplane", "--config", str(lab.config_path), "provision", "--json",
         "--limit", SUBSET],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ},
    )  # fmt: skip
    run_id = None
    deadline = time.monotonic() + 60
    while run_id is None and time.monotonic() < deadline:
        listed = json.loads(lab.egov("runs", "list", "--status", "running", "--json").stdout)
        run_id = next((r["id"] for r in listed if r["kind"] == "provision"), None)
        time.sleep(0.2)
    assert run_id is not None
    time.sleep(2)
    assert lab.egov("runs", "cancel", str(run_id)).returncode == 0
    stdout, _stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert json.loads(stdout)["status"] == "cancelled"
    time.sleep(0.5)
    assert set(ansible_processes()) - before == set()
    shown = json.loads(lab.egov("runs", "show", str(run_id), "--json").stdout)
    assert shown["status"] == "cancelled"


def test_bad_input_exits_2_naming_the_cause(lab: Lab) -> None:
    unknown = lab.egov("harden", "--limit", "no-such-host")
    assert unknown.returncode == 2 and "no-such-host" in unknown.stderr
