"""A person's SSH certificate on the lab, with the real OpenSSH client: their province opens, the ministry does not.

The host side is what part B's certify step installs (``/etc/ssh/egov_user_ca.pub``,
``/etc/ssh/egov_principals/root`` naming the host's site and ancestors, the
drop-in pointing sshd at them). The fixture writes exactly those files on the
two hosts it uses, keeping a drop-in that is already there, and puts back
whatever was there before (files, and sshd reloaded) when the test ends: the
next test finds the hosts as they were.

The management key keeps opening both hosts the whole time: it is the
break-glass path when the CA, the console or the TOTP device is unavailable.
"""

from __future__ import annotations

import base64
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyotp
import pytest
import yaml

from controlplane.lab import network
from tests.integration.conftest import REPO

if TYPE_CHECKING:
    from tests.integration.conftest import Lab

pytestmark = [pytest.mark.root, pytest.mark.lab]

PROVINCIAL, MINISTRY = "gd-edu-1", "mn-oa-1"
USER_CA = "/etc/ssh/egov_user_ca.pub"
PRINCIPALS = "/etc/ssh/egov_principals/root"
DROP_IN = "/etc/ssh/sshd_config.d/20-egov-ca.conf"
DROP_IN_TEXT = f"TrustedUserCAKeys {USER_CA}\nAuthorizedPrincipalsFile /etc/ssh/egov_principals/%u\n"
TOUCHED = (USER_CA, PRINCIPALS, DROP_IN)
# Reload as playbooks/roles/harden_ssh/tasks/reload.yml does on the lab: check first, then SIGHUP lab init's sshd.
RELOAD = "/usr/sbin/sshd -t && pkill -HUP --pidfile /run/egov-lab/sshd.pid"


def management_ssh(lab: Lab, address: str, script: str) -> subprocess.CompletedProcess[str]:
    """Run a shell script (on stdin) on a lab host as root with the management key."""
    config = lab.config
    argv = network.ssh(key_file=config.ssh_key_file, known_hosts=config.ssh_known_hosts, user="root",
                       address=address, argv=["sh", "-s"])  # fmt: skip
    return subprocess.run(argv, input=script, capture_output=True, text=True, timeout=30, check=False)


def person_ssh(lab: Lab, name: str, address: str, key: Path, cert: Path | None) -> subprocess.CompletedProcess[str]:
    """``ssh -i KEY -o CertificateFile=CERT root@NAME true``: the lab's pinned host keys, nothing else offered."""
    argv = ["ssh", "-i", str(key), "-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none",
            "-o", f"UserKnownHostsFile={lab.config.ssh_known_hosts}", "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
            "-o", f"HostName={address}", "-o", "PasswordAuthentication=no"]  # fmt: skip
    if cert is not None:
        argv += ["-o", f"CertificateFile={cert}"]
    return subprocess.run([*argv, f"root@{name}", "true"], capture_output=True, text=True, timeout=30, check=False)


def snapshot(lab: Lab, address: str) -> dict[str, str | None]:
    """The base64 of each file the fixture touches (None: absent)."""
    script = "".join(f"if [ -e {p} ]; then echo {p} $(base64 -w0 {p}); else echo {p} -; fi\n" for p in TOUCHED)
    result = management_ssh(lab, address, script)
    assert result.returncode == 0, result.stderr
    found: dict[str, str | None] = {}
    for line in result.stdout.splitlines():
        path, _, data = line.partition(" ")
        found[path] = None if data == "-" else data
    return found


def write_files(lab: Lab, address: str, files: dict[str, str | None]) -> None:
    """Write (base64 contents) or remove (None) each file, then check and reload sshd; fail loudly otherwise."""
    lines = ["set -e", "mkdir -p /etc/ssh/egov_principals /etc/ssh/sshd_config.d"]
    for path, data in files.items():
        if data is None:
            lines.append(f"rm -f {shlex.quote(path)}")
        else:
            lines.append(f"echo {shlex.quote(data)} | base64 -d > {shlex.quote(path)}; chmod 0644 {shlex.quote(path)}")
    lines.append(RELOAD)
    result = management_ssh(lab, address, "\n".join(lines) + "\n")
    assert result.returncode == 0, result.stderr


def site_and_ancestors(inventory: Any, site: str) -> list[str]:
    names: list[str] = []
    current: str | None = site
    while current and current not in names:
        names.append(current)
        parent = inventory.sites.get(current)
        current = parent.parent if parent is not None else None
    return names


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture
def site(lab: Lab, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A site of our own (store, vault, CA) reaching the lab with its management key; two hosts trust its CA.

    The hosts' files are put back as they were when the test ends (sshd reloaded), whatever happened.
    """
    from controlplane.config import load_config
    from controlplane.inventory import load_inventory
    from controlplane.pki.authority import init_authority
    from controlplane.store import open_store
    from controlplane.vault import create_key_file, open_vault

    data = {
        "folders": {"inventory": str(REPO / "inventory" / "lab.yml")},
        "state": {"dir": str(tmp_path / "var"), "database": f"sqlite:///{tmp_path}/var/egov.db"},
        "vault": {"key_file": str(tmp_path / "master.key")},
        "ssh": {"key_file": str(lab.config.ssh_key_file), "known_hosts": str(lab.config.ssh_known_hosts)},
    }
    (tmp_path / "egov.yml").write_text(yaml.safe_dump(data), encoding="utf-8")
    config = load_config(tmp_path / "egov.yml")
    create_key_file(config.key_file)
    store = open_store(config)
    vault = open_vault(config, store)
    authority = init_authority(config, store, requester="test-ssh-user-certificates")
    inventory = load_inventory(config.inventory)
    hosts = {name: inventory.host(name) for name in (PROVINCIAL, MINISTRY)}
    before: dict[str, dict[str, str | None]] = {}
    try:
        for name, host in hosts.items():
            before[name] = snapshot(lab, host.address)
            principals = "".join(f"site:{s}\n" for s in site_and_ancestors(inventory, host.site))
            files: dict[str, str | None] = {
                USER_CA: b64("\n".join(authority.ssh_ca_public_lines()) + "\n"),
                PRINCIPALS: b64(principals),
            }
            if before[name][DROP_IN] is None:  # a drop-in that certify wrote already says the same, and more
                files[DROP_IN] = b64(DROP_IN_TEXT)
            write_files(lab, host.address, files)
        yield {"config": config, "store": store, "vault": vault, "inventory": inventory, "hosts": hosts}
    finally:
        try:
            for name, files in before.items():
                write_files(lab, hosts[name].address, files)
        finally:
            store.close()


@pytest.fixture
def operator(site: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """A provincial operator of province-gd with TOTP (removed after): (name, TOTP secret)."""
    from sqlalchemy import delete

    from controlplane.store.models import Setting, User, utcnow
    from controlplane.users import hash_password

    name, secret = "lab-cert-op-gd", pyotp.random_base32()
    store, vault = site["store"], site["vault"]
    with store.session() as session:
        session.execute(delete(User).where(User.name == name))
        user = User(name=name, role="operator", sites=["province-gd"], password_hash=hash_password("x" * 16),
                    totp_enabled=True, disabled=False, created_at=utcnow(), password_changed_at=utcnow())  # fmt: skip
        session.add(user)
        session.flush()
        user_id = user.id
    vault.set(f"user.{user_id}.totp", secret)
    yield name, secret
    vault.delete(f"user.{user_id}.totp")
    with store.session() as session:
        session.execute(delete(Setting).where(Setting.key == f"totp.last_step.{user_id}"))
        session.execute(delete(User).where(User.id == user_id))


def test_a_provincial_operators_certificate_opens_the_province_and_not_the_ministry_and_break_glass_holds(
    lab: Lab, site: dict[str, Any], operator: tuple[str, str], tmp_path: Path
) -> None:
    from controlplane.users.ssh_certificates import issue_user_certificate

    assert lab.first_up.returncode == 0, lab.first_up.stderr
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "operator@laptop", "-f", str(key)], check=True)
    name, secret = operator
    issued = issue_user_certificate(
        site["config"], site["store"], site["vault"], site["inventory"], user_name=name,
        public_key=key.with_suffix(".pub").read_text(), code=pyotp.TOTP(secret).now(), caller="test@cli",
    )  # fmt: skip
    assert issued.issued.principals == ("site:province-gd",)
    # Not KEY-cert.pub: ssh would pick that up by itself, also for the key-alone check below.
    cert = tmp_path / "issued-cert.pub"
    cert.write_text(issued.issued.certificate_line + "\n")
    provincial, ministry = site["hosts"][PROVINCIAL], site["hosts"][MINISTRY]

    # The key alone opens nothing: the certificate is what the host accepts.
    assert person_ssh(lab, PROVINCIAL, provincial.address, key, None).returncode == 255
    opened = person_ssh(lab, PROVINCIAL, provincial.address, key, cert)
    assert opened.returncode == 0, opened.stderr
    refused = person_ssh(lab, MINISTRY, ministry.address, key, cert)
    assert refused.returncode == 255 and "Permission denied" in refused.stderr

    # Break-glass: the control plane's management key still opens both, certificates or not.
    for host in (provincial, ministry):
        result = management_ssh(lab, host.address, "true\n")
        assert result.returncode == 0, result.stderr
