"""The sealed kit file, opening it from shares, and the checks before anything is restored."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from controlplane.backup import commands
from controlplane.errors import BadInputError
from controlplane.recovery import fetch, kitfile, make, recover, shares, standing
from controlplane.recovery.shares import ShareError

CONTENTS = {
    "site": "ministry",
    "original_root": "/opt/egov",
    "egov_yml": "folders: {inventory: inventory/lab.yml}\nstate: {dir: /opt/egov/var}\nlisten: {port: 8080}\n",
    "state": {"dir": "var", "database": "var/egov.db", "key_file": "var/master.key"},
    "datasets": [{"name": "controlplane-db", "password": "s3cret-password"}],
}


def _kit(threshold: int = 2) -> tuple[str, list[shares.Share]]:
    key = os.urandom(32)
    kit_id = shares.new_kit_id(os.urandom(5))
    header = kitfile.Header(kit_id, "2026-01-01T00:00:00Z", "ministry", threshold, ("Alice", "Bob", "Carol"), "f" * 64)
    text = kitfile.seal(header, CONTENTS, key, os.urandom(12))
    return text, shares.split(key, threshold, 3, kit_id)


def test_two_shares_open_the_kit_and_the_file_holds_no_secret_in_the_clear() -> None:
    text, split = _kit()
    assert "s3cret-password" not in text and "controlplane-db" not in text
    header, contents = recover.open_kit(text, [split[2], split[0]])
    assert contents == CONTENTS and header.custodian(3) == "Carol"


def test_one_share_is_refused_before_anything_is_decrypted() -> None:
    text, split = _kit()
    with pytest.raises(ShareError, match="2 shares are needed"):
        recover.open_kit(text, [split[1]])


def test_shares_of_another_kit_are_refused_by_name() -> None:
    text, _split = _kit()
    _other_text, other = _kit()
    with pytest.raises(ShareError, match="belongs to kit"):
        recover.open_kit(text, other[:2])


def test_a_changed_header_makes_the_kit_fail_to_open() -> None:
    text, split = _kit()
    document = json.loads(text)
    document["custodians"][0]["name"] = "Mallory"
    with pytest.raises(ShareError, match="do not open this kit"):
        recover.open_kit(json.dumps(document), split[:2])


@pytest.mark.parametrize(
    "text", ["", "not json", '{"format": "other"}', '{"format": "egov-recovery-kit", "version": 9}']
)
def test_what_is_not_a_kit_file_is_refused_clearly(text: str) -> None:
    with pytest.raises(kitfile.KitFileError):
        kitfile.read_header(text)


def test_a_folder_holding_a_site_is_never_recovered_into(tmp_path: Path) -> None:
    (tmp_path / "egov.yml").write_text("{}")
    with pytest.raises(BadInputError, match=r"already holds an egov\.yml"):
        recover.check_target(tmp_path, CONTENTS)
    (tmp_path / "egov.yml").unlink()
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "egov.db").write_text("")
    with pytest.raises(BadInputError, match="never overwrites"):
        recover.check_target(tmp_path, CONTENTS)


def test_the_restored_egov_yml_lays_the_state_out_as_the_kit_says(tmp_path: Path) -> None:
    text = recover.site_yaml(CONTENTS, tmp_path, "10.198.0.30", 8090)
    import yaml

    data = yaml.safe_load(text)
    assert data["state"] == {"dir": "var", "database": "sqlite:///var/egov.db"}
    assert data["vault"] == {"key_file": "var/master.key"}
    assert data["listen"] == {"port": 8090, "host": "10.198.0.30"}


def test_the_restore_argv_reads_without_a_lock_and_pins_the_centers_key(tmp_path: Path) -> None:
    center = {"role": "primary", "host": "bc-backup-1", "address": "10.198.0.21", "port": 22,
              "user": "backup-controlplane", "root": "/srv/restic", "chrooted": True, "stall_timeout": 20,
              "known_hosts": "x"}  # fmt: skip
    dataset = {"locations": {"primary": "sftp:backup-controlplane@10.198.0.21:/controlplane/controlplane-db"}}
    keys = fetch.Keys(tmp_path / "id", tmp_path / "known")
    repository = fetch.repo(center, dataset, keys, "/usr/bin/restic")
    argv = fetch.no_lock(commands.restore(repository, target="/r", snapshot="a" * 64), repository)
    start = len(commands.ENV_SCRUB)
    assert argv[start : start + 4] == ["/usr/bin/restic", "--no-lock", "--repo", dataset["locations"]["primary"]]
    sftp = argv[start + 5]
    assert f"-i {tmp_path / 'id'}" in sftp and "StrictHostKeyChecking=yes" in sftp
    assert f"UserKnownHostsFile={tmp_path / 'known'}" in sftp and "backup-controlplane@10.198.0.21 -s sftp" in sftp
    assert argv[-3:] == ["--verify", "--", "a" * 64]


@pytest.mark.parametrize("name", ["; rm -rf /", "$(id)", "../..", "a\nb", "x" * 65, ""])
def test_hostile_custodian_names_are_refused(name: str) -> None:
    with pytest.raises(BadInputError):
        make.check_custodians(["Alice", name])


def test_the_same_custodian_twice_is_refused() -> None:
    with pytest.raises(BadInputError, match="named once"):
        make.check_custodians(["Alice", "alice"])


def test_the_banner_says_passive_and_why() -> None:
    seen = {"lease": "held", "witness": {"holder": "mn:42", "expires_at": "2026-01-01T00:03:00"}}
    passive = standing.Standing("passive", "restored", "2026-01-01T00:00:00Z", {"seen": seen})
    assert "PASSIVE" in standing.banner(passive)["text"] and "held by mn:42" in standing.banner(passive)["text"]
    assert "被动" in standing.banner(passive, "zh-CN")["text"]
    assert standing.banner(None) is None
