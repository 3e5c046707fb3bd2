"""SSH: remote argv quoted per word; pinned host keys against a real sshd on loopback."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from controlplane.errors import BadInputError, HostKeyError, UnreachableError
from controlplane.ssh import SSHPool, Target, remote_command

SSHD = "/usr/sbin/sshd"


def test_remote_command_quotes_every_word() -> None:
    assert remote_command(["ls", "-l", "/tmp/a b"]) == "ls -l '/tmp/a b'"
    assert remote_command(["echo", "; rm -rf /"]) == "echo '; rm -rf /'"
    assert remote_command(["echo", "$(reboot)", "`id`"]) == "echo '$(reboot)' '`id`'"
    assert remote_command(["cat", "../../etc/shadow"]) == "cat ../../etc/shadow"
    assert remote_command(["printf", "a\nb"]) == "printf 'a\nb'"
    assert remote_command(["echo", "it's"]) == "echo 'it'\"'\"'s'"


def test_remote_command_refuses_a_string_or_nul() -> None:
    with pytest.raises(BadInputError):
        remote_command("rm -rf /")  # type: ignore[arg-type]
    with pytest.raises(BadInputError):
        remote_command(["echo", "a\x00b"])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path.with_suffix(".pub").read_text().strip() if path.suffix else Path(f"{path}.pub").read_text().strip()


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A real sshd on 127.0.0.1 with its own host key and one authorized client key."""
    if os.geteuid() != 0 or not Path(SSHD).exists():
        pytest.skip("needs root and openssh-server (the set-up installs it)")
    folder = tmp_path_factory.mktemp("sshd")
    host_key, client_key, other_host_key = folder / "host_key", folder / "client_key", folder / "other_host_key"
    host_pub = _keygen(host_key)
    client_pub = _keygen(client_key)
    other_pub = _keygen(other_host_key)
    authorized = folder / "authorized_keys"
    authorized.write_text(client_pub + "\n")
    port = _free_port()
    config = folder / "sshd_config"
    config.write_text(
        "\n".join(
            [
                f"Port {port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {host_key}",
                f"AuthorizedKeysFile {authorized}",
                "PermitRootLogin prohibit-password",
                "PasswordAuthentication no",
                "StrictModes no",
                "UsePAM no",
                f"PidFile {folder}/sshd.pid",
            ]
        )
        + "\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)
    process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=subprocess.DEVNULL)
    for _ in range(100):
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    key_type, key_data = host_pub.split()[:2]
    other_type, other_data = other_pub.split()[:2]
    pinned = folder / "known_hosts"
    pinned.write_text(f"[127.0.0.1]:{port} {key_type} {key_data}\n")
    wrong = folder / "known_hosts.wrong"
    wrong.write_text(f"[127.0.0.1]:{port} {other_type} {other_data}\n")
    empty = folder / "known_hosts.empty"
    empty.write_text("")
    yield {"port": port, "client_key": client_key, "known": pinned, "wrong": wrong, "empty": empty}
    process.terminate()
    process.wait(timeout=10)


def _target(sshd: dict) -> Target:
    return Target(name="loopback", address="127.0.0.1", port=sshd["port"], user="root")


def test_a_pinned_host_runs_argv_with_hostile_words_as_data(sshd: dict, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    words = [f"; touch {marker}", f"$(touch {marker})", "`touch x`", "../..", "new\nline", "*", "it's"]
    with SSHPool(sshd["client_key"], sshd["known"]) as pool:
        result = pool.run(
            _target(sshd), [sys.executable, "-c", "import sys, json; print(json.dumps(sys.argv[1:]))", *words]
        )
        again = pool.run(_target(sshd), ["true"])
        assert len(pool._clients) == 1  # the connection was reused
    assert result.ok, result.stderr
    assert json.loads(result.stdout) == words
    assert again.ok
    assert not marker.exists()


def test_a_changed_host_key_is_refused(sshd: dict) -> None:
    with SSHPool(sshd["client_key"], sshd["wrong"]) as pool, pytest.raises(HostKeyError, match="CHANGED"):
        pool.run(_target(sshd), ["true"])


def test_an_unknown_host_key_is_refused(sshd: dict) -> None:
    with SSHPool(sshd["client_key"], sshd["empty"]) as pool, pytest.raises(HostKeyError, match="not pinned"):
        pool.run(_target(sshd), ["true"])


def test_a_missing_known_hosts_file_is_refused(sshd: dict, tmp_path: Path) -> None:
    with SSHPool(sshd["client_key"], tmp_path / "none") as pool, pytest.raises(HostKeyError):
        pool.run(_target(sshd), ["true"])


def test_a_command_timeout_returns_minus_one(sshd: dict) -> None:
    with SSHPool(sshd["client_key"], sshd["known"]) as pool:
        result = pool.run(_target(sshd), ["sleep", "10"], timeout=0.5)
    assert result.exit_code == -1


def test_secrets_are_masked_in_remote_output(sshd: dict) -> None:
    with SSHPool(sshd["client_key"], sshd["known"]) as pool:
        result = pool.run(_target(sshd), ["cat"], input_text="token=hunter2\n", secrets=["hunter2"])
    assert result.stdout == "token=***\n"


def test_a_closed_port_is_unreachable(sshd: dict) -> None:
    with SSHPool(sshd["client_key"], sshd["known"], connect_timeout=1) as pool, pytest.raises(UnreachableError):
        pool.run(Target(name="closed", address="127.0.0.1", port=_free_port()), ["true"])


def test_stdin_reaches_the_remote_command(sshd: dict) -> None:
    with SSHPool(sshd["client_key"], sshd["known"]) as pool:
        result = pool.run(_target(sshd), ["wc", "-c"], input_text="12345")
    assert result.stdout.strip() == "5"
    assert shutil.which("ssh") is not None
