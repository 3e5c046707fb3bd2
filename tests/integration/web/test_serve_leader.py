"""One leader among real `egov serve` processes on one SQLite store: jobs once per period, one prober, takeover.

The site has a lease of 3 s renewed every second, housekeeping every second
(``EGOV_HOUSEKEEPING_SECONDS``) and one HTTP probe a second against a
server of this test on loopback, which tells which process sent each probe
(the connection's owner, from /proc). Nothing leaves the machine.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import egov, write_config
from tests.integration.web.test_serve_workers import _children

LEASE, RENEW, PERIOD = 3.0, 1.0, 1.0
MARGIN = 2.0  # seconds of scheduling slack on a busy two-core machine, on top of the bound the lease promises
JOB = re.compile(r"scheduler: job housekeeping started by pid (\d+) at monotonic ([\d.]+)")
HOLDING = re.compile(r"leader: holding the lease leader \(term (\d+), pid (\d+)\) at monotonic ([\d.]+)")
# A traceback through the lease, the elector or the scheduler (other features' jobs may log their own errors).
OUR_TRACEBACK = re.compile(r"Traceback[^\n]*\n(?:  .*\n)*?  File .*controlplane/(leader|lease|scheduler)\.py")
RELEASED = re.compile(r"leader: released the lease leader \(term \d+\) at monotonic ([\d.]+)")


def _socket_owner(client_port: int, server_port: int, pids: list[int]) -> int:
    """The pid (among ``pids``) whose socket is the probe's connection from ``client_port``; 0 when none is."""
    inode = ""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == client_port and int(fields[2].split(":")[1], 16) == server_port:
            inode = fields[9]
            break
    for pid in pids if inode not in ("", "0") else []:
        try:
            links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
        except OSError:
            continue
        if f"socket:[{inode}]" in links:
            return pid
    return 0


class ProbeTarget:
    """An HTTP server the site's probe checks; records (pid of the probing process, monotonic time) per probe."""

    def __init__(self) -> None:
        self.pids: list[int] = []
        self.probes: list[tuple[int, float]] = []
        target = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner = _socket_owner(self.client_address[1], self.server.server_address[1], list(target.pids))
                target.probes.append((owner, time.monotonic()))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def by(self, pids: set[int], after: float = 0.0, before: float = float("inf")) -> int:
        return sum(1 for pid, at in list(self.probes) if pid in pids and after <= at < before)


class Console:
    """One `egov -v serve` process of the site; its log goes to a file so nothing blocks on a full pipe."""

    def __init__(self, site: Path, label: str, workers: int) -> None:
        env = {**os.environ, "EGOV_CONFIG": str(site / "egov.yml"), "PYTHONUNBUFFERED": "1"}
        env["EGOV_HOUSEKEEPING_SECONDS"] = str(int(PERIOD))
        self.log_path = site / f"{label}.log"
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "controlplane", "-v", "serve", "--port", "0", "--workers", str(workers),
                 "--plain-http"],
                stdout=subprocess.PIPE, stderr=log, text=True, env=env, cwd=site,
            )  # fmt: skip
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line.startswith("console: "), f"{label} did not start: {line!r} {self.log()[-2000:]}"
        self.pid = self.process.pid
        self.pids = {self.pid, *_children(self.pid)}  # the main process and its forked workers

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def job_starts(self) -> list[float]:
        return [float(at) for pid, at in JOB.findall(self.log()) if int(pid) == self.pid]

    def elected(self) -> list[float]:
        return [float(at) for _term, pid, at in HOLDING.findall(self.log()) if int(pid) == self.pid]

    def released(self) -> list[float]:
        return [float(at) for at in RELEASED.findall(self.log())]

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


def _wait_for(what: str, condition: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {seconds:g} s waiting for {what}")


def _holder(site: Path) -> dict[str, object]:
    shown = egov(site, "leader", "--json")
    return {**json.loads(shown.stdout), "exit": shown.returncode}


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Path, ProbeTarget]]:
    target = ProbeTarget()
    (tmp_path / "inventory.yml").write_text(
        "all:\n  children:\n    ministry:\n      vars: {site: ministry, site_level: ministry}\n"
        "      hosts:\n        probe-target: {ansible_host: 127.0.0.1, role: portal}\n"
    )
    monitoring = tmp_path / "monitoring"
    monitoring.mkdir()
    (monitoring / "probes.yml").write_text(
        "defaults: {interval: 1s, timeout: 1s, history: 1000}\n"
        f"probes:\n  - name: target-http\n    type: http\n    url: 'http://{{address}}:{target.port}/'\n"
    )
    write_config(tmp_path, leader={"lease_seconds": LEASE, "renew_seconds": RENEW})
    text = (tmp_path / "egov.yml").read_text()
    import yaml

    data = yaml.safe_load(text)
    data["folders"].update(inventory=str(tmp_path / "inventory.yml"), monitoring=str(monitoring))
    (tmp_path / "egov.yml").write_text(yaml.safe_dump(data))
    initialised = egov(tmp_path, "init")
    assert initialised.returncode == 0, initialised.stderr
    yield tmp_path, target
    target.server.shutdown()


def test_one_holder_runs_jobs_and_probes_a_frozen_one_is_fenced_a_dead_one_replaced_a_restart_waits(site) -> None:  # type: ignore[no-untyped-def]
    folder, target = site
    consoles: list[Console] = []

    def start(label: str, workers: int = 1) -> Console:
        console = Console(folder, label, workers)
        consoles.append(console)
        target.pids.extend(console.pids)
        return console

    try:
        # 1. Two consoles on one store: the first holds the lease; the second (and its forked worker) only serves.
        first = start("first")
        _wait_for("the first console to take the lease", lambda: bool(first.elected()), 60)
        second = start("second", workers=2)
        joined = time.monotonic()
        _wait_for("jobs since the second started", lambda: sum(t > joined for t in first.job_starts()) >= 5, 60)
        _wait_for("probes since the second started", lambda: target.by(first.pids, after=joined) >= 3, 60)
        assert second.job_starts() == [] and second.elected() == [] and target.by(second.pids) == 0
        held = _holder(folder)
        assert (held["state"], held["pid"], held["exit"]) == ("held", first.pid, 0)

        # 2. The holder freezes (alive, so only the lease can tell): the other takes over once it lapses.
        frozen = time.monotonic()
        first.process.send_signal(signal.SIGSTOP)
        _wait_for("the second console to take over", lambda: bool(second.elected()), LEASE + RENEW + 30)
        took = second.elected()[0]
        print(f"takeover from a frozen holder: {took - frozen:.2f} s (lease {LEASE:g} s, renewal {RENEW:g} s)")
        assert took - frozen <= LEASE + RENEW + MARGIN
        _wait_for("jobs and probes by the new holder", lambda: len(second.job_starts()) >= 3, 60)
        assert target.by(second.pids, before=took) == 0

        # 3. The frozen holder wakes up past its deadline: fenced, it starts no job and no probe, and stays out.
        woke = time.monotonic()
        first.process.send_signal(signal.SIGCONT)
        # Whichever of its threads runs first after SIGCONT deposes it: the fence (deadline passed) or the renewal
        # (another process holds the lease). Either way it must step down and start nothing.
        stepped_down = ("could not be renewed in time", "another process took the lease")
        _wait_for("the woken console to step down", lambda: any(why in first.log() for why in stepped_down), 30)
        time.sleep(2 * RENEW)
        assert [t for t in first.job_starts() if t > woke] == []
        assert target.by(first.pids, after=woke + 0.5) == 0 and target.by(first.pids, after=woke) <= 1  # in flight
        assert _holder(folder)["pid"] == second.pid and len(first.elected()) == 1

        # 4. The holder dies (kill -9) on this machine: its pid is gone, so the woken one takes over at once.
        killed = time.monotonic()
        second.process.kill()
        second.process.wait(timeout=30)
        _wait_for("the first console to take over again", lambda: len(first.elected()) == 2, LEASE + RENEW + 30)
        print(f"takeover from a killed holder on this machine: {first.elected()[1] - killed:.2f} s")
        assert first.elected()[1] - killed <= RENEW + MARGIN
        _wait_for("jobs by the first console again", lambda: sum(t > killed for t in first.job_starts()) >= 2, 60)

        # 5. A restart overlapping the holder waits (two whole leases); a clean stop hands over at once.
        restarted = start("restarted")
        time.sleep(2 * LEASE)
        assert restarted.elected() == [] and restarted.job_starts() == [] and target.by(restarted.pids) == 0
        assert first.stop() == 0
        released = first.released()
        _wait_for("the restarted console to take the released lease", lambda: bool(restarted.elected()), 30)
        assert released and released[0] <= restarted.elected()[0] <= released[0] + RENEW + MARGIN
        _wait_for("jobs by the restarted console", lambda: len(restarted.job_starts()) >= 2, 60)
    finally:
        for console in consoles:
            if console.process.poll() is None:
                console.process.send_signal(signal.SIGCONT)
        codes = [console.stop() for console in consoles]
    assert codes[0] == 0 and codes[2] == 0, [console.log()[-3000:] for console in consoles]
    starts = sorted(at for console in consoles for at in console.job_starts())
    slots = (starts[-1] - starts[0]) / PERIOD
    assert len(starts) <= slots + 1 + 4, f"{len(starts)} runs in {slots:.1f} periods"  # + one per change of holder
    assert 0 not in [pid for pid, _at in target.probes], "a probe came from a process that is not a console"
    for console in consoles:
        assert not OUR_TRACEBACK.search(console.log()), console.log()[-3000:]
