"""The engine's decisions with a scripted executor: init on 10, unlock on 11, forget a dump's 3, password on stdin."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import pytest

from controlplane.backup import engine
from controlplane.backup.context import BackupContext
from controlplane.backup.executor import Executor, Result
from controlplane.backup.models import BackupSnapshot, BackupStatus
from controlplane.backup.policy import load_policies
from controlplane.inventory import load_inventory
from controlplane.runs import create_run
from controlplane.store.models import Run
from controlplane.vault import Vault

REPO = Path(__file__).resolve().parents[3]
SUMMARY = {
    "message_type": "summary",
    "files_new": 2,
    "files_changed": 1,
    "files_unmodified": 0,
    "dirs_new": 1,
    "dirs_changed": 0,
    "data_added": 1234,
    "data_added_packed": 1000,
    "total_files_processed": 3,
    "total_bytes_processed": 5000,
    "total_duration": 1.25,
    "snapshot_id": "ab" * 32,
}


class Scripted(Executor):
    """Answers each restic subcommand with the next scripted exit code; records argv and stdin."""

    def __init__(self, script: dict[str, list[int]]) -> None:
        self.host = "mn-oa-1"
        self.script = script
        self.calls: list[tuple[list[str], str | None]] = []

    def run(
        self,
        argv: Sequence[str],
        *,
        input_text: str | None = None,
        secrets: Iterable[str] = (),
        on_line: Callable[[str, str], None] | None = None,
        timeout: float = 0,
        should_cancel: Callable[[], bool] | None = None,
    ) -> Result:
        words = list(argv)
        self.calls.append((words, input_text))
        if words[:2] == ["python3", "-"]:
            manifest = {"version": 1, "algorithm": "sha256", "files": {}, "skipped": []}
            return Result(0, json.dumps(manifest), "", 0.1)
        command = next(w for w in ("backup", "init", "unlock", "forget") if w in words)
        code = self.script.get(command, [0]).pop(0) if self.script.get(command) else 0
        stdout = json.dumps(SUMMARY) if command == "backup" and code in (0, 3) else ""
        if on_line is not None:
            for line in stdout.splitlines():
                on_line(line, "out")
        return Result(code, stdout, "", 0.1)

    def commands(self) -> list[str]:
        return [
            next(w for w in ("backup", "init", "unlock", "forget", "python3") if w in argv) for argv, _ in self.calls
        ]


@pytest.fixture
def ctx(config: Any, store: Any, tmp_path: Path) -> BackupContext:
    inventory = load_inventory(REPO / "inventory" / "lab.yml")
    return BackupContext(
        config=config,
        store=store,
        vault=Vault(store, config.key_file),
        inventory=inventory,
        policy=load_policies(REPO / "backup", inventory),
        pool=None,  # type: ignore[arg-type]
        restic_remote="restic",
        restic_local="restic",
        actor="t",
    )


def _run(ctx: BackupContext, dataset: str, host: str, script: dict[str, list[int]]) -> tuple[Any, Scripted]:
    executor = Scripted(script)
    ctx.executor = lambda _host: executor  # type: ignore[method-assign]
    return engine.backup(ctx, ctx.target(dataset, host)), executor


def test_a_missing_repository_is_initialised_with_a_new_vault_password_and_the_backup_retried(ctx: Any) -> None:
    result, executor = _run(ctx, "oa-data", "mn-oa-1", {"backup": [10, 0]})
    assert result.ok and executor.commands() == ["python3", "backup", "init", "backup"]
    password = ctx.vault.get("restic:ministry:mn-oa-1:oa-data")
    assert len(password) >= 40
    for argv, stdin in executor.calls[1:]:
        assert stdin == password + "\n" and password not in " ".join(argv)
    assert result.summary["files_new"] == 2 and result.summary["bytes_added"] == 1234
    with ctx.store.session() as session:
        run = session.get(Run, result.run_id)
        assert run.kind == "backup" and run.status == "succeeded" and run.target == "oa-data@mn-oa-1"
        assert password not in json.dumps(run.summary)
        assert session.get(BackupStatus, ("oa-data", "mn-oa-1")).last_bytes_added == 1234
        assert session.query(BackupSnapshot).one().manifest is not None


def test_a_locked_repository_is_unlocked_only_when_no_other_run_of_ours_uses_it(ctx: Any) -> None:
    result, executor = _run(ctx, "oa-data", "mn-oa-1", {"backup": [11, 0]})
    assert result.ok and executor.commands() == ["python3", "backup", "unlock", "backup"]
    assert all("--remove-all" not in argv for argv, _ in executor.calls)
    with ctx.store.session() as session:
        create_run(session, kind="backup-restore", target="oa-data@mn-oa-1", actor="someone")
    result, executor = _run(ctx, "oa-data", "mn-oa-1", {"backup": [11]})
    assert not result.ok and result.summary["reason"] == "locked"
    assert "unlock" not in executor.commands()


def test_a_dump_that_ends_with_exit_three_fails_and_its_snapshot_is_forgotten(ctx: Any) -> None:
    result, executor = _run(ctx, "edu-db", "mn-db-1", {"backup": [3]})
    assert result.status == "failed" and result.summary["reason"] == "dump_empty"
    assert executor.commands() == ["backup", "forget"]
    forget = executor.calls[-1][0]
    assert forget[-1] == "ab" * 32 and "--prune" not in forget
    assert result.summary["snapshot_id"] is None and result.summary["alert"] is True
    with ctx.store.session() as session:
        assert session.query(BackupSnapshot).count() == 0


def test_a_partial_paths_backup_is_kept_but_alerted(ctx: Any) -> None:
    result, _executor = _run(ctx, "oa-data", "mn-oa-1", {"backup": [3]})
    assert result.status == "partial" and result.summary["alert"] is True
    with ctx.store.session() as session:
        assert session.query(BackupSnapshot).one().partial is True
        assert session.get(BackupStatus, ("oa-data", "mn-oa-1")).last_success_at is None


def test_a_backup_given_a_queued_run_records_into_that_run_and_creates_no_other(ctx: Any) -> None:
    from controlplane.backup.operations import queue_operation, run_operation

    target = ctx.target("oa-data", "mn-oa-1")
    run_id = queue_operation(ctx, "backup", target)
    with ctx.store.session() as session:
        queued = session.get(Run, run_id)
        assert queued.status == "queued" and queued.params == engine.backup_plan(ctx, target).params
    executor = Scripted({"backup": [0]})
    ctx.executor = lambda _host: executor  # type: ignore[method-assign]
    result = run_operation(ctx, "backup", target, run_id=run_id)
    assert result.ok and result.run_id == run_id
    with ctx.store.session() as session:
        assert [run.id for run in session.query(Run).all()] == [run_id]
        run = session.get(Run, run_id)
        assert run.status == "succeeded" and run.owner_pid is not None and run.output_lines > 0
        assert session.query(BackupSnapshot).one().run_id == run_id
        assert session.get(BackupStatus, ("oa-data", "mn-oa-1")).last_run_id == run_id


def test_a_queued_run_cancelled_before_it_started_is_left_alone(ctx: Any) -> None:
    from controlplane.backup.operations import queue_operation, run_operation
    from controlplane.runs import request_cancel

    target = ctx.target("oa-data", "mn-oa-1")
    run_id = queue_operation(ctx, "backup", target)
    with ctx.store.session() as session:
        request_cancel(session, run_id)
    executor = Scripted({})
    ctx.executor = lambda _host: executor  # type: ignore[method-assign]
    result = run_operation(ctx, "backup", target, run_id=run_id)
    assert result.status == "cancelled" and executor.calls == []
    with ctx.store.session() as session:
        assert session.query(Run).count() == 1 and session.get(Run, run_id).status == "cancelled"


def test_an_unknown_operation_or_a_run_of_another_unit_is_refused(ctx: Any) -> None:
    from controlplane.backup.operations import queue_operation, run_operation
    from controlplane.errors import BadInputError

    target = ctx.target("oa-data", "mn-oa-1")
    with pytest.raises(BadInputError, match="unknown backup operation"):
        run_operation(ctx, "defragment", target)
    run_id = queue_operation(ctx, "check", target)
    with pytest.raises(BadInputError, match="not a backup of"):
        run_operation(ctx, "backup", target, run_id=run_id)
    restore_id = queue_operation(ctx, "restore", target, directory="/var/lib/egov/restore/a")
    with pytest.raises(BadInputError, match="queued with other options"):
        run_operation(ctx, "restore", target, run_id=restore_id, directory="/var/lib/egov/restore/b")
    with ctx.store.session() as session:
        assert {run.status for run in session.query(Run).all()} == {"queued"}


def test_a_run_a_dispatcher_of_this_process_claimed_is_carried_out_from_the_run_row_alone(ctx: Any) -> None:
    from controlplane.backup.operations import queue_operation, run_queued
    from controlplane.runs import claim

    run_id = queue_operation(ctx, "backup", ctx.target("oa-data", "mn-oa-1"))
    with ctx.store.session() as session:
        claimed = claim(session, run_id)
    executor = Scripted({"backup": [0]})
    ctx.executor = lambda _host: executor  # type: ignore[method-assign]
    result = run_queued(ctx, claimed)
    assert result.ok and result.run_id == run_id and executor.commands() == ["python3", "backup"]
    with ctx.store.session() as session:
        assert session.query(Run).count() == 1 and session.get(Run, run_id).status == "succeeded"


def test_a_queued_restore_keeps_its_options_in_the_run_so_the_run_alone_can_carry_it_out(ctx: Any) -> None:
    from controlplane.backup.operations import OPERATIONS, queue_operation

    target = ctx.target("oa-data", "mn-oa-1")
    run_id = queue_operation(ctx, "restore", target, directory="/var/lib/egov/restore//y/", snapshot="latest")
    with ctx.store.session() as session:
        params = session.get(Run, run_id).params
    options = {option: params[key] for option, key in OPERATIONS["restore"].options.items()}
    assert options == {
        "directory": "/var/lib/egov/restore/y",
        "snapshot": "latest",
        "to_host": "mn-oa-1",
        "includes": [],
        "in_place": False,
    }
    assert OPERATIONS["restore"].plan(ctx, target, **options).params == params
