"""The prober: its argv and stdin, its answers read back, and the real script against listeners on loopback."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator

import pytest

from controlplane.errors import EgovError, UnreachableError
from controlplane.network.probe import (
    RULESET_ARGV,
    Check,
    Observation,
    parse_output,
    probe_argv,
    probe_input,
    probe_local,
    probe_remote,
    probe_script,
    read_ruleset,
)
from controlplane.ssh import RemoteResult, Target


@pytest.fixture
def listener() -> Iterator[int]:
    """A TCP port on 127.0.0.1 that accepts connections."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1024)  # every connect of a row at once completes without an accept()
        yield server.getsockname()[1]


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again when we leave: nothing listens there


def test_the_remote_argv_is_isolated_python_with_the_fixed_script_and_no_host_data() -> None:
    argv = probe_argv()
    assert argv[:3] == ["/usr/bin/python3", "-I", "-c"] and argv[3] == probe_script()
    compile(argv[3], "probe_script.py", "exec")
    assert "shell=True" not in argv[3] and "os.system" not in argv[3]


def test_the_checks_go_on_stdin_as_json_in_order() -> None:
    text = probe_input([Check("10.198.40.41", "tcp", 443), Check("10.198.40.41", "icmp")], timeout=1.0)
    assert json.loads(text) == {
        "version": 1, "timeout": 1.0, "checks": [["10.198.40.41", "tcp", 443], ["10.198.40.41", "icmp", None]]
    }  # fmt: skip


@pytest.mark.parametrize(
    "check",
    [
        Check("10.198.40.41; rm -rf /", "tcp", 22),
        Check("gd-edu-1", "tcp", 22),
        Check("10.198.40.41", "tcp", None),
        Check("10.198.40.41", "tcp", 70000),
        Check("10.198.40.41", "icmp", 7),
        Check("10.198.40.41", "udp", 53),
    ],
)
def test_a_check_that_is_not_an_ipv4_address_with_tcp_port_or_icmp_is_refused(check: Check) -> None:
    with pytest.raises(EgovError):
        probe_input([check])


def test_answers_are_read_back_in_order_and_errors_keep_their_reason() -> None:
    stdout = json.dumps({"version": 1, "results": [["open", 3], ["refused", 1], ["error:EPERM", 0], ["weird", 0]]})
    assert parse_output(stdout, 4) == [
        Observation("open", 3), Observation("refused", 1), Observation("error", 0, "EPERM"),
        Observation("error", 0, "unknown answer 'weird'"),
    ]  # fmt: skip


@pytest.mark.parametrize("stdout", ["", "Traceback (most recent call last):", json.dumps({"results": [["open", 1]]})])
def test_an_answer_that_is_not_one_result_per_check_is_an_error(stdout: str) -> None:
    with pytest.raises(EgovError):
        parse_output(stdout, 2)


def test_the_script_sees_a_listener_open_and_a_closed_port_refused_in_one_run(listener: int) -> None:
    closed = closed_port()
    seen = probe_local([Check("127.0.0.1", "tcp", listener), Check("127.0.0.1", "tcp", closed)], timeout=1.0)
    assert [s.observed for s in seen] == ["open", "refused"]


def test_the_script_echoes_icmp_to_loopback() -> None:
    if os.geteuid() != 0:
        pytest.skip("raw ICMP needs root (CAP_NET_RAW)")
    assert [s.observed for s in probe_local([Check("127.0.0.1", "icmp")], timeout=1.0)] == ["open"]


def test_hundreds_of_checks_cost_one_timeout_not_one_each(listener: int) -> None:
    import time

    checks = [Check("127.0.0.1", "tcp", listener)] * 300 + [Check("127.0.0.1", "tcp", closed_port())] * 300
    started = time.monotonic()
    seen = probe_local(checks, timeout=1.0)
    assert time.monotonic() - started < 3.0
    assert {s.observed for s in seen[:300]} == {"open"} and {s.observed for s in seen[300:]} == {"refused"}


class Recorder:
    """A stand-in SSHPool that records what it was asked and answers with a fixed result."""

    def __init__(self, result: RemoteResult | Exception) -> None:
        self.result = result
        self.asked: list[tuple[str, list[str], str | None]] = []

    def run(self, target: Target, argv: list[str], *, input_text: str | None = None, timeout: float | None = None):  # type: ignore[no-untyped-def]
        self.asked.append((target.name, argv, input_text))
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


def test_a_remote_probe_is_one_command_with_the_checks_on_stdin() -> None:
    answer = RemoteResult("gd-school-1", [], 0, json.dumps({"version": 1, "results": [["timeout", 1000]]}), "", 1.0)
    pool = Recorder(answer)
    seen = probe_remote(pool, Target("gd-school-1", "10.198.0.51"), [Check("10.198.11.14", "tcp", 5432)])  # type: ignore[arg-type]
    assert seen == [Observation("timeout", 1000)]
    [(name, argv, stdin)] = pool.asked
    assert name == "gd-school-1" and argv == probe_argv() and "10.198.11.14" in (stdin or "")


def test_a_prober_that_fails_on_the_host_is_an_error_naming_the_host() -> None:
    pool = Recorder(RemoteResult("gd-school-1", [], 127, "", "python3: not found\n", 0.1))
    with pytest.raises(EgovError, match="gd-school-1: the prober exited 127"):
        probe_remote(pool, Target("gd-school-1", "10.198.0.51"), [Check("10.198.11.14", "tcp", 5432)])  # type: ignore[arg-type]
    pool = Recorder(UnreachableError("gd-school-1 (10.198.0.51:22): timed out"))
    with pytest.raises(UnreachableError):
        probe_remote(pool, Target("gd-school-1", "10.198.0.51"), [Check("10.198.11.14", "tcp", 5432)])  # type: ignore[arg-type]


def test_a_gateway_without_the_boundary_table_reads_as_none_and_other_nft_failures_raise() -> None:
    missing = Recorder(RemoteResult("gd-gw-1", [], 1, "", "Error: No such file or directory\nlist table inet x\n", 0.1))
    assert read_ruleset(missing, Target("gd-gw-1", "10.198.0.3")) is None  # type: ignore[arg-type]
    assert missing.asked[0][1] == list(RULESET_ARGV)
    broken = Recorder(RemoteResult("gd-gw-1", [], 1, "", "Error: Operation not permitted\n", 0.1))
    with pytest.raises(EgovError, match="nft list table failed"):
        read_ruleset(broken, Target("gd-gw-1", "10.198.0.3"))  # type: ignore[arg-type]


def run_script_as_nobody(ping_group_range: str) -> list[str]:
    """The prober as an unprivileged user in a throw-away network namespace (no CAP_NET_RAW)."""
    import shutil
    import subprocess

    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("setpriv"):
        pytest.skip("needs root, unshare and setpriv")
    shell = (
        f'ip link set lo up && sysctl -qw net.ipv4.ping_group_range="{ping_group_range}" && '
        'exec setpriv --reuid 65534 --regid 65534 --clear-groups /usr/bin/python3 -I -c "$0"'
    )
    done = subprocess.run(
        ["unshare", "-n", "sh", "-c", shell, probe_script()], input=probe_input([Check("127.0.0.1", "icmp")]),
        capture_output=True, text=True, check=False, timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return [seen.observed + (f":{seen.detail}" if seen.detail else "") for seen in parse_output(done.stdout, 1)]


def test_without_raw_sockets_icmp_goes_through_an_unprivileged_icmp_socket() -> None:
    assert run_script_as_nobody("0 65534") == ["open"]


def test_without_any_way_to_send_an_echo_the_probe_says_so_instead_of_timing_out() -> None:
    if shutil_which("ping"):
        pytest.skip("a ping program is installed: it would be the last fallback")
    assert run_script_as_nobody("1 0") == ["error:no-icmp"]


def shutil_which(name: str) -> str | None:
    import shutil

    return shutil.which(name, path="/usr/bin:/bin:/usr/sbin:/sbin")


def test_a_connect_a_firewall_drops_times_out_in_the_probe_timeout() -> None:
    import shutil
    import subprocess

    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("nft"):
        pytest.skip("needs root, unshare and nft (a throw-away network namespace)")
    drop = "nft add table ip t && nft add chain ip t c '{ type filter hook input priority 0; }' && "
    drop += "nft add rule ip t c tcp dport 9 drop"
    shell = f'ip link set lo up && {drop} && exec /usr/bin/python3 -I -c "$0"'
    done = subprocess.run(
        ["unshare", "-n", "sh", "-c", shell, probe_script()],
        input=probe_input([Check("127.0.0.1", "tcp", 9), Check("127.0.0.1", "tcp", 10)], timeout=0.5),
        capture_output=True, text=True, check=False, timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert parse_output(done.stdout, 2) == [Observation("timeout", 500), Observation("refused", 0)]
