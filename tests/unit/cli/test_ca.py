"""`egov ca` as an operator runs it: init, status, export, rotate, revoke, list, root offline and back; exit 0/1/2."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tests.conftest import egov, write_config

PASSPHRASE = "correct horse battery staple\n"


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A site made before the CA existed: its store and vault key, but no CA (``egov init`` now makes one)."""
    from controlplane.config import load_config
    from controlplane.store import open_store
    from controlplane.vault import Vault, create_key_file

    config = load_config(write_config(tmp_path))
    config.state_dir.mkdir(parents=True, exist_ok=True)
    create_key_file(config.key_file)
    store = open_store(config)
    Vault(store, config.key_file, config.cipher)
    store.close()
    return tmp_path


def test_egov_init_creates_the_ca_once(tmp_path: Path) -> None:
    write_config(tmp_path)
    first = egov(tmp_path, "init")
    assert first.returncode == 0 and "created the control plane's CA" in first.stdout, first.stderr
    assert json.loads(egov(tmp_path, "ca", "status", "--json").stdout)["initialised"]
    again = egov(tmp_path, "init")
    assert again.returncode == 0 and "CA" not in again.stdout


def test_status_before_init_is_exit_1_and_init_is_idempotent(site: Path) -> None:
    before = egov(site, "ca", "status")
    assert before.returncode == 1 and "egov ca init" in before.stderr
    first = egov(site, "ca", "init")
    assert first.returncode == 0, first.stderr
    assert egov(site, "ca", "init").stdout == first.stdout
    state = json.loads(egov(site, "ca", "status", "--json").stdout)
    assert state["initialised"] and state["root"]["online"] and len(state["ssh_ca"]["fingerprints"]) == 1
    assert egov(site, "ca", "export", "--format", "pem").stdout.startswith("-----BEGIN CERTIFICATE-----")
    lines = egov(site, "ca", "export", "--format", "ssh").stdout.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ssh-ed25519 ")
    out = site / "egov-root.pem"
    assert egov(site, "ca", "export", "--out", str(out)).returncode == 0
    assert out.read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert stat.S_IMODE(out.stat().st_mode) == 0o644


def test_commands_before_init_are_bad_input(site: Path) -> None:
    for args in (("export",), ("rotate",), ("revoke", "--serial", "5", "--reason", "x")):
        result = egov(site, "ca", *args)
        assert result.returncode == 2 and "egov ca init" in result.stderr, args


@pytest.fixture(scope="module")
def site_with_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One initialised CA for the input checks, which change nothing."""
    folder = tmp_path_factory.mktemp("ca-site")
    write_config(folder)
    assert egov(folder, "init").returncode == 0
    assert egov(folder, "ca", "init").returncode == 0
    return folder


@pytest.mark.parametrize(
    "args",
    [
        ("--serial", "abc"),
        ("--serial", "-1"),
        ("--serial", "1;rm -rf /"),
        ("--serial", "99999999999999999999999"),
        ("--fingerprint", "$(id)"),
        ("--fingerprint", "SHA256:\x1b[2J"),
        (),
        ("--serial", "12", "--fingerprint", "SHA256:" + "A" * 43),
    ],
)
def test_hostile_or_missing_revocation_input_is_exit_2_without_a_traceback(site_with_ca: Path, args) -> None:  # type: ignore[no-untyped-def]
    result = egov(site_with_ca, "ca", "revoke", *args, "--reason", "test")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "\x1b" not in result.stderr


def test_revoking_an_unknown_serial_is_exit_2_and_list_shows_the_ca(site: Path) -> None:
    assert egov(site, "ca", "init").returncode == 0
    result = egov(site, "ca", "revoke", "--serial", "12345", "--reason", "test")
    assert result.returncode == 2 and "no certificate with serial 12345" in result.stderr
    listed = json.loads(egov(site, "ca", "list", "--kind", "ca", "--json").stdout)
    assert {row["subject"] for row in listed} == {"root", "intermediate", "ssh-ca"}
    table = egov(site, "ca", "list")
    assert table.returncode == 0 and "intermediate" in table.stdout


def test_root_offline_refuses_intermediate_rotation_until_it_is_back(site: Path) -> None:
    assert egov(site, "ca", "init").returncode == 0
    key_file = site / "root-offline.key"
    assert "--out" in egov(site, "ca", "root-offline", "--help").stdout
    offline = egov(site, "ca", "root-offline", "--out", str(key_file), stdin=PASSPHRASE)
    assert offline.returncode == 0, offline.stderr
    assert PASSPHRASE.strip() not in offline.stdout + offline.stderr
    assert json.loads(egov(site, "ca", "status", "--json").stdout)["root"]["online"] is False
    refused = egov(site, "ca", "rotate")
    assert refused.returncode == 2 and "egov ca root-online --in FILE" in refused.stderr
    assert egov(site, "ca", "rotate", "--no-intermediate").returncode == 0
    wrong = egov(site, "ca", "root-online", "--in", str(key_file), stdin="not the passphrase\n")
    assert wrong.returncode == 2
    back = egov(site, "ca", "root-online", "--in", str(key_file), stdin=PASSPHRASE)
    assert back.returncode == 0, back.stderr
    rotated = egov(site, "ca", "rotate", "--no-ssh")
    assert rotated.returncode == 0, rotated.stderr
    state = json.loads(egov(site, "ca", "status", "--json").stdout)
    assert state["root"]["online"] and len(state["ssh_ca"]["fingerprints"]) == 2
    records = egov(site, "audit", "list", "--json")
    actions = {row["action"] for row in json.loads(records.stdout)} if records.returncode == 0 else set()
    assert {"pki.init", "pki.root_offline", "pki.root_online", "pki.rotate"} <= actions


def test_the_certificate_list_is_readable_at_80_columns(site_with_ca: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.unit.cli.test_tables_fit import WIDTH, assert_readable

    monkeypatch.setenv("COLUMNS", str(WIDTH))
    result = egov(site_with_ca, "ca", "list")
    assert result.returncode == 0, result.stderr
    assert_readable(result.stdout, ["SERIAL", "KIND", "SUBJECT", "NOT AFTER (UTC)", "STATE"], ["intermediate"],
                    result.stderr)  # fmt: skip


def test_revoke_by_serial_rewrites_the_krl_and_list_shows_it_revoked(site: Path) -> None:
    import datetime as dt
    import subprocess

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from controlplane.config import load_config
    from controlplane.pki.authority import open_authority
    from controlplane.pki.issue import sign_host_key
    from controlplane.store import open_store

    assert egov(site, "ca", "init").returncode == 0
    store = open_store(load_config(site / "egov.yml"))
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    line = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    issued = sign_host_key(open_authority(store.config, store), line, host="mn-web-1", principals=["mn-web-1"],
                           validity=dt.timedelta(weeks=4), requester="t")  # fmt: skip
    store.close()
    result = egov(site, "ca", "revoke", "--serial", str(issued.serial), "--reason", "host rebuilt", "--no-push")
    assert result.returncode == 0, result.stderr
    assert str(issued.serial) in result.stdout
    cert = site / "host-cert.pub"
    cert.write_text(issued.certificate_line + "\n")
    checked = subprocess.run(["ssh-keygen", "-Q", "-f", site / "var" / "pki" / "revoked.krl", cert],
                             capture_output=True, text=True, check=False)  # fmt: skip
    assert checked.returncode == 1 and "REVOKED" in checked.stdout
    listed = json.loads(egov(site, "ca", "list", "--kind", "ssh-host", "--json").stdout)
    assert [(row["serial"], row["revoked"], row["revoked_reason"]) for row in listed] == [
        (issued.serial, True, "host rebuilt")
    ]


def test_revoke_pushes_the_krl_to_every_inventory_host_and_exits_1_when_one_is_unreachable(tmp_path: Path) -> None:
    import socket

    with socket.socket() as probe:  # a loopback port nobody listens on: the push is refused at once
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(
        "all:\n  children:\n    ministry:\n      vars: {site: ministry, site_level: ministry}\n"
        f"      hosts:\n        local-1: {{ansible_host: 127.0.0.1, ansible_port: {port}}}\n"
        "    portal:\n      vars: {role: portal}\n      hosts: {local-1: {}}\n"
    )
    from tests.unit.automation.test_cli_bad_input import folders

    write_config(tmp_path, folders=folders(inventory=str(inventory)))
    assert egov(tmp_path, "init").returncode == 0
    assert egov(tmp_path, "ca", "init").returncode == 0
    key = "SHA256:" + "A" * 43
    result = egov(tmp_path, "ca", "revoke", "--fingerprint", key, "--reason", "lost laptop")
    assert result.returncode == 1, result.stderr
    assert "local-1 (127.0.0.1:" in result.stderr and "KRL pushed to 0 of 1 hosts" in result.stderr
    quiet = egov(tmp_path, "ca", "revoke", "--fingerprint", key, "--reason", "again", "--no-push")
    assert quiet.returncode == 0 and "KRL pushed" not in quiet.stderr


def test_rotating_the_ssh_ca_rewrites_the_cert_authority_file_with_both_lines(site: Path) -> None:
    assert egov(site, "ca", "init").returncode == 0
    assert egov(site, "ca", "rotate", "--no-intermediate").returncode == 0
    lines = (site / "var" / "pki" / "known_hosts").read_text().splitlines()
    trusted = egov(site, "ca", "export", "--format", "ssh").stdout.splitlines()
    assert len(trusted) == 2
    assert [line.split(" ", 2)[2] for line in lines] == trusted
    assert all(line.startswith("@cert-authority mn-portal-1,10.198.0.11,") for line in lines)
