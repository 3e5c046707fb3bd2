"""SSH host certificates on the real lab: certify every host, trust by CA only, refusals, renewal, revocation.

The tests use a throwaway site of their own (own state folder, store and
CA) that reaches the session's lab hosts with the lab's management key and
pinned host keys, so nothing they issue or revoke stays in the lab's state.
The module fixture takes the certificates off every host again (and
reloads sshd), so later tests see the lab's hosts as they were.
"""

from __future__ import annotations

import base64
import datetime as dt
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from controlplane.automation import certify
from controlplane.errors import HostKeyError, UnreachableError
from controlplane.ssh import SSHPool, Target
from controlplane.ssh.trust import HostTrust, StoreRevocations, ca_file, cert_authority_file, krl_file

if TYPE_CHECKING:
    from controlplane.config import Config
    from controlplane.inventory import Host, Inventory
    from controlplane.store import Store
    from tests.integration.conftest import Lab

pytestmark = [pytest.mark.root, pytest.mark.lab]


@dataclass
class Site:
    config: Config
    store: Store
    inventory: Inventory
    empty_known_hosts: Path

    def host(self, name: str) -> Host:
        return self.inventory.host(name)


@pytest.fixture(scope="module")
def site(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    from controlplane.inventory import load_inventory
    from tests.integration.automation.ca_site import make_ca_site

    folder = tmp_path_factory.mktemp("host-certs-site")
    config, store = make_ca_site(lab, folder)
    empty = folder / "no_pins"
    empty.write_text("")
    inventory = load_inventory(config.inventory)
    try:
        yield Site(config, store, inventory, empty)
    finally:
        # Back to plain keys everywhere, through the pins alone (this site's revocations must not stand in the way).
        with SSHPool(config.ssh_key_file, config.ssh_known_hosts) as pool:
            outcomes = certify.uncertify_hosts(config, inventory.hosts, pool=pool)
        store.close()
        assert all(o.ok for o in outcomes), [o.message for o in outcomes if not o.ok]


def trust(site: Site, known_hosts: Path, now: dt.datetime | None = None) -> HostTrust:
    return HostTrust(known_hosts, ca_path=ca_file(site.config), revoked=StoreRevocations(site.config),
                     now=(lambda: now) if now else None)  # fmt: skip


def connect(site: Site, host: Host, known_hosts: Path, now: dt.datetime | None = None) -> int | None:
    """Run ``true`` on a host over a fresh connection; return the serial of the certificate it presented (or None).

    Retries for a few seconds while sshd re-executes after its reload (connections are refused meanwhile).
    """
    from controlplane.pki.verify import parse_certificate

    deadline = time.monotonic() + 10
    while True:
        with SSHPool(site.config.ssh_key_file, known_hosts, trust=trust(site, known_hosts, now)) as pool:
            target = Target.from_host(host)
            try:
                result = pool.run(target, ["true"])
            except UnreachableError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
                continue
            assert result.ok, result.stderr
            blob = pool.client(target).get_transport().get_remote_server_key().public_blob  # type: ignore[union-attr]
            return parse_certificate(blob.key_blob).serial if blob is not None else None


def openssh(site: Site, host: Host, known_hosts: str, *, revoked: bool = True) -> subprocess.CompletedProcess[str]:
    """``ssh ... true`` with only the given known_hosts files (and the site's KRL as RevokedHostKeys)."""
    argv = ["ssh", "-F", "/dev/null", "-i", str(site.config.ssh_key_file), "-o", "IdentitiesOnly=yes",
            "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", f"UserKnownHostsFile={known_hosts}", "-o", "ConnectTimeout=5", "-o", "UpdateHostKeys=no"]  # fmt: skip
    if revoked:
        argv += ["-o", f"RevokedHostKeys={krl_file(site.config)}"]
    argv += ["-p", str(host.port), f"root@{host.address}", "true"]
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)


def test_after_certify_every_lab_host_presents_a_valid_certificate_and_is_reached_with_no_pin(site: Site) -> None:
    outcomes = certify.certify_hosts(site.config, site.store, site.inventory.hosts, requester="lab-test")
    assert all(o.ok for o in outcomes), [o.message for o in outcomes if not o.ok]
    for host, outcome in zip(site.inventory.hosts, outcomes, strict=True):
        assert connect(site, host, site.empty_known_hosts) == outcome.serial, host.name
    # OpenSSH (what ansible uses): only the @cert-authority file, no pin for any host.
    text = cert_authority_file(site.config).read_text()
    assert text.startswith("@cert-authority ") and "10.198.0.51" in text
    host = site.host("gd-school-1")
    done = openssh(site, host, f"{site.empty_known_hosts} {cert_authority_file(site.config)}")
    assert done.returncode == 0, done.stderr


def test_a_host_with_a_forged_certificate_is_refused_even_though_its_plain_key_is_pinned(
    site: Site, tmp_path: Path
) -> None:
    host = site.host("mn-portal-2")
    with SSHPool.from_config(site.config) as pool:
        target = Target.from_host(host)
        public = pool.run(target, ["cat", certify.HOST_KEY_PATH]).stdout
        (tmp_path / "host.pub").write_text(public)
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "rogue")], check=True)
        subprocess.run(["ssh-keygen", "-q", "-s", str(tmp_path / "rogue"), "-h", "-I", "forged",
                        "-n", f"{host.name},{host.address}", "-V", "-5m:+1h", str(tmp_path / "host.pub")],
                       check=True)  # fmt: skip
        forged = (tmp_path / "host-cert.pub").read_bytes()
        put = pool.run(target, certify.remote_argv("install"),
                       input_text=certify.bundle([(certify.CERT_PATH, 0o644, forged)]))  # fmt: skip
        assert put.ok, put.stderr
    try:
        with pytest.raises(HostKeyError, match="not signed by the control plane's CA"):
            connect(site, host, site.config.ssh_known_hosts)
    finally:
        [again] = certify.certify_hosts(site.config, site.store, [host], requester="lab-test")
        assert again.ok, again.message


def test_an_expired_certificate_is_refused(site: Site) -> None:
    host = site.host("mn-db-1")
    [short] = certify.certify_hosts(site.config, site.store, [host], requester="lab-test",
                                    validity=dt.timedelta(seconds=4))  # fmt: skip
    assert short.ok and short.not_after is not None
    time.sleep(max(0.0, (short.not_after - dt.datetime.now(dt.UTC)).total_seconds()) + 0.5)
    with pytest.raises(HostKeyError, match="expired at"):
        connect(site, host, site.config.ssh_known_hosts)
    done = openssh(site, host, f"{site.empty_known_hosts} {cert_authority_file(site.config)}")
    assert done.returncode == 255 and "Host key verification failed" in done.stderr
    [again] = certify.certify_hosts(site.config, site.store, [host], requester="lab-test")
    assert again.ok and connect(site, host, site.empty_known_hosts) == again.serial


def test_renewal_before_expiry_puts_a_new_certificate_on_the_host(site: Site) -> None:
    from controlplane.automation.host_renewal import renew_due
    from controlplane.pki.records import latest_for

    host = site.host("gd-school-1")
    [first] = certify.certify_hosts(site.config, site.store, [host], requester="lab-test",
                                    validity=dt.timedelta(minutes=2))  # fmt: skip
    record = latest_for(site.store, "ssh-host", host.name)
    assert record is not None and record.serial == first.serial
    due = record.renew_after(site.config.pki.renew_at) + dt.timedelta(seconds=1)
    assert due < record.not_after  # before expiry
    renewed = {o.host: o for o in renew_due(site.config, site.store, now=due, validity=dt.timedelta(minutes=2))}
    assert renewed[host.name].ok and renewed[host.name].serial != first.serial
    assert connect(site, host, site.empty_known_hosts) == renewed[host.name].serial


def test_a_revoked_certificate_and_a_revoked_key_are_refused_by_paramiko_and_by_openssh(site: Site) -> None:
    from controlplane.pki.revocation import revoke
    from controlplane.ssh.trust import fingerprint

    host = site.host("gd-edu-1")
    [issued] = certify.certify_hosts(site.config, site.store, [host], requester="lab-test")
    assert issued.ok and connect(site, host, site.empty_known_hosts) == issued.serial
    both = f"{site.empty_known_hosts} {cert_authority_file(site.config)}"
    assert openssh(site, host, both).returncode == 0

    revoke(site.config, site.store, serial=issued.serial, reason="lab test: certificate", requester="lab-test")
    with pytest.raises(HostKeyError, match="revoked"):
        connect(site, host, site.empty_known_hosts)
    done = openssh(site, host, both)
    assert done.returncode == 255 and "revoked" in done.stderr.lower(), done.stderr
    pushed = certify.push_krl(site.config, site.store, [host])
    assert pushed[0].ok, pushed[0].message

    # The key itself: its certificate AND its plain pin are refused from now on (this site only).
    with SSHPool(site.config.ssh_key_file, site.config.ssh_known_hosts) as pool:
        certify.uncertify_hosts(site.config, [host], pool=pool)
        line = pool.run(Target.from_host(host), ["cat", certify.HOST_KEY_PATH]).stdout.split()
    revoke(site.config, site.store, fingerprint=fingerprint(base64.b64decode(line[1])), reason="lab test: key",
           requester="lab-test")  # fmt: skip
    with pytest.raises(HostKeyError, match="is revoked"):
        connect(site, host, site.config.ssh_known_hosts)
    done = openssh(site, host, str(site.config.ssh_known_hosts))
    assert done.returncode == 255 and "revoked" in done.stderr.lower(), done.stderr
