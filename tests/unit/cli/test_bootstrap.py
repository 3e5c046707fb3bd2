"""``egov bootstrap`` as a user runs it, without a lab: the first administrator offered on a terminal."""

from __future__ import annotations

import json
import os
import pty
import select
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import egov, write_config

PROMPT_SECONDS = 60


@pytest.fixture
def site(tmp_path: Path) -> Path:
    write_config(tmp_path)
    assert egov(tmp_path, "init").returncode == 0
    return tmp_path


class Terminal:
    """``egov ARGS`` on a pseudo-terminal (its controlling tty), answered like a person at the keyboard."""

    def __init__(self, site: Path, *args: str) -> None:
        env = {**os.environ, "EGOV_CONFIG": str(site / "egov.yml"), "TERM": "dumb", "COLUMNS": "100"}
        env.pop("EGOV_MASTER_KEY_FILE", None)
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: becomes egov, the pty its terminal
            os.chdir(site)
            os.execve(sys.executable, [sys.executable, "-m", "controlplane", *args], env)  # noqa: S606 - argv, no shell
        self.seen = ""  # everything shown so far
        self.unread = ""  # what no expect() has consumed yet

    def expect(self, text: str) -> None:
        """Read until ``text`` shows after what earlier calls consumed (bounded); fail with what was seen."""
        deadline = time.monotonic() + PROMPT_SECONDS
        while text not in self.unread:
            left = deadline - time.monotonic()
            assert left > 0, f"no {text!r} in {self.seen!r}"
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.fd, 4096)
                except OSError:  # the child closed the terminal
                    chunk = b""
                assert chunk, f"egov ended before {text!r}: {self.seen!r}"
                decoded = chunk.decode("utf-8", "replace")
                self.seen += decoded
                self.unread += decoded
        self.unread = self.unread.split(text, 1)[1]

    def answer(self, text: str) -> None:
        os.write(self.fd, text.encode() + b"\r")

    def finish(self) -> int:
        """Read what is left, then wait for the exit code."""
        deadline = time.monotonic() + PROMPT_SECONDS
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.fd], [], [], 1)
            if not ready:
                continue
            try:
                chunk = os.read(self.fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            self.seen += chunk.decode("utf-8", "replace")
        _pid, status = os.waitpid(self.pid, 0)
        os.close(self.fd)
        return os.waitstatus_to_exitcode(status)


def _users(site: Path) -> list[dict[str, object]]:
    listed = egov(site, "users", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    return json.loads(listed.stdout)


def test_on_a_terminal_it_offers_the_first_administrator_and_refuses_a_short_password(site: Path) -> None:
    terminal = Terminal(site, "bootstrap")
    terminal.expect("Create the first administrator now? [Y/n]")
    terminal.answer("")
    terminal.expect("user name [admin]")
    terminal.answer("")
    terminal.expect("password for admin")
    terminal.answer("short")
    terminal.expect("Repeat for confirmation")
    terminal.answer("short")
    terminal.expect("not accepted")
    terminal.expect("password for admin")
    terminal.answer("a long enough admin password")
    terminal.expect("Repeat for confirmation")
    terminal.answer("a long enough admin password")
    assert terminal.finish() == 0, terminal.seen
    assert "added admin (admin, every site)" in terminal.seen
    (user,) = _users(site)
    assert (user["name"], user["role"]) == ("admin", "admin")


def test_declining_on_a_terminal_creates_nobody_and_says_how_to_later(site: Path) -> None:
    terminal = Terminal(site, "bootstrap")
    terminal.expect("Create the first administrator now? [Y/n]")
    terminal.answer("n")
    assert terminal.finish() == 0, terminal.seen
    assert "egov users add admin --role admin" in terminal.seen
    assert _users(site) == []


def test_without_a_terminal_it_says_how_to_create_the_administrator_and_that_there_is_no_lab(site: Path) -> None:
    done = egov(site, "bootstrap")
    assert done.returncode == 0, done.stderr
    assert "egov users add admin --role admin" in done.stdout
    assert "no lab of this site is up" in done.stdout


def test_once_a_user_exists_it_offers_nothing(site: Path) -> None:
    assert egov(site, "users", "add", "ops", "--role", "operator", stdin="operator password 1").returncode == 0
    done = egov(site, "bootstrap")
    assert done.returncode == 0 and "users add" not in done.stdout


def test_the_plan_as_json_says_no_lab_and_nothing_due(site: Path) -> None:
    done = egov(site, "bootstrap", "--plan", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"lab": False, "due": []}
