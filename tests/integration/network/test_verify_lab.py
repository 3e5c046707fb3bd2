"""`egov network verify` on the real zoned lab: clean after provision, a hand-opened port, a stopped service, isolation.

Runs as root against the session's lab (tests/integration/conftest.py),
which is zoned because ``inventory/network.yml`` sits next to the inventory.
The module provisions every host once (the gateways get their boundaries,
the hosts their routes), and puts the lab back as it found it at the end
(``lab down --purge`` and ``up``, like the playbook tests). Each test undoes
its own change (the rule it inserted, the service it stopped, the host it
isolated) before the next one runs, even when it fails.

Run alone, under the lab lock: ``flock /tmp/team/lab.lock .venv/bin/pytest
tests/integration/network/test_verify_lab.py -x``.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from controlplane.ssh import SSHPool, Target

if TYPE_CHECKING:
    from tests.integration.conftest import Lab

pytestmark = [pytest.mark.root, pytest.mark.lab]

GD_GW = Target("gd-gw-1", "10.198.0.3")
SCHOOL, GD_EDU = "10.198.50.51", "10.198.40.41"  # gd-school-1 and gd-edu-1 on their zones
TEST_COMMENT = "egov-lab-test opened by hand"


def verify(lab: Lab, *args: str) -> tuple[int, dict[str, Any]]:
    result = lab.egov("network", "verify", "--json", *args, timeout=120)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


def bad_paths(report: dict[str, Any], verdict: str) -> list[str]:
    return sorted(
        f"{p['source']} -> {p['destination']} {p['address']}:{p['port']}/{p['protocol']}"
        for p in report["paths"]
        if p["verdict"] == verdict
    )


def firing_alerts(lab: Lab, name: str, timeout: float = 60) -> list[dict[str, Any]]:
    """Run the monitor (probes, rules, alerts) until an alert ``name`` fires; return those alerts."""
    monitor = subprocess.Popen(
        [sys.executable, "-m", "controlplane", "--config", str(lab.config_path), "monitor", "run", "--tick", "0.2"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            listed = lab.egov("alerts", "list", "--json", "--state", "firing")
            assert listed.returncode == 0, listed.stderr
            fired = [a for a in json.loads(listed.stdout) if a["name"] == name]
            if fired:
                return fired
            time.sleep(1)
        return []
    finally:
        monitor.terminate()
        monitor.wait(timeout=30)


@pytest.fixture(scope="module", autouse=True)
def hosts_are_reset_for_the_tests_after_us(lab: Lab) -> Iterator[None]:
    """After this module, purge and restart the lab: its hosts were provisioned here."""
    yield
    from controlplane.lab import manager

    manager.down(lab.config, purge=True)
    assert lab.egov("lab", "up").returncode == 0


@pytest.fixture(scope="module")
def provisioned(lab: Lab) -> None:
    result = lab.egov("provision", "--json", timeout=1800)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]


@pytest.fixture
def pool(lab: Lab) -> Iterator[SSHPool]:
    with SSHPool.from_config(lab.config) as opened:
        yield opened


def test_after_provision_the_verify_finds_no_violation_and_no_breakage(lab: Lab, provisioned: None) -> None:
    code, report = verify(lab)
    assert bad_paths(report, "violation") == [] and bad_paths(report, "breakage") == []
    assert [f for f in report["findings"] if f["kind"] != "unknown-host"] == []
    assert code == 0 and report["ok"]
    assert len(report["paths"]) > 700 and len(report["sources"]) == 10
    assert {name: state["default_deny"] and state["logs_drops"] for name, state in report["gateways"].items()} == {
        "mn-gw-1": True, "gd-gw-1": True, "hn-gw-1": True
    }  # fmt: skip
    web = next(
        p for p in report["paths"] if (p["source"], p["address"], p["port"]) == ("ext-probe-1", "10.198.10.11", 443)
    )
    assert re.fullmatch(r"mn-gw-1 flow:public-web \+[1-9]\d* packets", web["rule"]), web


def test_a_port_opened_by_hand_on_a_gateway_is_that_exact_violation(lab: Lab, provisioned: None, pool: SSHPool) -> None:
    rule = f'ip saddr {SCHOOL} ip daddr {GD_EDU} tcp dport 8080 counter accept comment "{TEST_COMMENT}"'
    inserted = pool.run(
        GD_GW, ["nft", "-e", "-a", "insert", "rule", "inet", "egov_boundary", "forward", *rule.split(" ")]
    )
    assert inserted.ok, inserted.stderr
    handle = re.search(r"# handle (\d+)", inserted.stdout)
    assert handle, inserted.stdout
    try:
        code, report = verify(lab)
    finally:
        removed = pool.run(GD_GW, ["nft", "delete", "rule", "inet", "egov_boundary", "forward", "handle", handle[1]])
        assert removed.ok, removed.stderr
    assert code == 1
    assert bad_paths(report, "violation") == [f"gd-school-1 -> gd-edu-1 {GD_EDU}:8080/tcp"]
    [violation] = [p for p in report["paths"] if p["verdict"] == "violation"]
    assert violation["observed"] in ("open", "refused")  # nothing listens on 8080: the RST proves the path
    assert violation["rule"] == f"gd-gw-1 rule {handle[1]} +1 packets (no flow comment)"
    assert [(f["kind"], f["where"]) for f in report["findings"] if f["kind"] == "unjustified-rule"] == [
        ("unjustified-rule", "gd-gw-1")
    ]
    # The monitoring engine reads the newest verify: the open path fires its alert, naming the path and the rule.
    fired = firing_alerts(lab, "NetworkPathViolation")
    assert [a["labels"]["path"] for a in fired] == [f"gd-school-1 -> gd-edu-1 {GD_EDU}:8080/tcp"], fired
    assert fired[0]["labels"]["rule"] == f"gd-gw-1 rule {handle[1]} (no flow comment)"
    # With the rule gone, the next verify is clean again (and is the newest: later tests see a clean network).
    again, after = verify(lab)
    assert again == 0 and bad_paths(after, "violation") == []


def test_a_stopped_service_is_a_breakage_of_its_flow(lab: Lab, provisioned: None) -> None:
    stopped = lab.egov("lab", "fault", "mn-portal-1", "down", "--service", "portal")
    assert stopped.returncode == 0, stopped.stderr
    try:
        code, report = verify(lab, "--zone", "outside")
    finally:
        started = lab.egov("lab", "fault", "mn-portal-1", "up", "--service", "portal")
        assert started.returncode == 0, started.stderr
    assert code == 1 and bad_paths(report, "violation") == []
    assert bad_paths(report, "breakage") == [
        "ext-probe-1 -> mn-portal-1 10.198.10.11:443/tcp", "ext-probe-1 -> mn-portal-1 10.198.10.11:80/tcp",
    ]  # fmt: skip
    assert {p["observed"] for p in report["paths"] if p["verdict"] == "breakage"} == {"refused"}


def test_an_isolated_host_shows_in_the_matrix_and_heals_back(lab: Lab, provisioned: None) -> None:
    isolated = lab.egov("lab", "fault", "gd-school-1", "isolate")
    assert isolated.returncode == 0, isolated.stderr
    try:
        code, report = verify(lab, "--zone", "school-gd")
    finally:
        healed = lab.egov("lab", "fault", "gd-school-1", "heal")
        assert healed.returncode == 0, healed.stderr
    assert code == 1
    assert ("source-unreachable", "gd-school-1") in [(f["kind"], f["where"]) for f in report["findings"]]
    assert "controlplane -> gd-school-1 10.198.0.51:22/tcp" in bad_paths(report, "breakage")
    again, after = verify(lab, "--zone", "school-gd")
    assert again == 0 and after["ok"], bad_paths(after, "breakage") + [f["detail"] for f in after["findings"]]

