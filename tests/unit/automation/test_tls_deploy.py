"""Web hosts' TLS certificates from the CA, written over SSH (a fake pool runs the real commands in a temp folder)."""

from __future__ import annotations

import datetime as dt
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509

from controlplane import tls_check
from controlplane.automation import tls_deploy
from controlplane.automation.tls_deploy import deploy_service_certificates, host_names
from controlplane.config import Config
from controlplane.inventory import Host
from controlplane.ssh import RemoteResult, Target
from controlplane.store import Store

PORTAL = Host("mn-portal-1", "10.198.0.11", "ministry", "portal", variables={"portal_vip": "10.198.0.100"})
OFFICE = Host("gd-edu-1", "10.198.0.41", "province-gd", "office")
DATABASE = Host("mn-db-1", "10.198.0.14", "ministry", "database")


@dataclass
class LocalPool:
    """Runs each command here, with the hosts' /etc/egov/tls mapped to a temp folder per host."""

    root: Path
    fail_writes: bool = False
    calls: list[tuple[list[str], str | None]] = field(default_factory=list)

    def folder(self, host: str) -> Path:
        return self.root / host

    def run(self, target: Target, argv: list[str], *, timeout: float | None = None, input_text: str | None = None,
            secrets: object = ()) -> RemoteResult:  # fmt: skip
        self.calls.append((list(argv), input_text))
        if self.fail_writes and input_text is not None:
            return RemoteResult(target.name, list(argv), 1, "", "sh: cannot create: Read-only file system\n", 0.0)
        local = [word.replace(tls_deploy.REMOTE_DIR, str(self.folder(target.name))) for word in argv]
        done = subprocess.run(local, input=input_text, capture_output=True, text=True, check=False, timeout=30)
        return RemoteResult(target.name, list(argv), done.returncode, done.stdout, done.stderr, 0.0)


@pytest.fixture
def ca(config: Config, store: Store) -> Config:
    from controlplane.pki.authority import init_authority

    init_authority(config, store, "test")
    return config


def test_a_web_host_gets_its_key_0600_and_a_chain_of_the_ca_naming_its_address_and_the_vip(
    ca: Config, store: Store, tmp_path: Path
) -> None:
    pool = LocalPool(tmp_path / "hosts")
    [result] = deploy_service_certificates(ca, store, pool, [PORTAL], requester="test")  # type: ignore[arg-type]
    assert result.ok and result.action == "issued", result.message
    folder = pool.folder("mn-portal-1")
    key, chain = folder / "server.key", folder / "server.crt"
    assert key.stat().st_mode & 0o777 == 0o600 and chain.stat().st_mode & 0o777 == 0o644
    assert b"PRIVATE KEY" in key.read_bytes()
    leaf = x509.load_pem_x509_certificate(chain.read_bytes())
    intermediate = x509.load_pem_x509_certificate((ca.state_dir / "pki" / "intermediate.pem").read_bytes())
    leaf.verify_directly_issued_by(intermediate)
    dns, ips = tls_check.names_in(chain.read_bytes())
    assert dns == {"mn-portal-1"} and ips == {"10.198.0.11", "10.198.0.100"}
    assert chain.read_bytes().count(b"BEGIN CERTIFICATE") >= 2  # leaf and the chain up to the root


def test_the_key_travels_on_stdin_never_in_a_command_line(ca: Config, store: Store, tmp_path: Path) -> None:
    pool = LocalPool(tmp_path / "hosts")
    deploy_service_certificates(ca, store, pool, [OFFICE], requester="test")  # type: ignore[arg-type]
    assert any("PRIVATE KEY" in (stdin or "") for _argv, stdin in pool.calls)
    assert not any("PRIVATE KEY" in word for argv, _stdin in pool.calls for word in argv)


def test_a_good_certificate_is_kept_and_one_past_renew_at_is_issued_again(
    ca: Config, store: Store, tmp_path: Path
) -> None:
    pool = LocalPool(tmp_path / "hosts")
    [first] = deploy_service_certificates(ca, store, pool, [OFFICE], requester="test")  # type: ignore[arg-type]
    [kept] = deploy_service_certificates(ca, store, pool, [OFFICE], requester="test")  # type: ignore[arg-type]
    assert (first.action, kept.action) == ("issued", "kept")
    assert first.not_after is not None
    late = first.not_after - ca.pki.tls_validity * 0.2
    [renewed] = deploy_service_certificates(ca, store, pool, [OFFICE], requester="test", now=late)  # type: ignore[arg-type]
    assert renewed.action == "issued" and renewed.serial != first.serial


def test_hosts_without_a_web_service_get_nothing(ca: Config, store: Store, tmp_path: Path) -> None:
    pool = LocalPool(tmp_path / "hosts")
    assert deploy_service_certificates(ca, store, pool, [DATABASE], requester="test") == []  # type: ignore[arg-type]
    assert pool.calls == []


def test_a_failed_write_is_reported_for_that_host_not_raised(ca: Config, store: Store, tmp_path: Path) -> None:
    pool = LocalPool(tmp_path / "hosts", fail_writes=True)
    results = deploy_service_certificates(ca, store, pool, [PORTAL, OFFICE], requester="test")  # type: ignore[arg-type]
    assert [(r.host, r.ok) for r in results] == [("mn-portal-1", False), ("gd-edu-1", False)]
    assert "Read-only file system" in results[0].message


def test_without_a_ca_deploying_says_so(config: Config, store: Store, tmp_path: Path) -> None:
    from controlplane.pki.authority import CANotInitialisedError

    with pytest.raises(CANotInitialisedError):
        deploy_service_certificates(config, store, LocalPool(tmp_path), [PORTAL], requester="test")  # type: ignore[arg-type]


def test_only_portal_hosts_name_the_vip() -> None:
    office = Host("mn-oa-1", "10.198.0.13", "ministry", "office", variables={"portal_vip": "10.198.0.100"})
    assert host_names(office) == (["mn-oa-1"], ["10.198.0.13"])
    assert host_names(PORTAL)[1] == ["10.198.0.11", "10.198.0.100"]


def test_a_certificate_of_a_replaced_ca_is_not_kept(ca: Config, store: Store, tmp_path: Path) -> None:
    from controlplane.pki.authority import open_authority
    from controlplane.pki.issue import issue_tls

    issued = issue_tls(open_authority(ca, store), common_name="x", dns_names=["gd-edu-1"], ip_addresses=["10.198.0.41"],
                       validity=dt.timedelta(days=90), requester="test")  # fmt: skip
    other_issuer = issued.certificate_pem  # a leaf is no issuer of itself
    now = dt.datetime.now(dt.UTC)
    assert tls_check.still_good(issued.certificate_pem, issued.chain_pem, ["gd-edu-1"], ["10.198.0.41"], 0.667, now)
    assert not tls_check.still_good(issued.certificate_pem, other_issuer, ["gd-edu-1"], ["10.198.0.41"], 0.667, now)


def test_a_private_parent_folder_is_opened_so_the_service_account_can_reach_its_files(
    ca: Config, store: Store, tmp_path: Path
) -> None:
    pool = LocalPool(tmp_path / "hosts")
    pool.root.mkdir(mode=0o700)  # as /etc/egov made 0700 along with the backup key folder inside it
    deploy_service_certificates(ca, store, pool, [OFFICE], requester="test")  # type: ignore[arg-type]
    assert pool.root.stat().st_mode & 0o777 == 0o755
    assert pool.folder("gd-edu-1").stat().st_mode & 0o777 == 0o755
