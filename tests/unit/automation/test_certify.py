"""Certifying hosts: the files a host gets, the argv and stdin that carry them, and per-host failures."""

from __future__ import annotations

import base64
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from controlplane.automation import certify
from controlplane.inventory import load_inventory
from controlplane.ssh import RemoteResult
from tests.conftest import REPO

INVENTORY = REPO / "inventory" / "lab.yml"


def _public_line() -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


class FakePool:
    """Answers ``cat`` with a host key (or ``reply`` per host) and records every install command."""

    def __init__(self, replies: dict[str, str] | None = None) -> None:
        self.replies = replies or {}
        self.calls: list[tuple[str, list[str], str | None]] = []
        self.lock = threading.Lock()

    def run(self, target: Any, argv: list[str], *, input_text: str | None = None, **_: Any) -> RemoteResult:
        with self.lock:
            self.calls.append((target.name, list(argv), input_text))
        if argv[0] == "cat":
            text = self.replies.get(target.name, _public_line() + " root@" + target.name + "\n")
            return RemoteResult(target.name, list(argv), 0, text, "", 0.01)
        return RemoteResult(target.name, list(argv), 0, "", "", 0.01)

    def installs(self) -> dict[str, dict[str, bytes]]:
        """Per host: the files the install command's stdin carried."""
        found: dict[str, dict[str, bytes]] = {}
        for host, argv, stdin in self.calls:
            if argv[0] == "sh" and stdin:
                files = {}
                for line in stdin.splitlines():
                    path, _mode, *data = line.split(" ")
                    files[path] = base64.b64decode(data[0] if data else "")
                found[host] = files
        return found


@pytest.fixture
def authority(config, store):  # type: ignore[no-untyped-def]
    from controlplane.pki.authority import init_authority

    return init_authority(config, store, requester="test")


def test_a_schools_principals_file_names_its_site_and_every_ancestor_up_to_the_ministry() -> None:
    inventory = load_inventory(INVENTORY)
    assert certify.site_principals(inventory, "school-gd-1") == [
        "site:school-gd-1",
        "site:province-gd",
        "site:ministry",
    ]
    assert certify.site_principals(inventory, "ministry") == ["site:ministry"]


def test_every_certified_host_gets_its_certificate_the_user_ca_its_principals_the_krl_and_the_drop_in(
    config, store, authority
) -> None:
    from controlplane.pki.verify import parse_certificate

    inventory = load_inventory(INVENTORY)
    hosts = [inventory.host("gd-school-1"), inventory.host("mn-portal-1")]
    pool = FakePool()
    outcomes = certify.certify_hosts(config, store, hosts, requester="tester", pool=pool, inventory=inventory)  # type: ignore[arg-type]
    assert [o.ok for o in outcomes] == [True, True], outcomes
    files = pool.installs()["gd-school-1"]
    assert list(files) == [certify.CERT_PATH, certify.USER_CA_PATH, certify.PRINCIPALS_PATH, certify.KRL_PATH,
                           certify.CONF_PATH]  # fmt: skip
    cert = parse_certificate(files[certify.CERT_PATH].strip())
    assert sorted(p.decode() for p in cert.valid_principals) == sorted(["gd-school-1", "10.198.0.51"])
    assert cert.serial == outcomes[0].serial
    assert files[certify.USER_CA_PATH].decode().splitlines() == authority.ssh_ca_public_lines()
    assert files[certify.PRINCIPALS_PATH] == b"site:school-gd-1\nsite:province-gd\nsite:ministry\n"
    assert files[certify.KRL_PATH] == (Path(config.state_dir) / "pki" / "revoked.krl").read_bytes()
    assert files[certify.CONF_PATH].decode().splitlines()[1:] == [
        "HostCertificate /etc/ssh/ssh_host_ed25519_key-cert.pub",
        "TrustedUserCAKeys /etc/ssh/egov_user_ca.pub",
        "AuthorizedPrincipalsFile /etc/ssh/egov_principals/%u",
        "RevokedKeys /etc/ssh/egov_revoked.krl",
    ]
    known = (Path(config.state_dir) / "pki" / "known_hosts").read_text().splitlines()
    assert len(known) == len(authority.ssh_ca_public_lines())
    marker, patterns, *ca = known[0].split(" ")
    assert marker == "@cert-authority" and " ".join(ca) == authority.ssh_ca_public_lines()[0]
    assert {"gd-school-1", "10.198.0.51", "mn-portal-1"} <= set(patterns.split(","))


def test_a_hostile_host_name_never_reaches_the_remote_command_line(config, store, authority) -> None:
    inventory = load_inventory(INVENTORY)
    hostile = replace(inventory.host("gd-school-1"), name="x$(touch /tmp/p);y")
    pool = FakePool()
    certify.certify_hosts(config, store, [hostile], requester="tester", pool=pool, inventory=inventory)  # type: ignore[arg-type]
    for _host, argv, _stdin in pool.calls:
        assert argv in (["cat", certify.HOST_KEY_PATH], certify.remote_argv("install"))
        assert not any("touch" in word for word in argv[:3] + argv[4:])


def test_a_host_without_an_ed25519_key_fails_alone_and_is_not_signed_for(config, store, authority) -> None:
    from controlplane.pki.records import latest_for

    inventory = load_inventory(INVENTORY)
    hosts = [inventory.host("gd-school-1"), inventory.host("mn-portal-1")]
    pool = FakePool({"gd-school-1": "ssh-rsa AAAAB3Nza root@x\n"})
    first, second = certify.certify_hosts(config, store, hosts, requester="t", pool=pool, inventory=inventory)  # type: ignore[arg-type]
    assert not first.ok and "ed25519" in first.message and first.host == "gd-school-1"
    assert second.ok
    assert latest_for(store, "ssh-host", "gd-school-1") is None
    assert latest_for(store, "ssh-host", "mn-portal-1") is not None
    assert "gd-school-1" not in pool.installs()


def test_certifying_without_a_ca_is_refused_before_any_host_is_touched(config, store) -> None:
    from controlplane.pki.authority import CANotInitialisedError

    inventory = load_inventory(INVENTORY)
    pool = FakePool()
    with pytest.raises(CANotInitialisedError):
        certify.certify_hosts(config, store, inventory.hosts, requester="t", pool=pool, inventory=inventory)  # type: ignore[arg-type]
    assert pool.calls == []


def test_pushing_the_krl_sends_only_the_krl_and_does_not_reload_sshd(config, store, authority) -> None:
    inventory = load_inventory(INVENTORY)
    pool = FakePool()
    outcomes = certify.push_krl(config, store, inventory.hosts[:3], pool=pool)  # type: ignore[arg-type]
    assert all(o.ok for o in outcomes) and len(outcomes) == 3
    krl = (Path(config.state_dir) / "pki" / "revoked.krl").read_bytes()
    assert all(files == {certify.KRL_PATH: krl} for files in pool.installs().values())
    assert {tuple(argv) for _h, argv, _s in pool.calls} == {tuple(certify.remote_argv("files"))}


def test_the_remote_script_checks_sshd_before_reloading_it_and_restores_on_refusal() -> None:
    script = certify.REMOTE_SCRIPT
    assert script.index("/usr/sbin/sshd -t") < script.index("pkill -HUP --pidfile /run/egov-lab/sshd.pid")
    assert '.egov-old" "$p"' in script  # the previous files come back when sshd -t refuses
    with pytest.raises(ValueError):
        certify.remote_argv("rm -rf /")


class PoolContext(FakePool):
    """A FakePool usable as ``with certify_pool(config) as pool``."""

    def __enter__(self) -> PoolContext:
        return self

    def __exit__(self, *_exc: object) -> None:
        return None


def _provision_run(store: Any) -> int:
    from controlplane.runs import create_run

    with store.session() as session:
        run = create_run(session, kind="provision", target="all", actor="tester")
        session.flush()
        return run.id


def test_a_succeeded_provision_certifies_the_hosts_it_reached_and_says_so_in_the_run(
    config, store, authority, monkeypatch
) -> None:
    from controlplane.automation.events import HostTally
    from controlplane.automation.playbook import PlaybookOutcome
    from controlplane.runs import read_output

    pool = PoolContext()
    monkeypatch.setattr(certify, "certify_pool", lambda _config: pool)
    run_id = _provision_run(store)
    tallies = {"gd-school-1": HostTally("gd-school-1", ok=3, changed=1), "mn-db-1": HostTally("mn-db-1", failed=1)}
    outcome = PlaybookOutcome(run_id=run_id, status="succeeded", hosts=tallies)
    certify.certify_provisioned(config, store, run_id, outcome, "tester")
    assert set(pool.installs()) == {"gd-school-1"}  # the failed host waits for the next run
    assert "host certificates: 1 of 1 installed" in outcome.message
    with store.session() as session:
        lines = [row.text for row in read_output(session, run_id)]
    assert any(line.startswith("host certificate: gd-school-1: certificate ") for line in lines)


def test_a_failed_provision_certifies_nothing(config, store, authority, monkeypatch) -> None:
    from controlplane.automation.events import HostTally
    from controlplane.automation.playbook import PlaybookOutcome

    pool = PoolContext()
    monkeypatch.setattr(certify, "certify_pool", lambda _config: pool)
    outcome = PlaybookOutcome(run_id=1, status="failed", hosts={"gd-school-1": HostTally("gd-school-1", ok=1)})
    certify.certify_provisioned(config, store, 1, outcome, "tester")
    assert pool.calls == [] and outcome.message == ""
