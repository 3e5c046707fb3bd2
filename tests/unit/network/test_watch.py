"""What the network engine tells compliance and the alerts, the daily verify, the verify after provision, isolation."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from controlplane import providers
from controlplane.network import runbook_facade, watch
from controlplane.network.facts import describe_path, facts_from
from controlplane.network.results import PathResult, VerifyReport
from tests.unit.network.shipped_network import lab_inventory, lab_network

FINISHED = datetime(2026, 12, 8, 2, 0, 5, tzinfo=UTC)
HOSTS = [host.name for host in lab_inventory().hosts]


def path(source: str, destination: str, port: int | None, verdict: str = "ok", **values: Any) -> PathResult:
    model = lab_network()

    def zone(host: str) -> str:
        return "management" if host == "controlplane" else model.zone_of(host).name  # type: ignore[union-attr]

    fields = {
        "source": source, "source_zone": zone(source), "destination": destination,
        "destination_zone": zone(destination), "address": str(model.zone_address(destination)),
        "protocol": "tcp" if port is not None else "icmp", "port": port, "expected": "deny", "flow": None,
        "observed": "timeout", "verdict": verdict, "rule": None,
    }  # fmt: skip
    return PathResult(**{**fields, **values})


def report(*paths: PathResult, zone: str | None = None) -> VerifyReport:
    return VerifyReport(4, 40, FINISHED - timedelta(seconds=2), FINISHED, tuple(paths), (), zone=zone)


OPENED = path("gd-school-1", "mn-db-1", 5432, "violation", observed="open", rule="gd-gw-1 flow:x +1 packets")
BROKEN = path("ext-probe-1", "mn-portal-1", 443, "breakage", expected="allow", flow="public-web", observed="refused")


def test_every_placed_host_gets_the_flows_and_unplaced_ones_nothing() -> None:
    facts = facts_from(lab_network(), None, [*HOSTS, "not-in-the-model"])
    assert set(facts) == set(HOSTS)  # every lab host is a zone member or a gateway
    assert facts["mn-db-1"]["network.flows"][:3] == ["management-ssh", "backup-sftp", "public-web"]
    # A gateway's rules are justified by the flows crossing it only (management-ssh crosses none: out of band).
    assert facts["mn-gw-1"]["network.flows"] == ["backup-sftp", "public-web", "portal-database",
                                                 "provinces-ministry-office"]  # fmt: skip
    assert "school-gd-province" in facts["gd-gw-1"]["network.flows"]
    assert "school-gd-province" not in facts["mn-gw-1"]["network.flows"]
    assert "network.verify" not in facts["mn-db-1"]  # no verify yet


def test_a_violation_is_a_fact_of_its_source_its_destination_and_every_gateway_it_crossed() -> None:
    facts = facts_from(lab_network(), report(OPENED, BROKEN), HOSTS)
    text = describe_path(OPENED)
    assert text == "gd-school-1 -> mn-db-1 10.198.11.14:5432/tcp open (expected deny); gd-gw-1 flow:x +1 packets"
    for host in ("gd-school-1", "mn-db-1", "gd-gw-1", "mn-gw-1"):
        assert facts[host]["network.verify"]["violations"] == [text], host
    assert facts["hn-gw-1"].get("network.verify") is None  # the path does not cross it
    assert facts["mn-portal-1"]["network.verify"]["breakages"][0].startswith("ext-probe-1 -> mn-portal-1")
    assert facts["mn-portal-1"]["network.verify"]["finished_at"] == FINISHED.isoformat()


def test_the_daily_job_is_added_at_two_and_skips_a_site_without_network_yml(config, store) -> None:  # type: ignore[no-untyped-def]
    from apscheduler.schedulers.background import BackgroundScheduler

    scheduler = BackgroundScheduler(timezone="UTC")
    job = watch.add_job(scheduler, config.source)
    assert job.id == "network-verify" and job.args == (str(config.source),)
    assert str(job.trigger) == "cron[hour='2', minute='0']"
    if not watch.has_network(config):
        assert watch.scheduled_verify(str(config.source), store=store) == {"skipped": "no network.yml"}


def test_egov_serves_scheduler_carries_the_network_verify(config, store) -> None:  # type: ignore[no-untyped-def]
    from controlplane import scheduler
    from controlplane.web.schedules import JOB_SOURCES

    running = scheduler.start_scheduler(store, config, job_sources=JOB_SOURCES)
    try:
        assert running.get_job(watch.JOB_ID) is not None
    finally:
        scheduler.stop_scheduler(running)


def test_after_a_provision_the_verify_runs_and_its_violations_reach_the_provision_output(
    config,
    store,
    monkeypatch,  # type: ignore[no-untyped-def]
) -> None:
    asked: list[dict[str, Any]] = []

    def verify(config: Any, store: Any, **options: Any) -> VerifyReport:
        asked.append(options)
        return report(OPENED)

    monkeypatch.setattr(watch, "has_network", lambda config: True)
    monkeypatch.setattr("controlplane.network.verify.run_verify", verify)
    lines = watch.after_provision(config, store, 12, "alice@cli")
    assert asked == [{"actor": "alice@cli", "trigger": "provision", "hosts": (), "isolated": ()}]
    assert lines[0] == "network verify 4 (run 40): 1 path(s), 1 violation(s), 0 breakage(s)"
    assert lines[1] == f"  violation: {describe_path(OPENED)}"


def test_a_follow_up_that_fails_is_a_line_never_a_failed_provision(config, store) -> None:  # type: ignore[no-untyped-def]
    def broken(*_args: Any) -> list[str]:
        raise RuntimeError("ssh to gd-gw-1 refused")

    providers.provide(after_provision=(broken, lambda *args: ["second follow-up ran"]))
    try:
        lines = providers.after_provision(config, store, 3, "alice@cli")
    finally:
        providers.provide()
    assert lines == ["after provision: broken failed: ssh to gd-gw-1 refused", "second follow-up ran"]
    assert providers.after_provision(config, store, 3, "alice@cli") == []  # nothing provided: nothing follows


def test_a_hosts_boundary_is_its_zones_gateway_and_zone_address(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("controlplane.inventory.load_inventory", lambda path: lab_inventory())
    monkeypatch.setattr("controlplane.network.model.load_network", lambda config, inventory: lab_network())

    class Site:
        inventory = tmp_path / "lab.yml"

    assert runbook_facade.boundary_of(Site(), "gd-school-1") == {
        "gateway": "gd-gw-1", "zone": "school-gd", "address": "10.198.50.51",
    }  # fmt: skip
    assert runbook_facade.boundary_of(Site(), "gd-gw-1") is None  # a gateway is no zone member


def test_isolation_rules_load_in_nft_ahead_of_the_boundary_and_are_found_again_by_their_comment() -> None:
    import os
    import shutil

    from controlplane.network.rules import render_gateway_ruleset

    if os.geteuid() != 0 or shutil.which("nft") is None or shutil.which("unshare") is None:
        pytest.skip("needs root, nft and unshare (a throw-away network namespace)")
    rules = runbook_facade.isolation_rules("mn-db-1", "10.198.11.14", 'run 9 "quoted"')
    first = "insert rule inet egov_boundary forward ip daddr 10.198.11.14 counter drop"
    assert rules.splitlines()[0] == first + ' comment "isolate:mn-db-1 run 9 quoted"'  # quotes stripped
    script = f"nft -f - <<'EOF'\n{render_gateway_ruleset(lab_network(), 'mn-gw-1')}\nEOF\n"
    script += f"nft -f - <<'EOF'\n{rules}EOF\nnft -j list chain inet egov_boundary forward"
    done = subprocess.run(
        ["unshare", "-n", "sh", "-c", script], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    handles = runbook_facade.isolation_handles(done.stdout, "mn-db-1")
    rules_in_order = [item["rule"] for item in json.loads(done.stdout)["nftables"] if "rule" in item]
    assert len(handles) == 2 and {rule["handle"] for rule in rules_in_order[:2]} == set(handles)  # first in the chain
    assert {rule.get("comment", "").split()[0] for rule in rules_in_order[:2]} == {"isolate:mn-db-1"}
    assert runbook_facade.isolation_handles(done.stdout, "mn-db-10") == []  # another host's name is not a prefix
    with pytest.raises(ValueError):
        runbook_facade.isolation_rules("mn-db-1", "10.198.11.14; flush ruleset")
