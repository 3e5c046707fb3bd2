"""``egov ssh cert``: the code from stdin, the certificate beside the key, exit codes 0/1/2 with clear messages."""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from controlplane.cli.ssh_certs import certificate_path


@dataclass
class Ran:
    code: int
    out: str
    err: str


@pytest.fixture
def site(config_path: Path, config: Any, store: Any) -> Iterator[dict[str, Any]]:
    """A site with a CA, a provincial operator with TOTP and one without, and an ed25519 key pair on disk."""
    from controlplane.pki.authority import init_authority
    from controlplane.users import hash_password
    from controlplane.vault import open_vault
    from tests.unit.web.conftest import add_person

    vault = open_vault(config, store)
    init_authority(config, store, requester="test")
    hashed = hash_password("a long enough password")
    people = {
        "op-gd": add_person(store, vault, hashed, "op-gd", "operator", ["province-gd"], totp=True),
        "no-totp": add_person(store, vault, hashed, "no-totp", "operator", ["province-gd"]),
    }
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    public = config_path.parent / "keys" / "id_ed25519.pub"
    public.parent.mkdir()
    public.write_text(
        key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode() + " me\n"
    )
    yield {"config_path": config_path, "store": store, "people": people, "key": public}


def run(site: dict[str, Any], *args: str, stdin: str = "", monkeypatch: pytest.MonkeyPatch, capsys: Any) -> Ran:
    """Run ``egov --config … ssh ARGS`` in this process through the real entry point (exit codes included)."""
    from controlplane.cli import main

    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    try:
        main(["--config", str(site["config_path"]), "ssh", *args])
        code = 0
    except SystemExit as leaving:
        code = int(leaving.code or 0)
    captured = capsys.readouterr()
    return Ran(code, captured.out, captured.err)


def test_openssh_names_the_certificate_beside_the_key() -> None:
    assert certificate_path(Path("/h/.ssh/id_ed25519.pub")) == Path("/h/.ssh/id_ed25519-cert.pub")
    assert certificate_path(Path("key")) == Path("key-cert.pub")


def test_a_certificate_is_written_beside_the_key_and_the_hosts_it_opens_are_counted_per_site(
    site: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    code = site["people"]["op-gd"].code()
    ran = run(site, "cert", "op-gd", "--public-key", str(site["key"]), stdin=code + "\n",
              monkeypatch=monkeypatch, capsys=capsys)  # fmt: skip
    assert ran.code == 0, ran.err
    written = site["key"].with_name("id_ed25519-cert.pub")
    line = written.read_text().strip()
    assert line.startswith("ssh-ed25519-cert-v01@openssh.com ") and ran.out.startswith(line)
    assert written.stat().st_mode & 0o777 == 0o644
    assert f"written to {written}" in ran.out
    assert "principals site:province-gd" in ran.out
    assert "opens 3 host(s) as root: province-gd 2, school-gd-1 1" in ran.out
    assert code not in ran.out + ran.err


def test_out_and_validity_are_honoured(site: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    target = site["key"].parent / "elsewhere.pub"
    ran = run(site, "cert", "op-gd", "--public-key", str(site["key"]), "--validity", "90m", "--out", str(target),
              stdin=site["people"]["op-gd"].code(), monkeypatch=monkeypatch, capsys=capsys)  # fmt: skip
    assert ran.code == 0, ran.err
    parsed = serialization.load_ssh_public_identity(target.read_bytes())
    assert isinstance(parsed, serialization.SSHCertificate)
    assert 89 * 60 < parsed.valid_before - time.time() <= 90 * 60  # the start is backdated for slow clocks
    assert not site["key"].with_name("id_ed25519-cert.pub").exists()


@pytest.mark.parametrize(
    ("args", "stdin", "says"),
    [
        (("cert", "op-gd", "--validity", "25h"), "CODE", "at most 24h"),
        (("cert", "op-gd"), "000000", "wrong or was already used"),
        (("cert", "nobody"), "CODE", "no user named 'nobody'"),
        (("cert", "no-totp"), "123456", "enrol TOTP first"),
        (("cert", "evil\x1b]0;owned\x07name"), "CODE", "not a user name"),
        (("cert", "op-gd", "--code", "123456"), "", "No such option"),
    ],
)
def test_bad_requests_are_exit_2_with_a_clear_message_and_no_traceback(
    site: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: Any, args: tuple[str, ...], stdin: str, says: str
) -> None:
    code = site["people"]["op-gd"].code()
    stdin = stdin.replace("CODE", code)
    if stdin == "000000" and code == "000000":
        stdin = "111111"
    ran = run(site, *args, "--public-key", str(site["key"]), stdin=stdin, monkeypatch=monkeypatch, capsys=capsys)
    assert ran.code == 2, (ran.out, ran.err)
    assert says in ran.err
    assert "Traceback" not in ran.err and "\x1b" not in ran.err and "\x07" not in ran.err
    assert not site["key"].with_name("id_ed25519-cert.pub").exists()


def test_a_weak_or_missing_key_file_is_exit_2(
    site: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    weak = site["key"].with_name("id_rsa.pub")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    weak.write_bytes(key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH))
    code = site["people"]["op-gd"].code()
    ran = run(site, "cert", "op-gd", "--public-key", str(weak), stdin=code, monkeypatch=monkeypatch, capsys=capsys)
    assert ran.code == 2 and "at least 3072 bits" in ran.err
    binary = site["key"].with_name("junk.pub")
    binary.write_bytes(b"\xff\xfe\x00junk")
    ran = run(site, "cert", "op-gd", "--public-key", str(binary), stdin=code, monkeypatch=monkeypatch, capsys=capsys)
    assert ran.code == 2 and "not an OpenSSH public key" in ran.err
    missing = str(site["key"].with_name("absent.pub"))
    ran = run(site, "cert", "op-gd", "--public-key", missing, stdin=code, monkeypatch=monkeypatch, capsys=capsys)
    assert ran.code == 2 and "cannot read the public key" in ran.err
    # None of these spent the code.
    ran = run(site, "cert", "op-gd", "--public-key", str(site["key"]), stdin=code, monkeypatch=monkeypatch,
              capsys=capsys)  # fmt: skip
    assert ran.code == 0, ran.err
