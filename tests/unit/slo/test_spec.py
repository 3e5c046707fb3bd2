"""slo.yml: the shipped file is valid and covers the lab; every problem is reported at once with file and key path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from controlplane.errors import ConfigError
from tests.conftest import REPO, egov, write_config
from tests.unit.slo.conftest import SLO, write_folder


def load(folder: Path, inventory: Any, strict: bool = True) -> Any:
    from controlplane.monitoring.spec_loader import load_monitoring
    from controlplane.slo.spec import load_slo

    return load_slo(folder, load_monitoring(folder), inventory, strict=strict)


def test_the_shipped_objectives_cover_the_portal_office_database_and_backup_centers(lab_inventory) -> None:  # type: ignore[no-untyped-def]
    slo = load(REPO / "monitoring", lab_inventory)
    by_name = {s.name: s for s in slo.services}
    assert by_name["portal"].checks == (("portal-vip", "mn-portal-1"),)  # through the VIP
    assert by_name["portal"].public and by_name["portal"].runbook == "failover-portal"
    assert {(s.site, s.checks[0][0]) for s in slo.services} == {
        ("ministry", "portal-vip"), ("ministry", "office-http"), ("province-gd", "office-http"),
        ("ministry", "database-tcp"), ("backup-center", "ssh"), ("dr-center", "ssh"),
    }  # fmt: skip
    assert [r.label for r in by_name["database"].burn_rates] == ["1h/5m", "6h/30m"]
    assert slo.timezone == "Asia/Shanghai"


def test_a_missing_file_means_no_objectives(tmp_path: Path, lab_inventory) -> None:  # type: ignore[no-untyped-def]
    folder = write_folder(tmp_path / "m")
    (folder / "slo.yml").unlink()
    assert load(folder, lab_inventory).services == ()


BROKEN = {
    "defaults": {"objective": 100, "slice": "7s", "timezone": "Mars/Olympus"},
    "services": [
        {"name": "portal", "site": "ministry", "checks": [{"probe": "nope"}]},
        {"name": "portal", "site": "gone-site", "checks": [{"probe": "portal-http", "hosts": ["retired-9"]}]},
        {"name": "Bad Name", "site": "ministry", "checks": []},
        {"name": "leaky", "site": "ministry", "public": True, "title": {"en": "portal on mn-portal-1"},
         "checks": [{"probe": "portal-http"}]},
        {"name": "fast", "site": "ministry", "objective": 99.0, "checks": [{"probe": "ssh", "hosts": ["mn-db-1"]}],
         "burn_rate_alerts": [{"long": "5m", "short": "1h", "factor": 200}]},
        {"name": "x", "site": "ministry", "checks": [{"probe": "ssh", "hosts": ["mn-db-1"]}], "colour": "red"},
    ],
}  # fmt: skip


def test_every_problem_of_slo_yml_is_reported_at_once_with_its_key_path(tmp_path: Path, lab_inventory) -> None:  # type: ignore[no-untyped-def]
    folder = write_folder(tmp_path / "m", slo={**BROKEN, "defaults": {"slice": "7s", "timezone": "Mars/Olympus"}})
    with pytest.raises(ConfigError) as caught:
        load(folder, lab_inventory)
    message = caught.value.message
    assert caught.value.source == str(folder / "slo.yml")
    # The schema's problems come first and all together (a name, an empty list, an unknown key).
    for expected in ("services[2].name", "services[2].checks", "services[5]", "colour"):
        assert expected in message, expected
    hostile = {"services": [{"name": "p", "site": "../..", "checks": [{"probe": "$(id)", "hosts": ["; rm -rf /"]}],
                             "title": {"zh": "a\nb"}}]}  # fmt: skip
    write_folder(tmp_path / "m", slo=hostile)
    with pytest.raises(ConfigError) as caught:
        load(folder, lab_inventory)
    paths = [path for path, _message in caught.value.problems]
    for expected in ("services[0].site", "services[0].checks[0].probe", "services[0].checks[0].hosts[0]",
                     "services[0].title.zh"):  # fmt: skip
        assert expected in paths, (expected, paths)
    fixed = {**BROKEN, "services": BROKEN["services"][:2] + BROKEN["services"][3:5]}
    write_folder(tmp_path / "m", slo={**fixed, "defaults": {"slice": "7s", "timezone": "Mars/Olympus"}})
    with pytest.raises(ConfigError) as caught:
        load(folder, lab_inventory)
    problems = dict(caught.value.problems)
    assert "unknown time zone 'Mars/Olympus'" in problems["defaults.timezone"]
    assert "does not divide a minute" in problems["defaults.slice"]
    assert "unknown probe 'nope'" in problems["services[0].checks[0].probe"]
    assert "duplicate service name 'portal'" in problems["services[1].name"]
    assert "unknown site 'gone-site'" in problems["services[1].site"]
    assert "does not probe host 'retired-9'" in problems["services[1].checks[0].hosts"]
    assert "name no host or address" in problems["services[2]"]
    assert "longer than the short one" in problems["services[3].burn_rate_alerts[0]"]
    assert "could never fire" in problems["services[3].burn_rate_alerts[0].factor"]


def test_the_monitor_skips_a_service_whose_hosts_left_the_inventory(tmp_path: Path, lab_inventory) -> None:  # type: ignore[no-untyped-def]
    gone = {**SLO, "services": [*SLO["services"], {"name": "old", "site": "ministry",
                                                    "checks": [{"probe": "ssh", "hosts": ["retired-1"]}]}]}  # fmt: skip
    folder = write_folder(tmp_path / "m", slo=gone)
    with pytest.raises(ConfigError, match="retired-1"):
        load(folder, lab_inventory)
    assert [s.name for s in load(folder, lab_inventory, strict=False).services] == ["portal", "backup-center"]


def test_egov_slo_check_exits_2_naming_the_file_and_key_paths(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "m", slo={"defaults": {"slice": "7s"}, "services": BROKEN["services"][:2]})
    write_config(tmp_path, folders={"inventory": str(REPO / "inventory" / "lab.yml"), "monitoring": str(folder)})
    for command in (["slo", "check"], ["report", "availability", "--month", "2026-11"], ["export", "slo", "-o", "x"],
                    ["maintenance", "list"]):  # fmt: skip
        done = egov(tmp_path, *command)
        if command[0] == "maintenance":
            assert done.returncode == 0  # listing windows needs no objectives
            continue
        assert done.returncode == 2, (command, done.stderr)
        assert f"{folder / 'slo.yml'}: services[0].checks[0].probe: unknown probe 'nope'" in done.stderr
        assert "services[1].site" in done.stderr and "Traceback" not in done.stderr
