"""Adding a host to the inventory by a text edit: every other byte kept, the edit proved by a load, or rolled back."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from controlplane.automation import inventory_edit
from controlplane.errors import ConfigError, EgovError
from controlplane.inventory import load_inventory
from tests.conftest import REPO


def _lab_copy(tmp_path: Path) -> Path:
    path = tmp_path / "inventory.yml"
    shutil.copyfile(REPO / "inventory" / "lab.yml", path)
    return path


def _added_lines(before: str, after: str) -> list[str]:
    """The lines ``after`` has beyond ``before``, after checking every line of ``before`` survives in order."""
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    added, position = [], 0
    for line in new:
        if position < len(old) and line == old[position]:
            position += 1
        else:
            added.append(line)
    assert position == len(old), "a line of the original file was changed or lost"
    return added


def test_a_school_server_lands_under_its_site_and_role_and_every_other_byte_stays(tmp_path: Path) -> None:
    path = _lab_copy(tmp_path)
    before = path.read_text(encoding="utf-8")
    placement, problems = inventory_edit.place(path, "school-gd-1", "school")
    assert problems == [] and placement is not None
    loaded = inventory_edit.add_host(path, placement, name="gd-school-2", address="10.198.0.52", state_dir=tmp_path)
    after = path.read_text(encoding="utf-8")
    # The site group's block style gets one line; the role group's flow mapping grows in place; nothing else moves.
    site_line = "        gd-school-1: {ansible_host: 10.198.0.51}\n"
    role_line = "      hosts: {gd-school-1: {}, hn-school-1: {}}\n"
    assert before.count(site_line) == 1 and before.count(role_line) == 1
    assert after == before.replace(site_line, site_line + "        gd-school-2: {ansible_host: 10.198.0.52}\n").replace(
        role_line, "      hosts: {gd-school-1: {}, hn-school-1: {}, gd-school-2: {}}\n"
    )
    host = loaded.host("gd-school-2")
    assert (host.address, host.site, host.role) == ("10.198.0.52", "school-gd-1", "school")


def test_a_host_on_another_port_gets_ansible_port_as_a_number(tmp_path: Path) -> None:
    path = _lab_copy(tmp_path)
    placement, _ = inventory_edit.place(path, "province-gd", "office")
    assert placement is not None
    loaded = inventory_edit.add_host(
        path, placement, name="gd-edu-2", address="10.198.0.42", port=2222, state_dir=tmp_path
    )
    assert "gd-edu-2: {ansible_host: 10.198.0.42, ansible_port: 2222}" in path.read_text(encoding="utf-8")
    assert loaded.host("gd-edu-2").port == 2222


def test_block_style_hosts_get_a_block_entry_at_the_same_indentation() -> None:
    text = (
        "all:\n"
        "  children:\n"
        "    school_x:\n"
        "      vars: {site: school-x, site_level: school}\n"
        "      hosts:\n"
        "        x-1:\n"
        "          ansible_host: 10.0.0.1   # the first one\n"
        "\n"
        "        # x-9 retired in 2024\n"
        "    school:\n"
        "      vars: {role: school}\n"
        "      hosts:\n"
        "        x-1:\n"
    )
    edited = inventory_edit.insert_host(text, ("all", "children", "school_x"), "x-2", {"ansible_host": "10.0.0.2"})
    edited = inventory_edit.insert_host(edited, ("all", "children", "school"), "x-2", {})
    assert edited.splitlines()[5:9] == [
        "        x-1:",
        "          ansible_host: 10.0.0.1   # the first one",
        "        x-2:",
        "          ansible_host: 10.0.0.2",
    ]
    assert edited.endswith("      hosts:\n        x-1:\n        x-2: {}\n")
    assert _added_lines(text, edited) == ["        x-2:\n", "          ansible_host: 10.0.0.2\n", "        x-2: {}\n"]


def test_a_group_without_hosts_gets_a_hosts_key_and_crlf_files_stay_crlf() -> None:
    text = "all:\r\n  children:\r\n    kiosk:\r\n      vars:\r\n        role: kiosk\r\n"
    edited = inventory_edit.insert_host(text, ("all", "children", "kiosk"), "k-1", {})
    assert edited == text + "      hosts:\r\n        k-1: {}\r\n"


def test_an_empty_flow_mapping_and_an_empty_hosts_key_take_the_first_host() -> None:
    assert inventory_edit.insert_host("g:\n  hosts: {}\n", ("g",), "a", {}) == "g:\n  hosts: {a: {}}\n"
    assert inventory_edit.insert_host("g:\n  hosts:\n  vars: {role: r}\n", ("g",), "a", {}) == (
        "g:\n  hosts:\n    a: {}\n  vars: {role: r}\n"
    )


def test_values_yaml_would_misread_are_quoted() -> None:
    assert inventory_edit.yaml_scalar("10.198.0.52") == "10.198.0.52"
    assert inventory_edit.yaml_scalar("fe80::1") == "fe80::1"
    assert inventory_edit.yaml_scalar("1.5") == '"1.5"'
    assert not inventory_edit.reads_as_string("true")
    assert not inventory_edit.reads_as_string("0x1f")
    assert inventory_edit.reads_as_string("gd-school-2")


def test_unknown_site_and_role_are_both_reported_with_what_exists(tmp_path: Path) -> None:
    placement, problems = inventory_edit.place(_lab_copy(tmp_path), "school-zz-9", "kiosk")
    assert placement is None
    assert len(problems) == 2
    assert "unknown site 'school-zz-9'" in problems[0] and "school-gd-1" in problems[0]
    assert "unknown role 'kiosk'" in problems[1] and "school" in problems[1]


def test_an_edit_ansible_does_not_accept_is_rolled_back_byte_for_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _lab_copy(tmp_path)
    before = path.read_bytes()
    placement, _ = inventory_edit.place(path, "school-gd-1", "school")
    assert placement is not None
    # A broken edit (an unclosed flow sequence), which YAML refuses.
    monkeypatch.setattr(inventory_edit, "insert_host", lambda text, *a: text + "   broken: [\n")
    with pytest.raises(ConfigError):
        inventory_edit.add_host(path, placement, name="gd-school-2", address="10.198.0.52", state_dir=tmp_path)
    assert path.read_bytes() == before


def test_an_edit_that_loads_without_the_host_is_rolled_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _lab_copy(tmp_path)
    before = path.read_bytes()
    placement, _ = inventory_edit.place(path, "school-gd-1", "school")
    assert placement is not None
    monkeypatch.setattr(inventory_edit, "insert_host", lambda text, *a: text + "# nothing\n")
    with pytest.raises(EgovError, match=r"did not load .* rolled back"):
        inventory_edit.add_host(path, placement, name="gd-school-2", address="10.198.0.52", state_dir=tmp_path)
    assert path.read_bytes() == before
    assert load_inventory(path).hosts  # still the file it was


def test_names_and_addresses_already_taken_are_named(tmp_path: Path) -> None:
    path = _lab_copy(tmp_path)
    loaded, groups = load_inventory(path), inventory_edit.find_groups(path)
    assert inventory_edit.check_name_free(loaded, groups, "new-1", "10.198.0.99") == []
    problems = inventory_edit.check_name_free(loaded, groups, "gd-school-1", "10.198.0.14")
    assert any("'gd-school-1' is already in the inventory" in p for p in problems)
    assert any("10.198.0.14 is already the address of mn-db-1" in p for p in problems)
    assert inventory_edit.check_name_free(loaded, groups, "school", "10.198.0.99") == [
        "NAME: 'school' is the name of an inventory group"
    ]


def test_an_inventory_folder_gets_the_host_in_the_files_holding_its_site_and_its_role(tmp_path: Path) -> None:
    folder = tmp_path / "inventory"
    folder.mkdir()
    sites = (
        "# sites\nall:\n  vars: {ansible_user: root}\n  children:\n"
        "    school_x:\n      vars: {site: school-x}\n      hosts:\n        x-1: {ansible_host: 10.0.0.1}\n"
    )
    roles = "# roles\nall:\n  children:\n    school:\n      vars: {role: school}\n      hosts: {x-1: {}}\n"
    (folder / "10-sites.yml").write_text(sites, encoding="utf-8")
    (folder / "20-roles.yml").write_text(roles, encoding="utf-8")
    placement, problems = inventory_edit.place(folder, "school-x", "school")
    assert problems == [] and placement is not None
    loaded = inventory_edit.add_host(folder, placement, name="x-2", address="10.0.0.2", state_dir=tmp_path)
    assert (folder / "10-sites.yml").read_text(encoding="utf-8") == sites + "        x-2: {ansible_host: 10.0.0.2}\n"
    assert (folder / "20-roles.yml").read_text(encoding="utf-8") == roles.replace("{x-1: {}}", "{x-1: {}, x-2: {}}")
    assert loaded.host("x-2").role == "school"
