"""Backup policies: the shipped lab policies, validation, hostile strings, repository layout."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from controlplane.backup import policy
from controlplane.backup import targets as resolution
from controlplane.backup.schema import POLICY_SCHEMA, sample_yaml
from controlplane.errors import BadInputError, ConfigError
from controlplane.inventory import load_inventory
from controlplane.yamlfile import schema_problems

REPO = Path(__file__).resolve().parents[3]

CENTERS = {"centers": {"primary": {"host": "bc-backup-1", "root": "/srv/restic"}}}


def good_dataset(**overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "portal-content",
        "hosts": "portal",
        "paths": ["/srv/portal"],
        "schedule": "15 * * * *",
        "rpo": "2h",
        "retention": {"keep_daily": 7},
    }
    data.update(overrides)
    return data


def write(folder: Path, name: str, data: object) -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def inventory():  # type: ignore[no-untyped-def]
    return load_inventory(REPO / "inventory" / "lab.yml")


def test_the_shipped_lab_policies_load_against_the_lab_inventory(inventory) -> None:  # type: ignore[no-untyped-def]
    loaded = policy.load_policies(REPO / "backup", inventory)
    names = {d.name for d in loaded.datasets}
    assert {"portal-content", "oa-data", "edu-db", "controlplane-db", "controlplane-keys"} <= names
    assert loaded.primary is not None and loaded.primary.host == "bc-backup-1"
    assert loaded.secondary is not None and loaded.secondary.host == "dr-backup-1"
    edu = loaded.dataset("edu-db")
    assert edu.dump is not None and edu.dump.filename == "edu.dump" and not edu.manifest
    assert edu.read_data_subset == "10%" and edu.check_schedule == "30 3 * * sun"


def test_each_dataset_resolves_to_one_repository_per_site_host_and_dataset_inside_the_site_chroot(inventory) -> None:  # type: ignore[no-untyped-def]
    loaded = policy.load_policies(REPO / "backup", inventory)
    targets = resolution.targets_of(loaded, inventory, loaded.dataset("oa-data"))
    assert [(t.host, t.site, t.repository, t.password_secret) for t in targets] == [
        (
            "mn-oa-1",
            "ministry",
            "sftp:backup-ministry@10.198.0.21:/mn-oa-1/oa-data",
            "restic:ministry:mn-oa-1:oa-data",
        ),
        (
            "gd-edu-1",
            "province-gd",
            "sftp:backup-province-gd@10.198.0.21:/gd-edu-1/oa-data",
            "restic:province-gd:gd-edu-1:oa-data",
        ),
        (
            "hn-edu-1",
            "province-hn",
            "sftp:backup-province-hn@10.198.0.21:/hn-edu-1/oa-data",
            "restic:province-hn:hn-edu-1:oa-data",
        ),
    ]


def test_each_unit_carries_its_repository_on_both_centers_and_the_active_one_is_its_repository(inventory) -> None:  # type: ignore[no-untyped-def]
    loaded = policy.load_policies(REPO / "backup", inventory)
    dataset = loaded.dataset("oa-data")
    [primary] = [t for t in resolution.targets_of(loaded, inventory, dataset) if t.host == "mn-oa-1"]
    [failed_over] = [t for t in resolution.targets_of(loaded, inventory, dataset, "secondary") if t.host == "mn-oa-1"]
    on_primary = "sftp:backup-ministry@10.198.0.21:/mn-oa-1/oa-data"
    on_secondary = "sftp:backup-ministry@10.198.0.32:/mn-oa-1/oa-data"
    assert (primary.repository, primary.repository_on("primary"), primary.repository_on("secondary")) == (
        on_primary,
        on_primary,
        on_secondary,
    )
    assert (failed_over.repository, failed_over.repository_on("primary")) == (on_secondary, on_primary)
    assert failed_over.password_secret == primary.password_secret


def test_the_control_plane_dataset_uses_the_controlplane_pseudo_site_and_host(inventory) -> None:  # type: ignore[no-untyped-def]
    loaded = policy.load_policies(REPO / "backup", inventory)
    [target] = resolution.targets_of(loaded, inventory, loaded.dataset("controlplane-db"))
    assert target.repository == ("sftp:backup-controlplane@10.198.0.21:/controlplane/controlplane-db")


def test_the_generated_sample_is_a_valid_policy(tmp_path: Path, inventory) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "sample.yml").write_text(sample_yaml(), encoding="utf-8")
    loaded = policy.load_policies(tmp_path, inventory)
    assert [d.name for d in loaded.datasets] == ["portal-content"]


def test_every_schema_key_carries_a_description() -> None:
    def walk(node: dict, where: str) -> list[str]:  # type: ignore[type-arg]
        missing = []
        for key, sub in node.get("properties", {}).items():
            if "description" not in sub:
                missing.append(f"{where}.{key}")
            missing += walk(sub, f"{where}.{key}")
            if isinstance(sub.get("items"), dict):
                missing += walk(sub["items"], f"{where}.{key}[]")
        return missing

    assert walk(POLICY_SCHEMA, "") == []


@pytest.mark.parametrize("hostile", ["; rm -rf /", "$(reboot)", "`id`", "../../etc", "a\nb", "-rf", "a b"])
@pytest.mark.parametrize("key", ["name", "tags", "paths", "excludes", "hosts"])
def test_hostile_strings_in_names_paths_tags_and_patterns_are_refused(key: str, hostile: str) -> None:
    value: object = [hostile] if key in ("tags", "paths", "excludes") else hostile
    if key == "paths":
        value = [{"../../etc": "/srv/../../etc", "-rf": "-rf"}.get(hostile, "/srv/" + hostile.lstrip("/"))]
    if key == "excludes":
        value = ["/srv/portal/" + hostile] if hostile != "-rf" else ["-rf"]
    data = {**CENTERS, "datasets": [good_dataset(**{key: value})]}
    problems = schema_problems(data, POLICY_SCHEMA)
    assert problems, f"{key}={value!r} was accepted"
    assert all(path.startswith("datasets[0]") for path, _ in problems)


@pytest.mark.parametrize(
    "path", ["/srv/portal", "/etc/nginx", "/srv/oa/2024_Q1", "/var/lib/postgresql/15/main", "/srv/a.b-c+d@e"]
)
def test_ordinary_absolute_paths_are_accepted(path: str) -> None:
    assert schema_problems({**CENTERS, "datasets": [good_dataset(paths=[path])]}, POLICY_SCHEMA) == []


def test_every_problem_of_every_file_is_reported_at_once_with_file_and_key_path(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", {**CENTERS, "datasets": [good_dataset(schedule="61 * * * *")]})
    write(tmp_path, "b.yml", {"datasets": [good_dataset(name="Bad Name", rpo="soon")]})
    (tmp_path / "c.yml").write_text("datasets: [\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        policy.load_policies(tmp_path)
    paths = [path for path, _ in caught.value.problems]
    assert "a.yml:datasets[0].schedule" in paths
    assert "b.yml:datasets[0].name" in paths
    assert "b.yml:datasets[0].rpo" in paths
    assert any(path.startswith("c.yml:line") for path in paths)
    assert caught.value.source == str(tmp_path)


def test_a_dataset_name_defined_in_two_files_is_refused_naming_the_first(tmp_path: Path) -> None:
    write(tmp_path, "a.yml", {**CENTERS, "datasets": [good_dataset()]})
    write(tmp_path, "b.yml", {"datasets": [good_dataset()]})
    with pytest.raises(ConfigError) as caught:
        policy.load_policies(tmp_path)
    assert caught.value.problems == [
        ("b.yml:datasets[0].name", "dataset 'portal-content' is already defined at a.yml:datasets[0]")
    ]


@pytest.mark.parametrize(
    ("overrides", "where", "words"),
    [
        ({"dump": {"command": ["pg_dump"], "filename": "x.dump"}}, "datasets[0]", "either paths or dump"),
        ({"paths": None}, "datasets[0]", "either paths or dump"),
        ({"local": True}, "datasets[0]", "either hosts"),
        ({"paths": ["srv/portal"]}, "datasets[0].paths[0]", "must be absolute"),
        ({"retention": None}, "datasets[0].retention", "keep everything"),
        ({"schedule": "0 3 * * 0"}, "datasets[0].schedule", "weekdays as names"),
        ({"check": {"read_data_subset": "101%"}}, "datasets[0].check.read_data_subset", "at most 100"),
        ({"check": {"read_data_subset": "3/2"}}, "datasets[0].check.read_data_subset", "must not exceed"),
    ],
)
def test_rules_a_schema_cannot_say_are_reported_with_their_key_path(
    tmp_path: Path,
    overrides: dict,
    where: str,
    words: str,  # type: ignore[type-arg]
) -> None:
    dataset = good_dataset(**overrides)
    for key in [k for k, v in overrides.items() if v is None]:
        del dataset[key]
    write(tmp_path, "p.yml", {**CENTERS, "datasets": [dataset]})
    with pytest.raises(ConfigError) as caught:
        policy.load_policies(tmp_path)
    assert any(path == f"p.yml:{where}" and words in message for path, message in caught.value.problems), (
        caught.value.problems
    )


def test_datasets_without_any_center_are_refused(tmp_path: Path) -> None:
    write(tmp_path, "p.yml", {"datasets": [good_dataset()]})
    with pytest.raises(ConfigError, match=r"centers\.primary"):
        policy.load_policies(tmp_path)


def test_unknown_hosts_and_patterns_matching_nothing_are_reported(tmp_path: Path, inventory) -> None:  # type: ignore[no-untyped-def]
    write(
        tmp_path,
        "p.yml",
        {
            "centers": {"primary": {"host": "nope-1", "root": "/srv/restic"}},
            "datasets": [good_dataset(hosts="no-such-*", drill={"target": "ghost"})],
        },
    )
    with pytest.raises(ConfigError) as caught:
        policy.load_policies(tmp_path, inventory)
    paths = [path for path, _ in caught.value.problems]
    assert paths == ["p.yml:centers.primary.host", "p.yml:datasets[0].drill.target", "p.yml:datasets[0].hosts"]


def test_dataset_values_override_defaults_and_retention_is_taken_whole(tmp_path: Path) -> None:
    write(
        tmp_path,
        "p.yml",
        {
            **CENTERS,
            "defaults": {
                "retention": {"keep_last": 3, "keep_daily": 7},
                "check": {"schedule": "0 4 * * mon", "read_data_subset": "2%"},
                "retry_lock": "15m",
            },
            "datasets": [good_dataset(retention={"keep_weekly": 4}, check={"read_data_subset": "1/4"})],
        },
    )
    [dataset] = policy.load_policies(tmp_path).datasets
    assert dataset.retention == policy.Retention(keep_weekly=4)
    assert (dataset.check_schedule, dataset.read_data_subset, dataset.retry_lock) == ("0 4 * * mon", "1/4", "15m")
    assert dataset.snapshot_tags == ("egov", "portal-content")


def test_repository_urls_follow_the_port_chroot_and_site_account_settings() -> None:
    center = policy.Center(host="bc", root="/srv/restic/", site_users={"school-gd-1": "bk-gd1"})
    assert resolution.repository_url(center, "10.0.0.2", "ministry", "h1", "d") == (
        "sftp:backup-ministry@10.0.0.2:/srv/restic/ministry/h1/d"
    )
    assert (
        resolution.repository_url(center, "10.0.0.2", "school-gd-1", "h1", "d")
        == "sftp:bk-gd1@10.0.0.2:/srv/restic/school-gd-1/h1/d"
    )
    chrooted = policy.Center(host="bc", root="/srv/restic", chrooted=True, port=2222)
    assert (
        resolution.repository_url(chrooted, "10.0.0.2", "ministry", "h1", "d")
        == "sftp://backup-ministry@10.0.0.2:2222//h1/d"
    )
    assert (
        resolution.repository_url(chrooted, "fd00::2", "ministry", "h1", "d")
        == "sftp://backup-ministry@[fd00::2]:2222//h1/d"
    )


def test_a_site_account_longer_than_unix_allows_names_the_fix() -> None:
    center = policy.Center(host="bc", root="/srv/restic")
    with pytest.raises(BadInputError, match=r"site_users\.a-very-long-school-site-name-x"):
        center.sftp_user("a-very-long-school-site-name-x")


def test_ages_are_converted_to_seconds_and_nonsense_is_refused() -> None:
    assert [policy.parse_age(text) for text in ("90m", "2h", "1d", "1w")] == [5400, 7200, 86400, 604800]
    with pytest.raises(BadInputError):
        policy.parse_age("2 hours")


def test_the_drill_verification_command_gets_only_the_restore_dir_substituted() -> None:
    drill = policy.Drill(target="dr-app-1", verify=("pg_restore", "--list", "{restore_dir}/edu.dump", "{0.__class__}"))
    assert drill.verify_argv("/var/tmp/egov-drill/x") == [
        "pg_restore",
        "--list",
        "/var/tmp/egov-drill/x/edu.dump",
        "{0.__class__}",
    ]
