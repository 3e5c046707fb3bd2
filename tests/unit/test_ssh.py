"""SSH: remote argv quoted per word; pinned host keys against a real sshd on loopback."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from controlplane.errors import BadInputError, HostKeyError, UnreachableError
from controlplane.ssh import RemoteResult, SSHPool, Target, remote_command

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


def _start_sshd(folder: Path, host_key: Path, authorized: Path, name: str) -> tuple[subprocess.Popen[bytes], int]:
    """Start a real sshd on a free loopback port with the given keys; return it and its port."""
    port = _free_port()
    config = folder / f"sshd_config.{name}"
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
                f"PidFile {folder}/sshd.{name}.pid",
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
    return process, port


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
    process, port = _start_sshd(folder, host_key, authorized, "main")
    key_type, key_data = host_pub.split()[:2]
    other_type, other_data = other_pub.split()[:2]
    pinned = folder / "known_hosts"
    pinned.write_text(f"[127.0.0.1]:{port} {key_type} {key_data}\n")
    wrong = folder / "known_hosts.wrong"
    wrong.write_text(f"[127.0.0.1]:{port} {other_type} {other_data}\n")
    empty = folder / "known_hosts.empty"
    empty.write_text("")
    yield {"port": port, "client_key": client_key, "known": pinned, "wrong": wrong, "empty": empty,
           "folder": folder, "host_key": host_key, "host_pub": host_pub, "authorized": authorized}  # fmt: skip
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


# -- deadlines: every step of a command on a silent or wedged host ends in bounded time ------------


def _descendants(pid: int) -> list[int]:
    """The pids below ``pid`` in the process tree (children, their children, ...)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        children = [child for child, parent in parents.items() if parent == current]
        found += children
        todo += children
    return found


def _sshd_processes(listener: int) -> list[int]:
    """The listener and every sshd process under it (per-connection sshd, not the commands they run)."""
    pids = [listener]
    for pid in _descendants(listener):
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip().startswith("sshd"):
                pids.append(pid)
        except OSError:
            continue
    return pids


@pytest.fixture
def wedgeable(sshd: dict) -> Iterator[dict]:
    """A second real sshd (same keys) that a test may SIGSTOP; always continued and stopped afterwards."""
    process, port = _start_sshd(sshd["folder"], sshd["host_key"], sshd["authorized"], f"w{_free_port()}")
    key_type, key_data = sshd["host_pub"].split()[:2]
    known = sshd["folder"] / f"known_hosts.{port}"
    known.write_text(f"[127.0.0.1]:{port} {key_type} {key_data}\n")
    stopped: list[int] = []

    def wedge() -> None:
        for pid in _sshd_processes(process.pid):
            os.kill(pid, signal.SIGSTOP)
            stopped.append(pid)

    try:
        yield {"port": port, "known": known, "wedge": wedge, "target": Target("wedged", "127.0.0.1", port)}
    finally:
        for pid in stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        process.terminate()
        process.wait(timeout=10)


def test_a_listener_that_accepts_and_never_speaks_fails_at_the_banner_step_within_the_commands_deadline(
    sshd: dict,
) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # never accepted: the kernel completes the handshake, nobody ever speaks
        silent = Target("silent-host", "127.0.0.1", listener.getsockname()[1])
        with SSHPool(sshd["client_key"], sshd["known"], connect_timeout=5) as pool:
            started = time.monotonic()
            with pytest.raises(UnreachableError, match=r"silent-host \(127\.0\.0\.1:\d+\): no SSH banner within 1 s"):
                pool.run(silent, ["true"], timeout=1)
            elapsed = time.monotonic() - started
    assert elapsed < 1.5, f"the banner wait took {elapsed:.2f} s, over the command's 1 s deadline"


def test_a_pooled_connection_whose_sshd_is_stopped_fails_the_next_command_within_its_deadline(
    sshd: dict, wedgeable: dict
) -> None:
    with SSHPool(sshd["client_key"], wedgeable["known"], connect_timeout=5) as pool:
        assert pool.run(wedgeable["target"], ["true"]).ok  # connected and pooled
        wedgeable["wedge"]()
        started = time.monotonic()
        with pytest.raises(UnreachableError, match=r"wedged \(127\.0\.0\.1:\d+\): .*within"):
            pool.run(wedgeable["target"], ["true"], timeout=2)
        elapsed = time.monotonic() - started
    assert elapsed < 2.5, f"the wedged host held the command for {elapsed:.2f} s, over its 2 s deadline"


def test_a_command_whose_sshd_is_stopped_mid_run_ends_after_the_unanswered_keepalives(
    sshd: dict, wedgeable: dict
) -> None:
    outcome: dict[str, object] = {}
    pool = SSHPool(sshd["client_key"], wedgeable["known"], keepalive_interval=0.5, keepalive_count_max=2)

    def work() -> None:
        outcome["result"] = pool.run(wedgeable["target"], ["sleep", "30"], timeout=60)
        outcome["ended"] = time.monotonic()

    worker = threading.Thread(target=work, daemon=True)
    try:
        worker.start()
        time.sleep(1.0)  # the command runs, silently
        wedgeable["wedge"]()
        wedged = time.monotonic()
        worker.join(timeout=10)
        assert not worker.is_alive(), "the command still waits on a wedged sshd"
    finally:
        pool.close()
    result = outcome["result"]
    assert isinstance(result, RemoteResult)
    assert result.exit_code == -1 and result.timed_out
    assert "wedged" in result.stop_reason and "keepalive" in result.stop_reason, result.stop_reason
    # Silence for one interval, then a round trip that may wait interval x count: 0.5 + 1.0 s, plus slack.
    assert float(outcome["ended"]) - wedged < 3.0  # type: ignore[arg-type]


def test_a_silent_command_is_stopped_after_the_idle_timeout_and_a_chatty_one_is_not(sshd: dict) -> None:
    with SSHPool(sshd["client_key"], sshd["known"]) as pool:
        silent = pool.run(_target(sshd), ["sleep", "30"], timeout=60, idle_timeout=1)
        chatty = pool.run(
            _target(sshd), ["sh", "-c", "for i in 1 2 3 4 5; do echo $i; sleep 0.4; done"], timeout=60, idle_timeout=1
        )
    assert silent.exit_code == -1 and silent.timed_out and silent.duration < 3
    assert "loopback" in silent.stop_reason and "no output for 1 s" in silent.stop_reason
    assert chatty.ok and chatty.stdout.split() == ["1", "2", "3", "4", "5"]


def test_streaming_hands_each_masked_line_to_the_callback_as_it_comes(sshd: dict) -> None:
    seen: list[tuple[str, str, float]] = []
    with SSHPool(sshd["client_key"], sshd["known"]) as pool:
        started = time.monotonic()
        result = pool.stream(
            _target(sshd),
            ["sh", "-c", "echo first hunter2; sleep 1; echo second >&2; printf tail"],
            secrets=["hunter2"],
            on_line=lambda line, stream: seen.append((line, stream, time.monotonic() - started)),
        )
    assert result.ok
    assert [(line, stream) for line, stream, _ in seen] == [("first ***", "out"), ("second", "err"), ("tail", "out")]
    assert seen[0][2] < 0.9  # the first line arrived before the command ended
    assert result.lines == ["first ***", "tail"] and result.stderr == "second\n"


def test_a_cancel_request_stops_the_command_and_calls_the_stop_hook_with_the_open_channel(sshd: dict) -> None:
    stops: list[bool] = []
    asked = time.monotonic() + 0.5
    with SSHPool(sshd["client_key"], sshd["known"]) as pool:
        result = pool.stream(
            _target(sshd),
            ["sleep", "30"],
            should_cancel=lambda: time.monotonic() > asked,
            on_stop=lambda channel: stops.append(not channel.closed),
        )
    assert result.cancelled and result.exit_code == -1 and result.duration < 3
    assert stops == [True]


class _NoExecServer:
    """A real SSH server (paramiko's) that accepts the key and channels but never answers an exec request."""

    def __init__(self, host_key: Path) -> None:
        import paramiko

        self.key = paramiko.Ed25519Key.from_private_key_file(str(host_key))
        self.release = threading.Event()
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.port = int(self.listener.getsockname()[1])
        self.transports: list[object] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        import paramiko

        release = self.release

        class Interface(paramiko.ServerInterface):
            def get_allowed_auths(self, username: str) -> str:
                return "publickey"

            def check_auth_publickey(self, username: str, key: object) -> int:
                return paramiko.AUTH_SUCCESSFUL

            def check_channel_request(self, kind: str, chanid: int) -> int:
                return paramiko.OPEN_SUCCEEDED

            def check_channel_exec_request(self, channel: object, command: bytes) -> bool:
                release.wait(30)  # blocks the server's transport thread: nothing is answered
                return False

        with contextlib.suppress(OSError):
            conn, _ = self.listener.accept()
            transport = paramiko.Transport(conn)
            transport.add_server_key(self.key)
            transport.start_server(server=Interface())
            self.transports.append(transport)

    def close(self) -> None:
        self.release.set()
        self.listener.close()
        for transport in self.transports:
            transport.close()  # type: ignore[attr-defined]


def test_an_exec_request_the_server_never_answers_fails_at_the_exec_step(sshd: dict) -> None:
    server = _NoExecServer(sshd["host_key"])
    key_type, key_data = sshd["host_pub"].split()[:2]
    known = sshd["folder"] / f"known_hosts.noexec.{server.port}"
    known.write_text(f"[127.0.0.1]:{server.port} {key_type} {key_data}\n")
    outcome: dict[str, object] = {}
    pool = SSHPool(sshd["client_key"], known, connect_timeout=1)

    def work() -> None:
        try:
            pool.run(Target("no-exec", "127.0.0.1", server.port), ["true"], timeout=30)
        except UnreachableError as error:
            outcome["error"] = error

    worker = threading.Thread(target=work, daemon=True)
    try:
        started = time.monotonic()
        worker.start()
        worker.join(timeout=6)
        elapsed = time.monotonic() - started
        assert not worker.is_alive(), "exec_command still waits for an answer that never comes"
    finally:
        server.close()
        pool.close()
    assert "no-exec" in str(outcome["error"]) and "exec request" in str(outcome["error"])
    assert elapsed < 2.5
