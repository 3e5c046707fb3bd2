"""``egov hosts enrol`` as an operator types it: exit codes, the password only on stdin, progress per step.

The command runs in a child process (``python -m controlplane``) against
the loopback SSH server of :mod:`tests.unit.automation.fake_sshd`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import paramiko
import pytest

from controlplane.automation.first_contact import fingerprint
from tests.conftest import egov
from tests.unit.automation.fake_sshd import FakeServer
from tests.unit.automation.test_enrol import PASSWORD, site_config


@pytest.fixture
def server() -> Iterator[FakeServer]:
    running = FakeServer(PASSWORD)
    yield running
    running.close()


def enrol_args(server: FakeServer, *extra: str) -> list[str]:
    return ["hosts", "enrol", "gd-school-2", "--address", "127.0.0.1", "--site", "school-gd-1", "--role", "school",
            "--port", str(server.port), "--no-scan", *extra]  # fmt: skip


def test_enrol_with_the_fingerprint_and_the_password_on_stdin_shows_each_step(
    tmp_path: Path, server: FakeServer
) -> None:
    site_config(tmp_path)
    given = fingerprint(server.host_key.asbytes())
    # -v logs every command run: the password is in no log line either.
    result = egov(tmp_path, "-v", *enrol_args(server, "--fingerprint", given, "--yes"), stdin=PASSWORD + "\n")
    assert result.returncode == 0, result.stderr
    steps = ("[2/8] first contact", f"✓ first contact: ecdsa-sha2-nistp256 {given} (fingerprint given out of band)",
             "✓ management key: installed", "[4/8] ✓ pin host key", "✓ inventory: added to school_gd_1 and school",
             "– certify: skipped", "[7/8] ✓ audit", "[8/8] – first scan", "gd-school-2 is enrolled")  # fmt: skip
    for line in steps:
        assert line in result.stderr, line
    assert PASSWORD not in result.stdout + result.stderr
    assert "gd-school-2: {ansible_host: 127.0.0.1, ansible_port: " in (tmp_path / "inventory.yml").read_text()


def test_a_wrong_fingerprint_is_exit_2_and_changes_nothing(tmp_path: Path, server: FakeServer) -> None:
    site_config(tmp_path)
    before = (tmp_path / "inventory.yml").read_bytes()
    other = fingerprint(paramiko.ECDSAKey.generate().asbytes())
    result = egov(tmp_path, *enrol_args(server, "--fingerprint", other, "--yes"), stdin=PASSWORD + "\n")
    assert result.returncode == 2
    assert f"not {other} as given: refusing (nothing was changed)" in result.stderr
    assert "Traceback" not in result.stderr
    assert (tmp_path / "inventory.yml").read_bytes() == before
    assert server.authorized == set() and server.passwords_tried == []


def test_without_a_terminal_the_key_must_come_with_fingerprint_and_yes(tmp_path: Path, server: FakeServer) -> None:
    site_config(tmp_path)
    result = egov(tmp_path, *enrol_args(server), stdin=PASSWORD + "\n")
    assert result.returncode == 2
    assert "give --fingerprint SHA256:... (read on the server's console) and --yes" in result.stderr
    result = egov(tmp_path, *enrol_args(server, "--yes"), stdin=PASSWORD + "\n")
    assert result.returncode == 2 and "--yes needs --fingerprint" in result.stderr
    assert server.transports == []


def test_the_password_cannot_be_given_on_the_command_line(tmp_path: Path, server: FakeServer) -> None:
    site_config(tmp_path)
    result = egov(tmp_path, *enrol_args(server, "--password", PASSWORD))
    assert result.returncode == 2 and "No such option '--password'" in result.stderr


def test_bad_input_is_exit_2_with_every_problem_and_no_traceback(tmp_path: Path) -> None:
    site_config(tmp_path)
    result = egov(tmp_path, "hosts", "enrol", "x;reboot", "--address", "$(id)", "--site", "nowhere", "--role",
                  "school", "--fingerprint", "SHA256:nope", "--yes")  # fmt: skip
    assert result.returncode == 2
    assert "enrolment refused, 4 problem(s):" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_key_question_shows_the_fingerprint_and_yes_answers_only_for_a_verified_key(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import click

    from controlplane.automation.first_contact import HostKey
    from controlplane.cli.hosts import _confirm

    key = HostKey("ssh-ed25519", b"\x00" * 51)
    asked: list[str] = []
    monkeypatch.setattr(click, "confirm", lambda text, **_: asked.append(text) or False)
    assert _confirm("gd-school-2", interactive=True, yes=False)(key, False) is False
    assert key.fingerprint in capsys.readouterr().err and asked == ["Is this the key of that server?"]
    assert _confirm("gd-school-2", interactive=False, yes=True)(key, True) is True
    assert _confirm("gd-school-2", interactive=True, yes=True)(key, False) is False  # --yes never accepts an unseen key
    with pytest.raises(click.UsageError):
        _confirm("gd-school-2", interactive=False, yes=False)(key, True)
