"""The monitoring folder: validation with every problem at once, checks per inventory host."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.errors import ConfigError
from controlplane.inventory import load_inventory
from controlplane.monitoring.labels import fingerprint, format_duration, parse_duration
from controlplane.monitoring.spec import expand_checks
from controlplane.monitoring.spec_loader import load_monitoring
from tests.conftest import REPO
from tests.unit.monitoring.helpers import PROBES, RULES, make_spec, write_monitoring


def test_the_repository_monitoring_folder_is_valid_and_covers_every_lab_host() -> None:
    spec = load_monitoring(REPO / "monitoring", ("oncall", "oncall-lead"))
    checks = expand_checks(spec, load_inventory(REPO / "inventory" / "lab.yml"))
    ssh_hosts = {c.host for c in checks if c.probe.name == "ssh"}
    assert len(ssh_hosts) == 15
    assert {c.host for c in checks if c.probe.name == "portal-http"} == {"mn-portal-1", "mn-portal-2", "dr-app-1"}
    assert [c.host for c in checks if c.probe.type == "failed_runs"] == ["controlplane"]


def test_every_problem_of_every_file_is_reported_at_once(tmp_path: Path) -> None:
    folder = write_monitoring(
        tmp_path / "m",
        probes={"probes": [*PROBES, {"name": "ssh", "type": "tcp", "port": 22}, {"name": "x", "type": "http"}]},
        rules={"rules": [*RULES, {"alert": "Nope", "probe": "missing"}]},
        alerting={"route": {"receiver": "nobody"}, "inhibit_rules": [{"source_matchers": ["a=~("],
                                                                       "target_matchers": ["b=c"]}]},
        silences={"silences": [{"name": "s", "matchers": ["host=a"], "author": "me", "comment": "why"}]},
    )  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        load_monitoring(folder, ("oncall",))
    text = caught.value.message
    expectations = ["probes.yml", "duplicate probe name", "needs url", "rules.yml", "unknown probe 'missing'"]
    expectations += ["unknown receiver 'nobody'", "bad regular expression", "silences.yml", "needs ends_at"]
    for expected in expectations:
        assert expected in text, expected


def test_a_duplicate_probe_name_and_a_timeout_over_the_interval_are_refused(tmp_path: Path) -> None:
    slow = {"name": "slow", "type": "ssh", "interval": "5s", "timeout": "6s"}
    folder = write_monitoring(tmp_path / "m", probes={"probes": [*PROBES, {"name": "ssh", "type": "ssh"}, slow]})
    with pytest.raises(ConfigError) as caught:
        load_monitoring(folder)
    assert "duplicate probe name 'ssh'" in caught.value.message
    assert "timeout must not exceed interval" in caught.value.message


def test_a_schema_error_names_the_file_and_key_path(tmp_path: Path) -> None:
    folder = write_monitoring(tmp_path / "m", probes={"probes": [{"name": "x", "type": "ssh", "interval": "fast"}]})
    with pytest.raises(ConfigError) as caught:
        load_monitoring(folder)
    assert "probes.yml: probes[0].interval" in caught.value.message


def test_probes_select_hosts_by_site_with_its_children_role_and_name(tmp_path: Path) -> None:
    spec = make_spec(tmp_path / "m", probes={"probes": [
        {"name": "gd", "type": "ssh", "select": {"sites": ["province-gd"]}},
        {"name": "db", "type": "tcp", "port": 5432, "select": {"roles": ["database"]}},
        {"name": "two", "type": "ssh", "select": {"hosts": ["mn-oa-1", "gd-edu-1"], "exclude": ["gd-edu-1"]}},
        {"name": "ssh", "type": "ssh"}, {"name": "health", "type": "health"}]})  # fmt: skip
    checks = expand_checks(spec, load_inventory(REPO / "inventory" / "lab.yml"))
    by_probe: dict[str, list[str]] = {}
    for check in checks:
        by_probe.setdefault(check.probe.name, []).append(check.host)
    assert by_probe["gd"] == ["gd-edu-1", "gd-gw-1", "gd-school-1"]  # the school site is a child of the province
    assert by_probe["db"] == ["mn-db-1"]
    assert by_probe["two"] == ["mn-oa-1"]


def test_durations_read_like_prometheus_durations() -> None:
    assert parse_duration("1h30m") == 5400
    assert parse_duration("250ms") == 0.25
    assert parse_duration(7) == 7.0
    assert format_duration(5400) == "1h30m"
    assert format_duration(0) == "0s"
    with pytest.raises(ValueError):
        parse_duration("5 minutes")


def test_the_fingerprint_is_alertmanagers_fnv1a_over_sorted_labels() -> None:
    assert fingerprint({}) == "cbf29ce484222325"  # FNV-1a 64 offset basis: Alertmanager's empty label set
    assert fingerprint({"b": "2", "a": "1"}) == fingerprint({"a": "1", "b": "2"})
    assert fingerprint({"a": "1"}) != fingerprint({"a": "1", "b": ""})
    assert len(fingerprint({"alertname": "HostDown"})) == 16


def test_every_runbook_link_of_the_repository_rules_points_at_a_file_of_the_repository() -> None:
    spec = load_monitoring(REPO / "monitoring")
    links = {r.annotations["runbook_url"] for r in spec.rules if "runbook_url" in r.annotations}
    assert links and all((REPO / link).is_file() for link in links), links
