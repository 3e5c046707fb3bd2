"""Restore-verification manifests: the pure spec and the stdlib collector script."""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
from pathlib import Path

import pytest

from controlplane import execute
from controlplane.backup import manifest
from controlplane.backup import manifest_collector as collector
from controlplane.errors import BadInputError


def make_tree(root: Path) -> Path:
    data = root / "srv" / "portal"
    (data / "cache").mkdir(parents=True)
    (data / "index.html").write_text("<h1>hello</h1>\n")
    (data / "big.bin").write_bytes(os.urandom(3 * 1024 * 1024 + 7))
    (data / "cache" / "x.html").write_text("cached\n")
    (data / "note.tmp").write_text("scratch\n")
    (data / "current").symlink_to("index.html")
    return data


def restore_copy(data: Path, restore_dir: Path) -> Path:
    """Imitate a restic restore: the same tree under restore_dir, times kept."""
    target = restore_dir / str(data).lstrip("/")
    shutil.copytree(data, target, symlinks=True)
    return target


def test_a_manifest_records_hash_size_and_time_of_files_and_link_targets(tmp_path: Path) -> None:
    data = make_tree(tmp_path)
    result = collector.create([str(data)], ["*.tmp", "**/cache"])
    files = result["files"]
    assert sorted(files) == sorted(str(data / name) for name in ("index.html", "big.bin", "current"))
    index = files[str(data / "index.html")]
    assert index["sha256"] == hashlib.sha256(b"<h1>hello</h1>\n").hexdigest()
    assert index["size"] == 15 and index["mtime_ns"] == (data / "index.html").stat().st_mtime_ns
    assert files[str(data / "current")] == {"type": "symlink", "target": "index.html"}
    assert result["version"] == 1 and result["algorithm"] == "sha256" and result["skipped"] == []


@pytest.mark.parametrize(
    ("path", "patterns", "expected"),
    [
        ("/srv/portal/a.tmp", ["*.tmp"], True),
        ("/srv/portal/cache/x", ["/srv/portal/cache"], True),
        ("/srv/portal/cache/x", ["cache"], True),
        ("/srv/portal/cachex/y", ["cache"], False),
        ("/srv/portal/a/b/c.log", ["/srv/**/*.log"], True),
        ("/srv/portal/index.html", ["/portal"], False),
        ("/srv/portal/index.html", [], False),
    ],
)
def test_exclude_patterns_follow_restics_rules(path: str, patterns: list[str], expected: bool) -> None:
    assert manifest.excluded(path, patterns) is expected


def test_an_identical_restore_passes(tmp_path: Path) -> None:
    data = make_tree(tmp_path / "src")
    recorded = collector.create([str(data)], [])
    restore_copy(data, tmp_path / "restore")
    report = collector.verify(recorded, str(tmp_path / "restore"))
    assert report["passed"] and report["ok"] == report["checked"] == 5


def test_a_flipped_byte_with_the_same_size_and_time_is_a_mismatch(tmp_path: Path) -> None:
    data = make_tree(tmp_path / "src")
    recorded = collector.create([str(data)], [])
    target = restore_copy(data, tmp_path / "restore")
    victim = target / "big.bin"
    stat = victim.stat()
    content = bytearray(victim.read_bytes())
    content[1000] ^= 0xFF
    victim.write_bytes(bytes(content))
    os.utime(victim, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    report = collector.verify(recorded, str(tmp_path / "restore"))
    assert not report["passed"] and report["mismatched"] == [str(data / "big.bin")]


def test_a_missing_file_fails_and_a_file_changed_after_the_manifest_is_only_reported(tmp_path: Path) -> None:
    data = make_tree(tmp_path / "src")
    recorded = collector.create([str(data)], [])
    target = restore_copy(data, tmp_path / "restore")
    (target / "note.tmp").unlink()
    os.utime(target / "index.html", ns=(1, 1))
    report = collector.verify(recorded, str(tmp_path / "restore"))
    assert report["missing"] == [str(data / "note.tmp")]
    assert report["changed"] == [str(data / "index.html")]
    assert not report["passed"]


def test_a_changed_link_target_is_a_mismatch() -> None:
    expected = {"files": {"/a": {"type": "symlink", "target": "x"}}}
    assert manifest.compare(expected, {"/a": {"type": "symlink", "target": "y"}})["mismatched"] == ["/a"]
    assert manifest.compare(expected, {"/a": {"type": "file", "sha256": "", "size": 0, "mtime_ns": 0}})[
        "mismatched"
    ] == ["/a"]


def test_unreadable_and_special_files_are_skipped_with_a_reason(tmp_path: Path) -> None:
    data = tmp_path / "d"
    data.mkdir()
    os.mkfifo(data / "pipe")
    result = collector.create([str(data)], [])
    assert result["files"] == {}
    assert result["skipped"] == [{"path": str(data / "pipe"), "reason": "not a regular file or symlink"}]


def test_argv_builders_send_the_program_on_stdin_and_paths_after_a_double_dash() -> None:
    assert manifest.create_argv(["/srv/portal"], ["*.tmp"]) == [
        "python3", "-", "create", "--exclude", "*.tmp", "--", "/srv/portal",
    ]  # fmt: skip
    assert manifest.verify_argv("/var/tmp/egov-drill/x") == ["python3", "-", "verify", "/var/tmp/egov-drill/x"]
    with pytest.raises(BadInputError):
        manifest.create_argv([])


def test_the_collector_runs_as_a_separate_process_from_its_program_text_on_stdin(tmp_path: Path) -> None:
    data = make_tree(tmp_path / "src")
    python = sys.executable
    created = execute.run(
        manifest.create_argv([str(data)], ["*.tmp"], python=python), input_text=manifest.collector_source()
    )
    assert created.ok, created.stderr
    recorded = manifest.parse_manifest(created.stdout)
    assert str(data / "note.tmp") not in recorded["files"]
    restore_copy(data, tmp_path / "restore")
    verified = execute.run(
        manifest.verify_argv(str(tmp_path / "restore"), python=python), input_text=manifest.verify_program(recorded)
    )
    assert verified.exit_code == 0, verified.stderr
    assert manifest.parse_report(verified.stdout)["passed"]
    (tmp_path / "restore" / str(data).lstrip("/") / "index.html").unlink()
    failed = execute.run(
        manifest.verify_argv(str(tmp_path / "restore"), python=python), input_text=manifest.verify_program(recorded)
    )
    assert failed.exit_code == 1 and manifest.parse_report(failed.stdout)["missing"] == [str(data / "index.html")]


def test_a_manifest_with_hostile_names_is_embedded_as_data_never_as_code(tmp_path: Path) -> None:
    hostile = "/x'''\"); import os; os.system('touch PWNED'); (\"\n"
    recorded = {"version": 1, "algorithm": "sha256", "files": {hostile: {"type": "symlink", "target": "t"}}}
    result = execute.run(
        manifest.verify_argv(str(tmp_path), python=sys.executable),
        input_text=manifest.verify_program(recorded),
        cwd=str(tmp_path),
    )
    assert manifest.parse_report(result.stdout)["missing"] == [hostile]
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("text", ["not json", "[]", '{"version": 2, "algorithm": "sha256", "files": {}}'])
def test_output_that_is_not_a_manifest_is_refused(text: str) -> None:
    with pytest.raises(BadInputError):
        manifest.parse_manifest(text)
