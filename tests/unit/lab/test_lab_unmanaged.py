"""Lab hosts that start unmanaged: no management key, their key pinned nowhere, root's password in a 0600 file."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from controlplane.errors import ConfigError
from controlplane.lab import disk, lifecycle
from controlplane.lab.spec import LabSpec, build_spec
from tests.unit.lab.lab_helpers import config, inventory

UNMANAGED = {"gd-school-2": {"address": "10.198.0.52", "site": "school-gd-1", "role": "school"}}


def _spec(tmp_path: Path, unmanaged: object = UNMANAGED, hosts: list[tuple[str, str]] | None = None) -> LabSpec:
    listed = hosts if hosts is not None else [("mn-db-1", "10.198.0.14")]
    return build_spec(config(tmp_path), inventory(listed, lab_unmanaged_hosts=unmanaged))


def test_hosts_of_lab_unmanaged_hosts_join_the_lab_marked_unmanaged(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    assert [(h.name, h.unmanaged) for h in spec.hosts] == [("mn-db-1", False), ("gd-school-2", True)]
    host = spec.host("gd-school-2")
    assert (host.address, host.site, host.role, host.port) == ("10.198.0.52", "school-gd-1", "school", 22)
    assert host.root_password_file == tmp_path / "var/lab/hosts/gd-school-2/root-password"


def test_once_enrolled_into_the_inventory_the_host_is_managed_like_the_others(tmp_path: Path) -> None:
    spec = _spec(tmp_path, hosts=[("mn-db-1", "10.198.0.14"), ("gd-school-2", "10.198.0.52")])
    assert [(h.name, h.unmanaged) for h in spec.hosts] == [("mn-db-1", False), ("gd-school-2", False)]


def test_bad_unmanaged_hosts_are_reported_with_their_key_path(tmp_path: Path) -> None:
    bad = {"a_b": {"address": "10.198.0.60"}, "x": {"address": "10.198.0.14"}, "y": {"address": "8.8.8.8"}}
    with pytest.raises(ConfigError) as refused:
        _spec(tmp_path, unmanaged=bad)
    paths = [path for path, _ in refused.value.problems]
    assert paths == [
        "all.vars.lab_unmanaged_hosts.a_b",
        "all.vars.lab_unmanaged_hosts.x.address",
        "all.vars.lab_unmanaged_hosts.y.address",
    ]
    with pytest.raises(ConfigError, match="must map host names"):
        _spec(tmp_path, unmanaged=["gd-school-2"])


def test_an_unmanaged_host_lets_root_log_in_with_a_password(tmp_path: Path) -> None:
    lines = disk.sshd_config_text(_spec(tmp_path).host("gd-school-2")).splitlines()
    assert "PermitRootLogin yes" in lines and "PasswordAuthentication yes" in lines
    managed = disk.sshd_config_text(_spec(tmp_path).host("mn-db-1")).splitlines()
    assert "PermitRootLogin prohibit-password" in managed and "PasswordAuthentication no" in managed


def test_known_hosts_pins_managed_hosts_and_forgets_unmanaged_ones(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    for host in spec.hosts:
        public = host.upper / (disk.HOST_KEY + ".pub")
        public.parent.mkdir(parents=True)
        public.write_text(f"ssh-ed25519 KEY-{host.name} root@{host.name}\n", encoding="ascii")
    spec.known_hosts.parent.mkdir(parents=True)
    spec.known_hosts.write_text("10.198.0.52,gd-school-2 ssh-ed25519 STALE\nother ssh-ed25519 KEEP\n", encoding="ascii")
    lifecycle.write_known_hosts(spec)
    assert spec.known_hosts.read_text(encoding="ascii").splitlines() == [
        "other ssh-ed25519 KEEP",
        "10.198.0.14,mn-db-1 ssh-ed25519 KEY-mn-db-1",
    ]


def test_root_gets_a_random_password_once_its_hash_in_the_hosts_own_shadow(tmp_path: Path) -> None:
    host = _spec(tmp_path).host("gd-school-2")
    shadow = host.upper / "etc/shadow"
    shadow.parent.mkdir(parents=True)
    shadow.write_text("root:*:19000:0:99999:7:::\nsshd:*:19000::::::\n", encoding="ascii")
    os.chmod(shadow, 0o640)
    assert disk.set_root_password(host) is True
    password = host.root_password_file.read_text(encoding="ascii").strip()
    assert len(password) >= 20 and stat.S_IMODE(host.root_password_file.stat().st_mode) == 0o600
    root, sshd = shadow.read_text(encoding="ascii").splitlines()
    hashed = root.split(":")[1]
    salt = hashed.split("$")[2]
    again = subprocess.run(["openssl", "passwd", "-6", "-salt", salt, "-stdin"], input=password + "\n",
                           capture_output=True, text=True, check=True)  # fmt: skip
    assert again.stdout.strip() == hashed
    assert root.endswith(":19000:0:99999:7:::") and sshd == "sshd:*:19000::::::"
    assert stat.S_IMODE(shadow.stat().st_mode) == 0o640
    assert disk.set_root_password(host) is False  # kept across restarts
    assert host.root_password_file.read_text(encoding="ascii").strip() == password


@pytest.mark.root
def test_prepare_host_gives_an_unmanaged_host_no_management_key(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (trusted.* xattrs, whiteout device nodes)")
    machine = tmp_path / "machine"
    (machine / "etc/ssh").mkdir(parents=True)
    (machine / "etc/shadow").write_text("root:$6$hash:1::::::\n", encoding="ascii")
    spec = _spec(tmp_path)
    host = spec.host("gd-school-2")
    disk.prepare_host(spec, host, "ssh-ed25519 MGMT egov-lab-management", machine_root=machine)
    assert (host.upper / "root/.ssh").is_dir()
    assert not (host.upper / "root/.ssh/authorized_keys").exists()
    assert "PasswordAuthentication yes" in (host.upper / "etc/ssh/sshd_config").read_text(encoding="ascii")
    assert (host.upper / "etc/shadow").read_text(encoding="ascii").startswith("root:$6$")
    assert host.root_password_file.is_file()
