"""`egov network` as an operator runs it: show, rules, verify's output and exit codes 0/1/2."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from tests.conftest import REPO, egov, write_config

T0 = dt.datetime(2026, 12, 8, 0, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site on the shipped lab inventory and flow file (nothing here contacts a host)."""
    folder = tmp_path_factory.mktemp("network-site")
    write_config(folder)
    assert egov(folder, "init").returncode == 0
    return folder


@pytest.fixture
def own_inventory(tmp_path: Path) -> Path:
    """A site whose inventory folder is its own, so its network.yml can be broken or removed."""
    (tmp_path / "inventory").mkdir()
    shutil.copy(REPO / "inventory" / "lab.yml", tmp_path / "inventory" / "lab.yml")
    shutil.copy(REPO / "inventory" / "network.yml", tmp_path / "inventory" / "network.yml")
    folders = {"inventory": str(tmp_path / "inventory" / "lab.yml"), "playbooks": str(REPO / "playbooks")}
    write_config(tmp_path, folders=folders)
    return tmp_path


def test_network_is_an_egov_command() -> None:
    from controlplane.cli import COMMANDS

    assert COMMANDS["network"][:2] == ("controlplane.cli.network", "network")


def test_show_json_lists_zones_with_members_and_addresses_gateways_and_flows(site: Path) -> None:
    result = egov(site, "network", "show", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["gateways"] == ["mn-gw-1", "gd-gw-1", "hn-gw-1"]
    school = next(zone for zone in data["zones"] if zone["name"] == "school-gd")
    assert school["members"] == [{"host": "gd-school-1", "address": "10.198.50.51"}]
    assert school["routers"] == {"gd-gw-1": "10.198.50.1"}
    assert [flow["id"] for flow in data["flows"]][:3] == ["management-ssh", "backup-sftp", "public-web"]


def test_show_prints_the_zones_and_flows_as_tables(site: Path) -> None:
    result = egov(site, "network", "show")
    assert result.returncode == 0, result.stderr
    assert "province-gd" in result.stdout and "portal-database" in result.stdout and "tcp/5432" in result.stdout


def test_rules_prints_the_boundary_provision_loads_and_refuses_a_host_that_is_no_gateway(site: Path) -> None:
    result = egov(site, "network", "rules", "gd-gw-1")
    assert result.returncode == 0, result.stderr
    assert "table inet egov_boundary {" in result.stdout and "flow:school-gd-province" in result.stdout
    refused = egov(site, "network", "rules", "gd-school-1")
    assert refused.returncode == 2 and "is no gateway" in refused.stderr


def test_an_unknown_zone_is_bad_input_and_no_run_is_created(site: Path) -> None:
    result = egov(site, "network", "verify", "--zone", "atlantis")
    assert result.returncode == 2 and "unknown zone 'atlantis'" in result.stderr
    listed = egov(site, "runs", "list", "--json")
    assert listed.returncode == 0 and "network-verify" not in listed.stdout


def test_a_malformed_flow_file_is_bad_input_naming_the_key(own_inventory: Path) -> None:
    path = own_inventory / "inventory" / "network.yml"
    path.write_text(path.read_text(encoding="utf-8").replace("tcp: [5432]", "tcp: [70000]"), encoding="utf-8")
    for args in (("show",), ("verify",)):
        result = egov(own_inventory, "network", *args)
        assert result.returncode == 2, result.stderr
        assert "network.yml" in result.stderr and "70000" in result.stderr


def test_a_site_without_a_flow_file_is_bad_input(own_inventory: Path) -> None:
    (own_inventory / "inventory" / "network.yml").unlink()
    result = egov(own_inventory, "network", "verify")
    assert result.returncode == 2 and "no flow file" in result.stderr


def fake_report(violation: bool) -> Any:
    from controlplane.network.results import Finding, PathResult, VerifyReport

    paths = [
        PathResult("ext-probe-1", "outside", "mn-portal-1", "dmz", "10.198.10.11", "tcp", 443, "allow", "public-web",
                   "open", "ok", "mn-gw-1 flow:public-web +1 packets"),
    ]  # fmt: skip
    if violation:
        paths.append(
            PathResult("gd-school-1", "school-gd", "gd-edu-1", "province-gd", "10.198.40.41", "tcp", 8080, "deny",
                       None, "refused", "violation", "gd-gw-1 rule 31 +1 packets (no flow comment)")
        )  # fmt: skip
    findings = (Finding("unjustified-rule", "gd-gw-1", "rule 31 (accept tcp any -> any dport 8080) has no flow:<id>"),)
    return VerifyReport(7, 12, T0, T0 + dt.timedelta(seconds=2), tuple(paths), findings if violation else (),
                        sources=("ext-probe-1", "gd-school-1"))  # fmt: skip


def invoke(site: Path, monkeypatch: pytest.MonkeyPatch, report: Any, *args: str) -> Any:
    import controlplane.network.verify as verify_module
    from controlplane.cli import egov as egov_group

    asked: list[dict[str, Any]] = []

    def run_verify(config: Any, store: Any, **kwargs: Any) -> Any:
        asked.append(kwargs)
        return report

    monkeypatch.setattr(verify_module, "run_verify", run_verify)
    monkeypatch.setenv("COLUMNS", "200")
    result = CliRunner().invoke(egov_group, ["--config", str(site / "egov.yml"), "network", "verify", *args])
    return result, asked


def test_verify_json_prints_the_stored_report_and_exits_1_on_a_violation(site: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    result, asked = invoke(site, monkeypatch, fake_report(True), "--json")
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["id"] == 7 and data["counts"]["violations"] == 1 and not data["ok"]
    assert asked[0]["plan"].zone is None and asked[0]["actor"].endswith("@cli")


def test_verify_shows_each_violation_with_its_gateway_rule_and_exits_0_when_clean(site: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    result, _ = invoke(site, monkeypatch, fake_report(True), "--zone", "school-gd")
    assert result.exit_code == 1
    assert "VIOLATION" in result.stdout and "gd-gw-1 rule 31 +1 packets (no flow comment)" in result.stdout
    assert "unjustified-rule" in result.stdout and "NOT CLEAN" in result.stdout
    clean, asked = invoke(site, monkeypatch, fake_report(False), "--zone", "school-gd")
    assert clean.exit_code == 0 and "clean" in clean.stdout and "VIOLATION" not in clean.stdout
    assert asked[0]["plan"].zone == "school-gd"
