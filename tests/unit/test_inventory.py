"""The inventory is read by ansible-core; every host has a site and a role; hostile names are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.errors import BadInputError, ConfigError
from controlplane.inventory import load_inventory

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def lab():  # type: ignore[no-untyped-def]
    return load_inventory(REPO / "inventory" / "lab.yml")


def test_the_lab_models_the_mission_network(lab) -> None:
    roles = {h.role for h in lab.hosts}
    assert len(lab.hosts) >= 8
    assert {"portal", "office", "database", "backup", "dr", "school"} <= roles
    assert {"ministry", "backup-center", "dr-center", "province-gd", "school-gd-1"} <= set(lab.sites)
    assert lab.variables["portal_vip"] == "10.198.0.100"
    assert [h.name for h in lab.hosts if h.role == "portal"] == ["mn-portal-1", "mn-portal-2"]


def test_a_site_includes_the_sites_below_it(lab) -> None:
    assert {h.name for h in lab.select(site="province-gd")} == {"gd-edu-1", "gd-gw-1", "gd-school-1"}
    assert {h.name for h in lab.select(site="school-gd-1")} == {"gd-school-1"}


def test_patterns_match_names_groups_and_globs(lab) -> None:
    assert {h.name for h in lab.select("portal")} == {"mn-portal-1", "mn-portal-2"}
    assert {h.name for h in lab.select("mn-*,dr-app-1")} == {
        "mn-portal-1",
        "mn-portal-2",
        "mn-oa-1",
        "mn-db-1",
        "mn-gw-1",
        "dr-app-1",
    }
    with pytest.raises(BadInputError, match="matches no host"):
        lab.select("nothing-*")
    with pytest.raises(BadInputError, match="unknown site"):
        lab.select(site="atlantis")


def test_an_unknown_host_is_bad_input(lab) -> None:
    with pytest.raises(BadInputError, match="unknown host"):
        lab.host("; rm -rf /")


def test_hosts_without_site_or_role_and_hostile_names_are_all_reported(tmp_path: Path) -> None:
    path = tmp_path / "bad.yml"
    path.write_text(
        "all:\n  hosts:\n"
        "    ok-host: {site: s1, role: web, ansible_host: 10.198.0.9}\n"
        "    no-site: {role: web}\n"
        "    'evil;rm -rf /': {site: s1, role: web}\n"
        "    '$(reboot)': {site: s1, role: web}\n"
        "    bad-address: {site: s1, role: web, ansible_host: '1.2.3.4; id'}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as caught:
        load_inventory(path)
    paths = [p for p, _ in caught.value.problems]
    assert "hosts.no-site" in paths
    assert "hosts.evil;rm -rf /" in paths and "hosts.$(reboot)" in paths
    assert "hosts.bad-address.ansible_host" in paths


def test_malformed_inventory_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yml"
    path.write_text("all:\n  hosts: [\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_inventory(path)
    assert "line" in caught.value.problems[0][0]


def test_a_host_name_with_a_trailing_newline_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nl.yml"
    path.write_text('all:\n  hosts:\n    "db-1\\n": {site: s1, role: web}\n', encoding="utf-8")
    with pytest.raises(ConfigError):
        load_inventory(path)


def test_threads_loading_the_inventory_at_once_all_get_it() -> None:
    """ansible's plugin loader is not thread-safe: the console's first request and the leader's duties load together."""
    import subprocess
    import sys

    # A fresh interpreter: the race is in ansible's first load of its plugins, which this test process already did.
    script = (
        "import sys, threading\nfrom pathlib import Path\nfrom controlplane.inventory import load_inventory\n"
        "errors = []\n"
        "def load():\n"
        "    try:\n        load_inventory(Path(sys.argv[1]))\n"
        "    except Exception as error:\n        errors.append(type(error).__name__)\n"
        "threads = [threading.Thread(target=load) for _ in range(4)]\n"
        "[t.start() for t in threads]\n[t.join() for t in threads]\nprint(errors)\n"
    )
    lab = str(REPO / "inventory" / "lab.yml")
    done = subprocess.run([sys.executable, "-c", script, lab], capture_output=True, text=True, check=False, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr
