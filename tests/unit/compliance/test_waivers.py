"""Waivers: the file format, errors naming the line, expiry, and what a waiver may cover."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from controlplane.compliance.evaluate import Result
from controlplane.compliance.waivers import apply_waivers, expired_waivers, load_waivers, validate_waivers
from controlplane.errors import ConfigError

VALID = """\
# Waivers approved by the ministry's security officer.
waivers:
  - control: ssh.access-restricted
    hosts: [mn-db-1]
    justification: Vendor database agent logs in with its own account until the 2027 upgrade.
    approver: Zhang Wei (security officer)
    expires: 2026-12-31
  - control: services.cups
    sites: [school-gd-1]
    justification: The school office prints report cards from this server.
    approver: Li Na (security officer)
    expires: 2026-06-30
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "waivers.yml"
    path.write_text(text, encoding="utf-8")
    return path


def result(control: str, host: str, site: str, status: str = "fail") -> Result:
    return Result(control_id=control, host=host, site=site, severity="medium", status=status, found="x", expected="y")


def test_a_valid_waiver_file_loads_with_the_line_of_each_entry(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    first, second = load_waivers(path, known_controls={"ssh.access-restricted", "services.cups"})
    assert (first.control, first.hosts, first.expires) == ("ssh.access-restricted", ("mn-db-1",), date(2026, 12, 31))
    assert second.sites == ("school-gd-1",) and second.source == f"{path}:8"


def test_a_missing_waiver_file_means_no_waivers(tmp_path: Path) -> None:
    assert load_waivers(tmp_path / "none.yml") == []


def test_a_waiver_without_approver_is_an_error_naming_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("    approver: Li Na (security officer)\n", ""))
    with pytest.raises(ConfigError) as raised:
        load_waivers(path)
    assert raised.value.problems == [("line 8: waivers[1]", "'approver' is a required property")]
    assert f"{path}: line 8: waivers[1]: 'approver' is a required property" in str(raised.value)


def test_a_waiver_naming_neither_hosts_nor_sites_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace("    hosts: [mn-db-1]\n", ""))
    with pytest.raises(ConfigError, match=r"line 3: waivers\[0\]: name the waived hosts or sites"):
        load_waivers(path)


def test_every_bad_entry_is_reported_at_once_with_the_line_of_the_bad_key(tmp_path: Path) -> None:
    bad = VALID.replace("expires: 2026-12-31", "expires: next year").replace(
        "justification: The school", "justifcation: The school"
    )
    problems = validate_waivers(write(tmp_path, bad))
    wheres = [where for where, _ in problems]
    assert "line 7: waivers[0].expires" in wheres
    assert any(where == "line 8: waivers[1]" and "justifcation" in message for where, message in problems)


def test_an_impossible_date_and_an_unknown_control_are_errors(tmp_path: Path) -> None:
    text = VALID.replace("expires: 2026-06-30", "expires: '2026-02-30'").replace(
        "ssh.access-restricted", "ssh.acces-restricted"
    )
    with pytest.raises(ConfigError) as raised:
        load_waivers(write(tmp_path, text), known_controls={"ssh.access-restricted", "services.cups"})
    assert dict(raised.value.problems) == {
        "line 3: waivers[0].control": "unknown control 'ssh.acces-restricted'",
        "line 8: waivers[1].expires": "'2026-02-30' is not a real date",
    }


def test_a_yaml_syntax_error_in_the_waiver_file_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="line 3"):
        load_waivers(write(tmp_path, "waivers:\n  - control: [x\n    hosts: y\n"))


def test_an_active_waiver_turns_a_failure_into_waived_and_keeps_the_evidence(tmp_path: Path) -> None:
    waivers = load_waivers(write(tmp_path, VALID))
    results = [
        result("ssh.access-restricted", "mn-db-1", "ministry"),
        result("ssh.access-restricted", "mn-oa-1", "ministry"),
    ]
    waived, untouched = apply_waivers(results, waivers, today=date(2026, 11, 25))
    assert (waived.status, waived.original_status, waived.found) == ("waived", "fail", "x")
    assert waived.waiver["approver"] == "Zhang Wei (security officer)"
    assert untouched.status == "fail"
    assert results[0].status == "fail"  # inputs unchanged


def test_a_site_waiver_covers_every_host_of_the_site(tmp_path: Path) -> None:
    waivers = load_waivers(write(tmp_path, VALID))
    (waived,) = apply_waivers([result("services.cups", "gd-school-1", "school-gd-1")], waivers, today=date(2026, 6, 30))
    assert waived.status == "waived"


def test_an_expired_waiver_stops_applying_the_day_after_its_expiry(tmp_path: Path) -> None:
    waivers = load_waivers(write(tmp_path, VALID))
    (still_failing,) = apply_waivers(
        [result("services.cups", "gd-school-1", "school-gd-1")], waivers, today=date(2026, 7, 1)
    )
    assert still_failing.status == "fail"
    assert [w.control for w in expired_waivers(waivers, date(2026, 7, 1))] == ["services.cups"]


def test_errors_and_passes_are_never_waived(tmp_path: Path) -> None:
    waivers = load_waivers(write(tmp_path, VALID))
    results = [
        result("ssh.access-restricted", "mn-db-1", "ministry", "error"),
        result("ssh.access-restricted", "mn-db-1", "ministry", "pass"),
    ]
    assert [r.status for r in apply_waivers(results, waivers, today=date(2026, 1, 1))] == ["error", "pass"]
