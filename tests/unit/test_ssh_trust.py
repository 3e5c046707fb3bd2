"""Host trust by the control plane's CA, against a real sshd on loopback presenting a host certificate.

Every case is one sshd with one host key (and a certificate when the case
needs one), and an SSHPool whose trust is the site's CA and revocations.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from controlplane.errors import HostKeyError
from controlplane.ssh import SSHPool, Target
from controlplane.ssh.trust import HostTrust, StoreRevocations, ca_file, cert_authority_text, fingerprint

SSHD = "/usr/sbin/sshd"
TARGET_NAME = "loopback"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", str(path)], check=True)
    return Path(f"{path}.pub").read_text().strip()


@pytest.fixture
def keys(tmp_path: Path) -> dict[str, object]:
    if os.geteuid() != 0 or not Path(SSHD).exists():
        pytest.skip("needs root and openssh-server (the set-up installs it)")
    folder = tmp_path / "keys"
    folder.mkdir()
    host_pub = _keygen(folder / "host_key")
    client_pub = _keygen(folder / "client_key")
    (folder / "authorized_keys").write_text(client_pub + "\n")
    return {"folder": folder, "host_pub": host_pub}


@pytest.fixture
def serve(keys: dict, tmp_path: Path) -> Iterator[Callable[[str | None], int]]:
    """Start an sshd on loopback with the host key and, when given, that certificate line; return its port."""
    processes: list[subprocess.Popen[bytes]] = []
    folder: Path = keys["folder"]

    def start(certificate_line: str | None) -> int:
        port = _free_port()
        lines = [f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {folder / 'host_key'}",
                 f"AuthorizedKeysFile {folder / 'authorized_keys'}", "PermitRootLogin prohibit-password",
                 "PasswordAuthentication no", "StrictModes no", "UsePAM no",
                 f"PidFile {folder}/sshd.{port}.pid"]  # fmt: skip
        if certificate_line:
            cert = folder / f"host_key-cert.{port}.pub"
            cert.write_text(certificate_line + "\n")
            lines.append(f"HostCertificate {cert}")
        config = folder / f"sshd_config.{port}"
        config.write_text("\n".join(lines) + "\n")
        Path("/run/sshd").mkdir(exist_ok=True)
        processes.append(subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=subprocess.DEVNULL))
        for _ in range(100):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    return port
            time.sleep(0.05)
        raise AssertionError("sshd did not start")

    yield start
    for process in processes:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def authority(config, store):  # type: ignore[no-untyped-def]
    from controlplane.pki.authority import init_authority

    return init_authority(config, store, requester="test")


def _sign(authority, keys: dict, principals: list[str], validity: dt.timedelta = dt.timedelta(hours=1)):  # type: ignore[no-untyped-def]
    from controlplane.pki.issue import sign_host_key

    line = " ".join(str(keys["host_pub"]).split()[:2])
    return sign_host_key(authority, line, host=TARGET_NAME, principals=principals, validity=validity, requester="t")


def _run(config, keys: dict, port: int, *, pinned: bool = False, now: dt.datetime | None = None) -> None:  # type: ignore[no-untyped-def]
    """Connect and run ``true`` with the site's CA trust; a known_hosts that pins the host key only when asked."""
    folder: Path = keys["folder"]
    known = folder / f"known_hosts.{port}"
    key_type, key_data = str(keys["host_pub"]).split()[:2]
    known.write_text(f"[127.0.0.1]:{port} {key_type} {key_data}\n" if pinned else "")
    trust = HostTrust(
        known, ca_path=ca_file(config), revoked=StoreRevocations(config), now=(lambda: now) if now else None
    )
    with SSHPool(folder / "client_key", known, trust=trust) as pool:
        result = pool.run(Target(TARGET_NAME, "127.0.0.1", port), ["true"])
    assert result.ok, result.stderr


def test_a_host_presenting_a_certificate_of_our_ca_is_accepted_with_no_pin_at_all(
    config, authority, keys, serve
) -> None:
    issued = _sign(authority, keys, [TARGET_NAME, "127.0.0.1"])
    _run(config, keys, serve(issued.certificate_line))


def test_a_certificate_signed_by_another_ca_is_refused_even_when_the_plain_key_is_pinned(
    config, authority, keys, serve, tmp_path: Path
) -> None:
    rogue = tmp_path / "rogue_ca"
    _keygen(rogue)
    folder: Path = keys["folder"]
    subprocess.run(["ssh-keygen", "-q", "-s", str(rogue), "-h", "-I", "forged", "-n", f"{TARGET_NAME},127.0.0.1",
                    "-V", "-5m:+1h", str(folder / "host_key.pub")], check=True)  # fmt: skip
    forged = (folder / "host_key-cert.pub").read_text().strip()
    port = serve(forged)
    with pytest.raises(HostKeyError, match="not signed by the control plane's CA"):
        _run(config, keys, port, pinned=True)


def test_an_expired_certificate_is_refused(config, authority, keys, serve) -> None:
    issued = _sign(authority, keys, [TARGET_NAME], validity=dt.timedelta(minutes=10))
    port = serve(issued.certificate_line)
    with pytest.raises(HostKeyError, match="expired at"):
        _run(config, keys, port, pinned=True, now=issued.not_after + dt.timedelta(seconds=1))


def test_a_certificate_for_another_host_is_refused(config, authority, keys, serve) -> None:
    issued = _sign(authority, keys, ["some-other-host", "10.0.0.9"])
    with pytest.raises(HostKeyError, match=r"is for 10\.0\.0\.9, some-other-host, not for loopback"):
        _run(config, keys, serve(issued.certificate_line))


def test_a_revoked_certificate_is_refused(config, store, authority, keys, serve) -> None:
    from controlplane.pki.revocation import revoke

    issued = _sign(authority, keys, [TARGET_NAME])
    port = serve(issued.certificate_line)
    _run(config, keys, port)
    revoke(config, store, serial=issued.serial, reason="key compromise test", requester="t")
    with pytest.raises(HostKeyError, match="revoked"):
        _run(config, keys, port)


def test_a_pinned_plain_key_that_was_revoked_is_refused(config, store, authority, keys, serve) -> None:
    from controlplane.pki.revocation import revoke

    port = serve(None)
    _run(config, keys, port, pinned=True)
    blob = __import__("base64").b64decode(str(keys["host_pub"]).split()[1])
    revoke(config, store, fingerprint=fingerprint(blob), reason="decommissioned", requester="t")
    with pytest.raises(HostKeyError, match="is revoked"):
        _run(config, keys, port, pinned=True)


def test_an_uncertified_unpinned_host_is_refused_as_before_even_with_a_ca(config, authority, keys, serve) -> None:
    with pytest.raises(HostKeyError, match="not pinned"):
        _run(config, keys, serve(None))


def test_the_cert_authority_lines_are_scoped_to_the_inventorys_names_and_addresses() -> None:
    from controlplane.inventory import Host

    hosts = [
        Host("a", "10.0.0.1", "s", "r"),
        Host("b", "10.0.0.2", "s", "r", port=2222),
        Host("*", "10.0.0.3", "s", "r"),
    ]
    text = cert_authority_text(hosts, ["ssh-ed25519 AAAA ca-1", "ssh-ed25519 BBBB ca-0"])
    assert text == (
        "@cert-authority a,10.0.0.1,[b]:2222,[10.0.0.2]:2222,10.0.0.3 ssh-ed25519 AAAA ca-1\n"
        "@cert-authority a,10.0.0.1,[b]:2222,[10.0.0.2]:2222,10.0.0.3 ssh-ed25519 BBBB ca-0\n"
    )
    assert cert_authority_text(hosts, []) == ""


def test_certifications_own_pool_reaches_a_pinned_host_whose_certificate_expired_so_it_can_be_replaced(
    config, authority, keys, serve
) -> None:
    issued = _sign(authority, keys, [TARGET_NAME], validity=dt.timedelta(minutes=10))
    port = serve(issued.certificate_line)
    later = issued.not_after + dt.timedelta(minutes=1)
    folder: Path = keys["folder"]
    known = folder / f"known_hosts.{port}"
    key_type, key_data = str(keys["host_pub"]).split()[:2]
    known.write_text(f"[127.0.0.1]:{port} {key_type} {key_data}\n")
    pins_first = HostTrust(known, ca_path=ca_file(config), now=lambda: later, prefer_pins=True)
    with SSHPool(folder / "client_key", known, trust=pins_first) as pool:
        assert pool.run(Target(TARGET_NAME, "127.0.0.1", port), ["true"]).ok
    known.write_text("")  # no pin: even this pool asks for the certificate, which must then hold
    with SSHPool(folder / "client_key", known, trust=pins_first) as pool, pytest.raises(HostKeyError, match="expired"):
        pool.run(Target(TARGET_NAME, "127.0.0.1", port), ["true"])
