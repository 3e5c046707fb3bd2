"""A scan over several hosts: one collection each, in parallel; an unreachable host is error, never pass."""

from __future__ import annotations

import json
import threading
import time
from datetime import date

from controlplane.compliance.catalog import Catalog
from controlplane.compliance.evaluate import HostContext
from controlplane.compliance.scanner import ScanTarget, scan
from controlplane.compliance.scoring import by_host
from controlplane.compliance.waivers import Waiver
from controlplane.ssh import RemoteResult, Target
from tests.unit.compliance.conftest import SCAN_TIME, recorded
from tests.unit.compliance.test_collector import LocalPool


def targets() -> list[ScanTarget]:
    return [
        ScanTarget(Target("gd-school-1", "10.198.0.51"), HostContext("gd-school-1", "school-gd-1", ("school",), {})),
        ScanTarget(Target("mn-db-1", "10.198.0.14"), HostContext("mn-db-1", "ministry", ("database",), {})),
    ]


class SlowPool(LocalPool):
    """Runs locally, records how many collections overlap, and refuses mn-db-1."""

    def __init__(self) -> None:
        super().__init__()
        self.active = 0
        self.most = 0
        self.lock = threading.Lock()

    def run(self, target, argv, *, timeout, input_text):  # type: ignore[no-untyped-def]
        with self.lock:
            self.active += 1
            self.most = max(self.most, self.active)
        try:
            time.sleep(0.2)
            if target.name == "mn-db-1":
                self.unreachable = True
                try:
                    return super().run(target, argv, timeout=timeout, input_text=input_text)
                finally:
                    self.unreachable = False
            return super().run(target, argv, timeout=timeout, input_text=input_text)
        finally:
            with self.lock:
                self.active -= 1


def test_a_scan_collects_each_host_once_in_parallel_and_reports_the_unreachable_one_as_error(catalog: Catalog) -> None:
    pool = SlowPool()
    result = scan(catalog, targets(), pool, now=SCAN_TIME)
    assert len(pool.calls) == 2 and pool.most == 2
    reachable, unreachable = result.hosts
    assert reachable.reachable and not unreachable.reachable
    # every control is an error on the unreachable host, except those for other roles (issue 15's TLS control)
    role_limited = {control.id for control in catalog if control.applies.get("roles")}
    assert {r.status for r in unreachable.results if r.control_id not in role_limited} == {"error"}
    assert {r.status for r in reachable.results} >= {"pass", "fail"}
    assert len(result.results) == 2 * len(catalog)
    assert by_host(result.results)["mn-db-1"].before_waivers == 0.0
    assert result.catalog_version == catalog.version


class RecordedPool(LocalPool):
    """Answers every collection with the recorded fresh-host evidence."""

    def run(self, target, argv, *, timeout, input_text):  # type: ignore[no-untyped-def]
        self.calls.append(list(argv))
        return RemoteResult(target.name, list(argv), 0, json.dumps(recorded("fresh_host")), "", 0.0)


def test_a_scan_applies_waivers_judged_on_the_scan_day(catalog: Catalog) -> None:
    waiver = Waiver(
        "ssh.banner", "Banner text awaits legal review.", "Li Na", date(2026, 12, 31), hosts=("gd-school-1",)
    )
    result = scan(catalog, targets(), RecordedPool(), waivers=[waiver], now=SCAN_TIME)
    banners = {r.host: r.status for r in result.results if r.control_id == "ssh.banner"}
    assert banners == {"gd-school-1": "waived", "mn-db-1": "fail"}
    later = scan(catalog, targets(), RecordedPool(), waivers=[waiver], now=SCAN_TIME.replace(year=2027))
    assert {r.status for r in later.results if r.control_id == "ssh.banner"} == {"fail"}
