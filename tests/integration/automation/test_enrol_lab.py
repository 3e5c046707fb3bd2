"""README "Managing your own servers", step by step, against a lab host that starts unmanaged.

The session's lab gets one extra host, ``gd-school-2`` (10.198.0.52), from
``all.vars.lab_unmanaged_hosts`` of a copy of the lab inventory: no
management key in its ``authorized_keys``, its key in no ``known_hosts``,
root's password in the lab folder. The enrolment runs on a site of its own
(a copy of the lab inventory without that host, its own store and
known_hosts, the lab's management key), exactly with the README's commands.
The extra host is stopped and its disk deleted afterwards; nothing of the
shared lab changes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
NAME, ADDRESS, SITE, ROLE = "gd-school-2", "10.198.0.52", "school-gd-1", "school"
ENROL = ["hosts", "enrol", NAME, "--address", ADDRESS, "--site", SITE, "--role", ROLE]


@dataclasses.dataclass
class Unmanaged:
    """The extra lab host and the enrolment site."""

    lab_config: Any
    spec: Any
    host: Any
    site_path: Path

    def egov(self, *args: str, stdin: str | None = None, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """``egov --config SITE ARGS`` as the operator types it."""
        return subprocess.run(
            [sys.executable, "-m", "controlplane", "--config", str(self.site_path), *args],
            input=stdin, capture_output=True, text=True, check=False, timeout=timeout, cwd=self.site_path.parent,
        )  # fmt: skip

    def console(self, argv: list[str]) -> str:
        """Run a command on the host's own console (inside it, no SSH), as its operator would."""
        from controlplane.lab import manager

        result = manager.exec_in_host(self.lab_config, NAME, argv, timeout=30, spec=self.spec)
        assert result.ok, result.stderr
        return result.stdout


def _lab_inventory_with_unmanaged_host(folder: Path) -> Path:
    text = (REPO / "inventory" / "lab.yml").read_text(encoding="utf-8")
    anchor = "    portal_vip: 10.198.0.100\n"
    assert anchor in text
    extra = f"    lab_unmanaged_hosts:\n      {NAME}: {{address: {ADDRESS}, site: {SITE}, role: {ROLE}}}\n"
    path = folder / "lab-with-unmanaged.yml"
    path.write_text(text.replace(anchor, anchor + extra), encoding="utf-8")
    return path


@pytest.fixture
def unmanaged(lab: Any, tmp_path: Path) -> Iterator[Unmanaged]:
    """Start ``gd-school-2`` unmanaged in the session's lab; write the enrolment site; stop and purge it after."""
    from controlplane.inventory import load_inventory
    from controlplane.lab import lifecycle
    from controlplane.lab.spec import build_spec

    spec = build_spec(lab.config, load_inventory(_lab_inventory_with_unmanaged_host(tmp_path)))
    host = spec.host(NAME)
    assert host.unmanaged
    lifecycle.remove_host(spec, host, purge=True)  # a leftover of an interrupted run starts afresh
    lifecycle.up(lab.config, dataclasses.replace(spec, hosts=(host,)))
    site = tmp_path / "site"
    site.mkdir()
    (site / "inventory.yml").write_bytes((REPO / "inventory" / "lab.yml").read_bytes())
    data = {
        "folders": {"inventory": "inventory.yml", **{n: str(REPO / n) for n in ("playbooks", "backup", "monitoring")}},
        "state": {"dir": "var"},
        "ssh": {"key_file": str(lab.config.ssh_key_file), "known_hosts": "var/known_hosts"},
    }
    (site / "egov.yml").write_text(yaml.safe_dump(data), encoding="utf-8")
    try:
        yield Unmanaged(lab.config, spec, host, site / "egov.yml")
    finally:
        lifecycle.remove_host(spec, host, purge=True)


def _key_login(known_hosts_key: Any, key_file: Path) -> bool:
    from controlplane.automation.first_contact import key_login_works

    return key_login_works(NAME, ADDRESS, 22, known_hosts_key, key_file, 10)


def test_an_unmanaged_lab_host_is_enrolled_by_the_readme_steps(unmanaged: Unmanaged) -> None:
    from controlplane.automation.first_contact import HostKey, fetch_host_key
    from controlplane.config import load_config
    from controlplane.inventory import load_inventory
    from controlplane.ssh import SSHPool, Target

    lab_config, host = unmanaged.lab_config, unmanaged.host
    public = (host.upper / "etc/ssh/ssh_host_ed25519_key.pub").read_text(encoding="ascii").split()[1]
    # It starts unmanaged: its key is in no known_hosts, and the management key does not open it.
    for known_hosts in (lab_config.ssh_known_hosts, Path.home() / ".ssh/known_hosts"):
        assert not known_hosts.exists() or public not in known_hosts.read_text(encoding="utf-8")
    seen = fetch_host_key(NAME, ADDRESS, 22, 10)
    assert seen.line.split()[1] == public
    assert not _key_login(HostKey(seen.key_type, seen.blob), lab_config.ssh_key_file)
    assert oct(host.root_password_file.stat().st_mode & 0o777) == "0o600"
    password = host.root_password_file.read_text(encoding="ascii")

    # README: egov init, egov ca init.
    for command in (["init"], ["ca", "init"]):
        result = unmanaged.egov(*command)
        assert result.returncode == 0, result.stderr
    site = load_config(unmanaged.site_path)
    inventory_before = site.inventory.read_bytes()

    # README: read the fingerprint on the server's console.
    printed = unmanaged.console(["ssh-keygen", "-lf", "/etc/ssh/ssh_host_ed25519_key.pub"]).split()[1]
    assert printed == seen.fingerprint

    # A wrong fingerprint (a man in the middle, or a typo) is refused, and nothing changes.
    wrong = "SHA256:" + ("A" * 43)
    refused = unmanaged.egov(*ENROL, "--fingerprint", wrong, "--yes", stdin=password)
    assert refused.returncode == 2, refused.stderr
    assert f"not {wrong} as given: refusing (nothing was changed)" in refused.stderr
    assert site.inventory.read_bytes() == inventory_before
    assert not site.ssh_known_hosts.exists()
    assert not _key_login(HostKey(seen.key_type, seen.blob), lab_config.ssh_key_file)

    # The right one enrols it: key, pin, inventory, certificate, audit, first scan.
    enrolled = unmanaged.egov(*ENROL, "--fingerprint", printed, "--yes", stdin=password)
    assert enrolled.returncode == 0, enrolled.stderr
    output = enrolled.stdout + enrolled.stderr
    assert password.strip() not in output
    expected = ("✓ management key: installed", "✓ inventory: added to school_gd_1 and school",
                "✓ certify: certificate", "✓ first scan: scan ")  # fmt: skip
    for line in expected:
        assert line in output, output

    # Afterwards: in the inventory, reached by key (no password) with the site's own trust, scanned once.
    assert load_inventory(site.inventory).host(NAME).address == ADDRESS
    assert _key_login(HostKey(seen.key_type, seen.blob), lab_config.ssh_key_file)
    with SSHPool.from_config(site) as pool:
        result = pool.run(Target(NAME, ADDRESS), ["cat", "/root/.ssh/authorized_keys", "/etc/ssh/egov_principals/root"])
    assert result.ok, result.stderr
    assert "site:school-gd-1" in result.stdout and "site:ministry" in result.stdout
    runs = json.loads(unmanaged.egov("runs", "list", "--json").stdout)
    assert [(r["kind"], r["target"], r["status"]) for r in runs if r["kind"] == "scan"] == [("scan", NAME, "succeeded")]
    audit = unmanaged.egov("audit", "list", "--json")
    records = [r for r in json.loads(audit.stdout) if r["action"] == "hosts.enrol"]
    assert [r["outcome"] for r in records] == ["ok", "failed"] or [r["outcome"] for r in records] == ["failed", "ok"]
    assert password.strip() not in audit.stdout
    # The shared lab's own known_hosts still knows nothing of it.
    assert public not in lab_config.ssh_known_hosts.read_text(encoding="utf-8")
    assert os.path.exists(site.ssh_known_hosts) and public in site.ssh_known_hosts.read_text(encoding="utf-8")

    # README: then provision and harden it like every other host (ansible reaches it through the same trust).
    for kind in ("provision", "harden"):
        ran = unmanaged.egov(kind, "--limit", NAME, timeout=900)
        assert ran.returncode == 0, ran.stdout + ran.stderr
    assert not _key_login_by_password(password)


def _key_login_by_password(password: str) -> bool:
    """Whether root can still log in with the password (harden turns password logins off)."""
    import paramiko

    client = paramiko.SSHClient()
    client.set_missing_host_key_policy(paramiko.AutoAddPolicy())  # noqa: S507 - only asks whether a password works
    try:
        client.connect(ADDRESS, username="root", password=password.strip(), look_for_keys=False, allow_agent=False,
                       timeout=10, banner_timeout=10, auth_timeout=10)  # fmt: skip
    except paramiko.AuthenticationException:
        return False
    finally:
        client.close()
    return True
