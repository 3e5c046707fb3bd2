"""One scan: every host collected in parallel (one round trip each), then evaluated and waived.

The request is built once from the catalog and sent to every host; hosts are
collected concurrently in a thread pool (SSH waits on the network, not the
CPU), and one host's failure becomes ``error`` results for that host only.
Storing scans, scheduling them and the CLI are the callers' concern.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from controlplane.compliance.catalog import Catalog
from controlplane.compliance.collector import COLLECT_TIMEOUT, build_request, collect, failed_evidence
from controlplane.compliance.evaluate import HostContext, Result, evaluate_host
from controlplane.compliance.waivers import Waiver, apply_waivers

if TYPE_CHECKING:
    from controlplane.ssh import SSHPool, Target

MAX_WORKERS = 32


@dataclass(frozen=True)
class ScanTarget:
    """A host to scan: where to connect (an ssh Target) and its inventory context."""

    target: Target
    host: HostContext


@dataclass
class HostScan:
    """One host's part of a scan: its results (after waivers), raw evidence and collection time."""

    host: HostContext
    results: list[Result]
    evidence: dict[str, Any]
    seconds: float

    @property
    def reachable(self) -> bool:
        return not self.evidence.get("unreachable")


@dataclass
class Scan:
    """A whole scan: when, against which catalog, and every host's results."""

    started: datetime
    finished: datetime
    catalog_version: str
    hosts: list[HostScan] = field(default_factory=list)

    @property
    def results(self) -> list[Result]:
        """Every result of every host, in host order then catalog order."""
        return [result for host in self.hosts for result in host.results]


def _collect_one(
    pool: SSHPool, item: ScanTarget, request: dict[str, Any], timeout: float
) -> tuple[dict[str, Any], float]:
    started = time.monotonic()
    try:
        evidence = collect(pool, item.target, request, timeout)
    except Exception as error:  # a bug or library surprise on one host must not abort the scan
        evidence = failed_evidence(f"collection failed: {type(error).__name__}: {error}")
    return evidence, time.monotonic() - started


def scan(
    catalog: Catalog,
    targets: Iterable[ScanTarget],
    pool: SSHPool,
    *,
    waivers: Iterable[Waiver] = (),
    now: datetime | None = None,
    max_workers: int = MAX_WORKERS,
    timeout: float = COLLECT_TIMEOUT,
    on_host: Callable[[HostScan], None] | None = None,
) -> Scan:
    """Scan hosts: collect in parallel, evaluate, apply waivers.

    ``now`` (default: now, UTC) is also the day waivers are judged on.
    ``on_host`` is called with each HostScan as soon as that host is done,
    in completion order and from the calling thread (progress bars, run
    output); the Scan lists hosts in target order. Never raises for a host
    problem: that host's results are ``error``.
    """
    items = list(targets)
    moment = now or datetime.now(UTC)
    request = build_request(catalog)
    waiver_list = list(waivers)
    done: dict[int, HostScan] = {}
    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(items) or 1))) as executor:
        futures = {
            executor.submit(_collect_one, pool, item, request, timeout): index for index, item in enumerate(items)
        }
        for future in as_completed(futures):
            index = futures[future]
            evidence, seconds = future.result()
            item = items[index]
            # Evaluation is pure and fast: done here, in the caller's thread, as each host arrives.
            results = evaluate_host(catalog, evidence, item.host, moment)
            done[index] = HostScan(item.host, apply_waivers(results, waiver_list, moment.date()), evidence, seconds)
            if on_host is not None:
                on_host(done[index])
    hosts = [done[index] for index in range(len(items))]
    return Scan(started=moment, finished=datetime.now(UTC), catalog_version=catalog.version, hosts=hosts)
