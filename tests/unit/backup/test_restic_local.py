"""End to end with the real restic 0.18: the argv builders produce working commands.

A local repository in tmp_path stands in for the SFTP one (the lab tests
cover SFTP); everything else is the argv the engine will run, with the
password on stdin.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane import execute
from controlplane.backup import exitcodes, jsonout
from controlplane.backup import manifest_collector as collector
from controlplane.tools import find_tool, restic_version, version_at_least

from .restic_scenarios import PASSWORD, make_source, run_all

RESTIC = find_tool("restic")
VERSION = restic_version(RESTIC) if RESTIC else None

pytestmark = pytest.mark.skipif(
    VERSION is None or not version_at_least(VERSION, (0, 17)),
    reason="restic >= 0.17 is not installed (run `make setup` as root to put it in tools/bin/restic)",
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:  # type: ignore[type-arg]
    root = tmp_path_factory.mktemp("restic")
    assert RESTIC is not None
    return root, run_all(root, RESTIC)


def test_every_scenario_ends_with_the_exit_code_its_situation_calls_for(runs) -> None:  # type: ignore[no-untyped-def]
    _, results = runs
    codes = {name: result.exit_code for name, result in results.items()}
    assert codes == {
        "init": 0, "backup_paths": 0, "backup_paths_unchanged": 0, "backup_missing_path": 1, "backup_dump": 0,
        "backup_dump_fails": 1, "backup_dump_empty": 3, "forget_empty_dump": 0, "snapshots": 0,
        "snapshots_host": 0, "restore": 0, "restore_dump": 0, "ls": 0, "stats": 0, "forget_prune": 0, "check": 0,
        "check_subset": 0, "wrong_password": 12, "repo_missing": 10, "locked": 11, "unlock": 0,
    }  # fmt: skip
    assert exitcodes.meaning(codes["backup_dump_empty"], dump=True).outcome == execute.Outcome.FAILED


def test_a_restore_reproduces_the_backed_up_files_bit_for_bit_without_excluded_ones(runs) -> None:  # type: ignore[no-untyped-def]
    root, _ = runs
    source = root / "src"
    restored = root / "restored" / str(source).lstrip("/")
    recorded = collector.create([str(source)], ["*.tmp"])
    report = collector.verify(recorded, str(root / "restored"))
    assert report["passed"] and report["ok"] == 3, report
    assert (restored / "index.html").read_bytes() == (source / "index.html").read_bytes()
    assert not (restored / "docs" / "scratch.tmp").exists()


def test_the_dump_command_never_sees_the_password_given_on_restics_stdin(runs) -> None:  # type: ignore[no-untyped-def]
    root, _ = runs
    # The dump was `sh -c "cat; printf dump-data"`: whatever reached its stdin
    # would be in the snapshot.
    assert (root / "restored-dump" / "edu.dump").read_bytes() == b"dump-data\n"


def test_the_password_appears_in_no_argv_and_no_output(runs) -> None:  # type: ignore[no-untyped-def]
    _, results = runs
    for result in results.values():
        assert PASSWORD not in " ".join(result.argv)
        assert PASSWORD not in result.stdout + result.stderr


def test_snapshots_and_summaries_parse_from_live_output(runs) -> None:  # type: ignore[no-untyped-def]
    _, results = runs
    summary = jsonout.parse_stream(results["backup_paths"].stdout.splitlines()).summary
    assert summary is not None and summary.files_new == 2
    snapshots = jsonout.parse_snapshots(results["snapshots"].stdout)
    assert summary.snapshot_id in {s.id for s in snapshots}
    assert jsonout.parse_check(results["check_subset"].stdout).ok
    [group] = jsonout.parse_forget(results["forget_prune"].stdout)
    assert len(group.keep) == 1


def test_a_scrubbed_environment_ignores_a_stray_restic_password_variable(tmp_path: Path) -> None:
    from controlplane.backup import commands

    assert RESTIC is not None
    repo = commands.Repo(location=str(tmp_path / "repo"), restic=RESTIC, cache_dir=str(tmp_path / "cache"))
    source = make_source(tmp_path)
    stray = {"RESTIC_PASSWORD": "stray", "RESTIC_REPOSITORY": str(tmp_path / "elsewhere")}
    assert execute.run(commands.init(repo), input_text=PASSWORD + "\n", env=stray).ok
    result = execute.run(
        commands.backup_paths(repo, [str(source)], host="h1"), input_text=PASSWORD + "\n", env=stray
    )
    assert result.ok, result.stderr
    assert not (tmp_path / "elsewhere").exists()
