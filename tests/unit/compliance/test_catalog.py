"""The control catalog: the shipped controls, a site's own controls, and errors naming file and key."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import yaml

from controlplane.compliance.catalog import CATALOG_VERSION, Catalog, load_catalog
from controlplane.compliance.checks import CHECKS
from controlplane.compliance.collector import iter_checks
from controlplane.errors import ConfigError

MINIMAL = {
    "id": "site.motd-present",
    "title_en": "A message of the day names the site",
    "title_zh": "登录提示信息包含站点名称",
    "severity": "low",
    "rationale": "Operators must see which school server they are on.",
    "check": {"type": "file_contains", "path": "/etc/motd", "pattern": "EduGov"},
    "remediation": {"role": "site_motd", "tag": "motd"},
    "references": {"mlps": [{"clause": "8.1.4.2", "title": "安全计算环境—访问控制"}], "nist": ["AC-8"]},
}


def write_controls(folder: Path, name: str, controls: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(yaml.safe_dump({"controls": controls}, allow_unicode=True), encoding="utf-8")
    return path


def test_the_shipped_catalog_has_at_least_60_controls_with_unique_ids(catalog: Catalog) -> None:
    assert len(catalog) >= 60
    assert len(catalog.ids) == len(catalog)
    assert catalog.version == CATALOG_VERSION


def test_every_shipped_control_has_titles_severity_rationale_fix_and_references(catalog: Catalog) -> None:
    for control in catalog:
        assert control.title_en and control.title_zh and control.rationale, control.id
        assert control.severity in ("critical", "high", "medium", "low"), control.id
        assert control.remediation["role"] and control.remediation["tag"], control.id
        assert control.remediation["playbook"] in ("harden", "provision"), control.id
        assert control.references["mlps"] and control.references["nist"], control.id
        assert all(ref["title"].startswith("安全") for ref in control.references["mlps"]), control.id


def test_chinese_titles_are_written_in_chinese(catalog: Catalog) -> None:
    for control in catalog:
        assert any("\u4e00" <= char <= "\u9fff" for char in control.title_zh), control.id


def test_cis_references_name_the_benchmark_version_and_most_controls_have_one(catalog: Catalog) -> None:
    with_cis = [control for control in catalog if "cis" in control.references]
    assert len(with_cis) >= 0.8 * len(catalog)
    assert {control.references["cis"]["version"] for control in with_cis} == {"1.1.0"}


def test_the_catalog_covers_every_area_the_baseline_asks_for(catalog: Catalog) -> None:
    areas = Counter(control.area for control in catalog)
    for area in ("ssh", "net", "kernel", "files", "accounts", "password", "lockout", "firewall", "services"):
        assert areas[area] >= 1, area
    for area in ("module", "mount", "audit", "logging", "updates", "time", "backup"):
        assert areas[area] >= 1, area
    assert areas["ssh"] >= 20


def test_every_check_type_the_evaluator_knows_is_used_by_the_shipped_catalog_except_command(catalog: Catalog) -> None:
    used = {check["type"] for control in catalog for check in iter_checks(control.check)}
    assert set(CHECKS) - used == {"command"}


def test_kernel_wide_controls_are_marked_so_lab_hosts_report_them_not_applicable(catalog: Catalog) -> None:
    for control in catalog:
        types = {check["type"] for check in iter_checks(control.check)}
        kernel_sysctl = control.check["type"] == "sysctl" and not control.check["keys"][0].startswith("net.")
        if kernel_sysctl or types & {"kernel_module", "mount_option"}:
            assert "kernel_wide" in control.applies.get("requires", []), control.id


def test_a_site_folder_adds_its_own_controls_and_changes_the_catalog_version(tmp_path: Path) -> None:
    write_controls(tmp_path / "controls", "site.yml", [MINIMAL])
    catalog = load_catalog(tmp_path / "controls")
    assert catalog.get("site.motd-present") is not None
    assert catalog.version.startswith(CATALOG_VERSION + "+site.")
    assert catalog.get("site.motd-present").remediation["playbook"] == "harden"


def test_a_missing_site_folder_means_only_the_shipped_controls(tmp_path: Path, catalog: Catalog) -> None:
    assert len(load_catalog(tmp_path / "nowhere")) == len(catalog)


def test_a_malformed_site_control_names_the_file_and_every_bad_key(tmp_path: Path) -> None:
    bad = {
        **MINIMAL,
        "severity": "urgent",
        "check": {"type": "sysctl", "keys": ["kernel.x"], "expected": {"equals": 1}},
    }
    del bad["title_zh"]
    path = write_controls(tmp_path / "controls", "bad.yml", [bad])
    with pytest.raises(ConfigError) as raised:
        load_catalog(tmp_path / "controls")
    assert raised.value.source == str(path)
    paths = {problem_path for problem_path, _ in raised.value.problems}
    assert {"controls[0].severity", "controls[0].check", "controls[0]"} <= paths
    text = str(raised.value)
    assert "title_zh" in text and "expected" in text and "urgent" in text


def test_an_unknown_check_type_is_an_error_naming_the_check(tmp_path: Path) -> None:
    write_controls(tmp_path / "controls", "bad.yml", [{**MINIMAL, "check": {"type": "registry", "key": "x"}}])
    with pytest.raises(ConfigError) as raised:
        load_catalog(tmp_path / "controls")
    assert any(path == "controls[0].check.type" for path, _ in raised.value.problems)


def test_a_command_check_must_name_its_program_by_absolute_path(tmp_path: Path) -> None:
    control = {**MINIMAL, "check": {"type": "command", "argv": ["sh", "-c", "true"]}}
    write_controls(tmp_path / "controls", "bad.yml", [control])
    with pytest.raises(ConfigError) as raised:
        load_catalog(tmp_path / "controls")
    assert any(path == "controls[0].check.argv[0]" for path, _ in raised.value.problems)


def test_a_duplicate_id_is_an_error_naming_both_places(tmp_path: Path) -> None:
    write_controls(tmp_path / "controls", "a.yml", [MINIMAL])
    path = write_controls(tmp_path / "controls", "b.yml", [MINIMAL])
    with pytest.raises(ConfigError) as raised:
        load_catalog(tmp_path / "controls")
    assert raised.value.source == str(path)
    assert "duplicate control id 'site.motd-present'" in str(raised.value) and "a.yml" in str(raised.value)


def test_a_site_control_reusing_a_shipped_id_is_an_error_unless_it_says_override(tmp_path: Path) -> None:
    stricter = {**MINIMAL, "id": "ssh.max-auth-tries"}
    stricter["check"] = {"type": "sshd_effective", "key": "maxauthtries", "expect": {"max": 3}}
    write_controls(tmp_path / "controls", "site.yml", [stricter])
    with pytest.raises(ConfigError, match=r"duplicate control id 'ssh\.max-auth-tries'"):
        load_catalog(tmp_path / "controls")
    write_controls(tmp_path / "controls", "site.yml", [{**stricter, "override": True}])
    catalog = load_catalog(tmp_path / "controls")
    assert catalog.get("ssh.max-auth-tries").check["expect"] == {"max": 3}
    assert len(catalog) == len(load_catalog())


def test_override_of_a_control_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    write_controls(tmp_path / "controls", "site.yml", [{**MINIMAL, "override": True}])
    with pytest.raises(ConfigError, match=r"no shipped control 'site\.motd-present' to override"):
        load_catalog(tmp_path / "controls")


def test_a_control_file_with_a_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    folder = tmp_path / "controls"
    folder.mkdir()
    (folder / "broken.yml").write_text("controls:\n  - id: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="line 3"):
        load_catalog(folder)
