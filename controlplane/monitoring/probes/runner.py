"""Running checks concurrently, each on its own interval, none able to hold up the others.

Checks run on a thread pool: network probes spend their time waiting on
sockets and SSH probes on paramiko channels, so threads are cheap here and
share the one SSH pool the control plane holds. Each check has a next-due
time; the first run of each is spread over its interval (by a hash of its
key) so a thousand checks with one interval do not all fire in one instant.

Every probe bounds its own time by its ``timeout`` (the SSH pool's step
deadlines, socket timeouts). As a backstop, :meth:`ProbeRunner.tick`
reports a probe that has not returned ``timeout + GRACE_SECONDS`` after it
started as failed, and while it stays stuck the check gets a failed
"still running" result at each interval instead of a second thread: one
thread at most per check, results on time for every check.
"""

from __future__ import annotations

import ipaddress
import time
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from typing import TYPE_CHECKING

from controlplane.monitoring.probes.health import health_probe
from controlplane.monitoring.probes.host_certs import host_certificates_probe
from controlplane.monitoring.probes.network import http_probe, ssh_probe, tcp_probe
from controlplane.monitoring.probes.network_paths import network_verify_probe
from controlplane.monitoring.probes.store_checks import failed_runs_probe, run_age_probe
from controlplane.monitoring.results import ProbeResult
from controlplane.monitoring.spec import Check

if TYPE_CHECKING:
    from controlplane.inventory import Inventory
    from controlplane.ssh import SSHPool
    from controlplane.store import Store

DEFAULT_WORKERS = 32
GRACE_SECONDS = 1.0  # past its timeout, a probe that has not returned is reported failed


def _failed(check: Check, duration: float, message: str) -> ProbeResult:
    return ProbeResult(check.probe.name, check.probe.type, check.host, check.site, check.role, False,
                       duration, message)  # fmt: skip


def overdue(check: Check, duration: float) -> ProbeResult:
    """The result of a probe that did not return within its timeout plus the grace time."""
    limit = check.probe.timeout + GRACE_SECONDS
    return _failed(check, duration, f"{check.host}: the {check.probe.name} probe did not finish within {limit:g} s "
                                    f"(timeout {check.probe.timeout:g} s): abandoned")  # fmt: skip


def still_running(check: Check, started: float, now: float) -> ProbeResult:
    """The result for a due check whose previous probe is still stuck (no second thread is started)."""
    return _failed(check, 0.0, f"{check.host}: the {check.probe.name} probe started {now - started:.0f} s ago "
                               "is still running: not started again")  # fmt: skip


def lab_guard(inventory: Inventory | None, bridge_up: Callable[[], bool] | None = None) -> Callable[[str], str | None]:
    """A guard that refuses to probe lab addresses while the lab bridge is down.

    Without the bridge, a lab address (inventory ``lab_subnet``) would be
    routed to the machine's default gateway, off the machine: that traffic
    must never leave. ``bridge_up`` is the lab's own check, handed in by the
    composition root (``egov serve``, ``egov monitor``): this engine does not
    know the lab. Without one, lab addresses are never probed (fail closed).
    Returns a function address -> refusal message or None; the check is
    called at most once a second.
    """
    subnet_text = (inventory.variables or {}).get("lab_subnet") if inventory is not None else None
    if not subnet_text:
        return lambda _address: None
    subnet = ipaddress.ip_network(subnet_text, strict=False)
    state: dict[str, float | bool] = {"checked": 0.0, "up": False}

    def guard(address: str) -> str | None:
        try:
            inside = ipaddress.ip_address(address) in subnet
        except ValueError:
            return None
        if not inside:
            return None
        if bridge_up is None:
            return f"lab bridge state unknown (no check handed in): not probing {address} (it could leave the machine)"
        now = time.monotonic()
        if now - float(state["checked"]) > 1.0:  # one /sys read per second, not per probe
            state["up"] = bool(bridge_up())
            state["checked"] = now
        return None if state["up"] else f"lab bridge is down: not probing {address} (it would leave the machine)"

    return guard


class ProbeRunner:
    """Runs checks on a thread pool; knows which are due.

    ``pool`` serves the health checks and ``store`` the store checks: a
    check needing one that is None fails instead of running. ``guard`` is
    asked before any address is contacted (a reason refuses it). Checks run
    concurrently on ``workers`` threads, so one slow probe does not hold the
    others back, and a probe past its timeout is reported failed. HTTPS
    probes without a ``ca_file`` of their own also trust ``ca_file`` (the
    control plane's CA root, which issued the web hosts' certificates).
    """

    def __init__(
        self,
        checks: Iterable[Check],
        *,
        pool: SSHPool | None = None,
        store: Store | None = None,
        ssh_user: str = "root",
        workers: int = DEFAULT_WORKERS,
        guard: Callable[[str], str | None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        ca_file: str | None = None,
    ) -> None:
        self.checks = list(checks)
        self.pool = pool
        self.store = store
        self.ssh_user = ssh_user
        self.guard = guard or (lambda _address: None)
        self.clock = clock
        self.ca_file = ca_file  # HTTPS probes trust it beside the system's roots (the control plane's CA)
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="egov-probe")
        # Probes in flight: key -> (future, check, whether its result was already reported as overdue).
        self.running: dict[tuple[str, str], tuple[Future[ProbeResult], Check, bool]] = {}
        self.started_at: dict[tuple[str, str], float] = {}  # when each probe got its thread (monotonic)
        start = clock()
        self.next_due: dict[tuple[str, str], float] = {
            check.key: start + (zlib.crc32("/".join(check.key).encode()) % 1000) / 1000 * min(check.probe.interval, 10)
            for check in self.checks
        }

    def probe(self, check: Check) -> ProbeResult:
        """Run one check now and return its result (never raises)."""
        started = time.monotonic()
        try:
            refusal = self.guard(check.address) if check.address else None
            if refusal:
                return ProbeResult(check.probe.name, check.probe.type, check.host, check.site, check.role, False,
                                   0.0, refusal)  # fmt: skip
            kind = check.probe.type
            if kind == "tcp":
                return tcp_probe(check)
            if kind == "http":
                return http_probe(check, self.ca_file)
            if kind == "ssh":
                return ssh_probe(check)
            if kind == "health":
                if self.pool is None:
                    raise RuntimeError("no SSH pool for health checks")
                return health_probe(check, self.pool, self.ssh_user)
            if kind == "failed_runs":
                return failed_runs_probe(check, self.store)
            if kind == "run_age":
                return run_age_probe(check, self.store)
            if kind == "host_certificates":
                return host_certificates_probe(check, self.store)
            if kind == "network_verify":
                return network_verify_probe(check, self.store)
            raise RuntimeError(f"unknown probe type {kind!r}")
        except Exception as error:  # a bug in one probe must not stop the others
            return ProbeResult(check.probe.name, check.probe.type, check.host, check.site, check.role, False,
                               time.monotonic() - started, f"probe error: {error}")  # fmt: skip

    def _started(self, check: Check) -> ProbeResult:
        """Run a probe on a pool thread, noting when it really started (it may have waited for a thread)."""
        self.started_at[check.key] = time.monotonic()
        return self.probe(check)

    def _overran(self, check: Check) -> float | None:
        """How long a started probe has been running, when that is past its timeout plus the grace time; else None."""
        began = self.started_at.get(check.key)
        if began is None:
            return None
        running = time.monotonic() - began
        return running if running > check.probe.timeout + GRACE_SECONDS else None

    def run(self, checks: Iterable[Check] | None = None) -> list[ProbeResult]:
        """Run the given checks (default: all) concurrently; return results in check order.

        Returns when each probe has ended or overrun its timeout plus the
        grace time (counted from when it got a thread); an overrunning probe
        gets an :func:`overdue` result and its thread is left to end.
        """
        todo = list(self.checks if checks is None else checks)
        futures = {check.key: self.executor.submit(self._started, check) for check in todo}
        results: dict[tuple[str, str], ProbeResult] = {}
        while len(results) < len(todo):
            for check in todo:
                if check.key in results:
                    continue
                future = futures[check.key]
                if future.done():
                    results[check.key] = future.result()
                elif (running := self._overran(check)) is not None:
                    results[check.key] = overdue(check, running)
            if len(results) < len(todo):
                wait_for([f for key, f in futures.items() if key not in results], timeout=0.1)
        return [results[check.key] for check in todo]

    def tick(self) -> list[ProbeResult]:
        """Harvest finished probes, report overdue ones, start the due checks; return the new results.

        Never blocks: one loop turn of the monitor. A check whose probe is
        stuck is not started again (one thread at most per check); it gets
        an :func:`overdue` result once, then a :func:`still_running` one each
        time it is due, and the late result of the stuck probe is dropped.
        """
        results: list[ProbeResult] = []
        for key, (future, check, reported) in list(self.running.items()):
            if future.done():
                del self.running[key]
                if not reported:
                    results.append(future.result())
            elif not reported and (running := self._overran(check)) is not None:
                results.append(overdue(check, running))
                self.running[key] = (future, check, True)
        for check in self.due():
            current = self.running.get(check.key)
            if current is None:
                self.started_at.pop(check.key, None)
                self.running[check.key] = (self.executor.submit(self._started, check), check, False)
            elif current[2]:  # stuck past its deadline: say so on time, without a second thread
                results.append(still_running(check, self.started_at[check.key], time.monotonic()))
        return results

    def due(self) -> list[Check]:
        """The checks whose interval has elapsed; their next run is scheduled now."""
        now = self.clock()
        found = []
        for check in self.checks:
            if self.next_due[check.key] <= now:
                found.append(check)
                # Schedule from the planned time, not from now, so intervals do not drift;
                # but never in the past (after a long pause run once, not a burst).
                planned = self.next_due[check.key] + check.probe.interval
                self.next_due[check.key] = planned if planned > now else now + check.probe.interval
        return found

    def seconds_to_next(self) -> float:
        """Seconds until the next check is due (0 when one is due now)."""
        if not self.next_due:
            return 1.0
        return max(0.0, min(self.next_due.values()) - self.clock())

    def close(self) -> None:
        """Stop the worker threads."""
        self.executor.shutdown(wait=True, cancel_futures=True)
