"""A lab host's own files: sshd config, /etc/hosts, shadow without hashes, known_hosts."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from controlplane.lab import disk
from controlplane.lab.spec import HostSpec, LabSpec, build_spec
from tests.unit.lab.lab_helpers import config, inventory


def _spec(tmp_path: Path) -> LabSpec:
    return build_spec(config(tmp_path), inventory([("mn-db-1", "10.198.0.14"), ("gd-edu-1", "10.198.0.41")]))


def _host(tmp_path: Path) -> HostSpec:
    return _spec(tmp_path).host("mn-db-1")


def test_sshd_config_listens_on_the_host_address_with_its_own_key(tmp_path: Path) -> None:
    text = disk.sshd_config_text(_host(tmp_path))
    lines = text.splitlines()
    for line in (
        "ListenAddress 10.198.0.14",
        "Port 22",
        "HostKey /etc/ssh/ssh_host_ed25519_key",
        "PermitRootLogin prohibit-password",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "Subsystem sftp internal-sftp",
    ):
        assert line in lines
    assert sum(1 for line in lines if line.startswith("HostKey")) == 1


def test_hosts_file_lists_every_lab_host(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    text = disk.hosts_file_text(spec, spec.host("mn-db-1"))
    assert "10.198.0.14\tmn-db-1" in text
    assert "10.198.0.41\tgd-edu-1" in text
    assert "10.198.0.1\tegov-gateway" in text
    assert text.startswith("127.0.0.1\tlocalhost\n")


def test_shadow_keeps_accounts_but_no_hash() -> None:
    text = "root:$y$j9T$abc$def:19000:0:99999:7:::\nsshd:!:19000::::::\n\nbad-line\n"
    assert disk.sanitize_shadow(text) == "root:*:19000:0:99999:7:::\nsshd:*:19000::::::\n\nbad-line\n"


def test_known_hosts_replaces_lab_lines_and_keeps_others() -> None:
    existing = "\n".join(
        [
            "# comment",
            "10.198.0.14,mn-db-1 ssh-ed25519 OLD",
            "mn-db-1 ssh-rsa OLDER",
            "github.example ssh-ed25519 KEEP",
            "@cert-authority 10.198.0.14 ssh-ed25519 CA",
        ]
    )
    text = disk.known_hosts_text(
        existing, [("10.198.0.14", "mn-db-1", 22, "ssh-ed25519 NEW"), ("10.198.0.5", "x", 2222, "ssh-ed25519 P")]
    )
    assert text.splitlines() == [
        "# comment",
        "github.example ssh-ed25519 KEEP",
        "10.198.0.14,mn-db-1 ssh-ed25519 NEW",
        "[10.198.0.5]:2222,[x]:2222 ssh-ed25519 P",
    ]
    assert (
        disk.known_hosts_text(
            text, [("10.198.0.14", "mn-db-1", 22, "ssh-ed25519 NEW"), ("10.198.0.5", "x", 2222, "ssh-ed25519 P")]
        )
        == text
    )


def test_public_key_drops_the_comment(tmp_path: Path) -> None:
    path = tmp_path / "k.pub"
    path.write_text("ssh-ed25519 AAAAC3 root@mn-db-1\n", encoding="ascii")
    assert disk.public_key(path) == "ssh-ed25519 AAAAC3"
    path.write_text("garbage\n", encoding="ascii")
    with pytest.raises(ValueError):
        disk.public_key(path)


def test_write_if_changed_reports_changes_and_sets_the_mode(tmp_path: Path) -> None:
    path = tmp_path / "a/b.txt"
    assert disk.write_if_changed(path, "x\n", 0o600) is True
    assert disk.write_if_changed(path, "x\n", 0o640) is False
    assert stat.S_IMODE(path.stat().st_mode) == 0o640


def test_ensure_line_appends_once(tmp_path: Path) -> None:
    path = tmp_path / "authorized_keys"
    path.write_text("ssh-ed25519 OTHER", encoding="ascii")
    disk.ensure_line(path, "ssh-ed25519 MGMT egov", 0o600)
    disk.ensure_line(path, "ssh-ed25519 MGMT egov", 0o600)
    assert path.read_text(encoding="ascii") == "ssh-ed25519 OTHER\nssh-ed25519 MGMT egov\n"


@pytest.mark.root
def test_prepare_host_writes_the_upper_dir(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (trusted.* xattrs, whiteout device nodes)")
    machine = tmp_path / "machine"
    (machine / "etc/ssh").mkdir(parents=True)
    (machine / "etc/ssh/ssh_host_rsa_key").write_text("SECRET", encoding="ascii")
    (machine / "etc/shadow").write_text("root:$6$hash:1::::::\n", encoding="ascii")
    (machine / "etc/skel").mkdir()
    (machine / "etc/skel/.profile").write_text("# profile\n", encoding="ascii")
    spec = _spec(tmp_path)
    host = spec.host("mn-db-1")
    disk.prepare_host(spec, host, "ssh-ed25519 MGMT egov-lab-management", machine_root=machine)
    upper = host.upper
    assert (upper / "etc/hostname").read_text(encoding="ascii") == "mn-db-1\n"
    assert (upper / "root/.ssh/authorized_keys").read_text(encoding="ascii") == "ssh-ed25519 MGMT egov-lab-management\n"
    assert stat.S_IMODE((upper / "root/.ssh/authorized_keys").stat().st_mode) == 0o600
    assert os.getxattr(upper / "root", disk.OPAQUE_XATTR) == b"y"
    assert os.getxattr(upper / "etc/ssh/sshd_config.d", disk.OPAQUE_XATTR) == b"y"
    whiteout = (upper / "etc/ssh/ssh_host_rsa_key").lstat()
    assert stat.S_ISCHR(whiteout.st_mode) and whiteout.st_rdev == os.makedev(0, 0)
    assert (upper / "etc/shadow").read_text(encoding="ascii") == "root:*:1::::::\n"
    assert (upper / "root/.profile").exists()
    assert (upper / "etc/egov-lab/services").is_dir()
    assert '"name": "mn-db-1"' in (upper / "etc/egov-lab/host.json").read_text(encoding="utf-8")
    # A second run keeps what the host changed in its own sshd_config.
    (upper / "etc/ssh/sshd_config").write_text("# hardened\n", encoding="ascii")
    disk.prepare_host(spec, host, "ssh-ed25519 MGMT egov-lab-management", machine_root=machine)
    assert (upper / "etc/ssh/sshd_config").read_text(encoding="ascii") == "# hardened\n"
