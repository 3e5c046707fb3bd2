"""isolate-host's credential rotation in the engine with fake hosts and the real vault.

Rotation touches only ``host:<HOST>:`` secrets (never another host's, never
a restic repository password); a drill keeps the old values in the vault
until it ends, and a drill whose process died gets them back from the
recovery.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from controlplane.runbook import engine
from controlplane.runbook.adapters import Adapters, AuditNotifier, UnavailableBackup
from controlplane.runbook.loader import get_runbook
from controlplane.store.models import Run, RunStatus
from tests.unit.runbook.test_engine import FakeHosts, NoPlaybooks

REPO = Path(__file__).resolve().parents[3]
HOST = "mn-db-1"
RESERVED = "runbook-drill."  # controlplane.runbook.drill_secrets.RESERVED
SECRETS = {
    f"host:{HOST}:root-password": "old-root",
    f"host:{HOST}:db-admin": "old-db",
    "host:mn-db-10:root-password": "a host whose name starts the same",
    "host:mn-oa-1:root-password": "another host",
    f"restic:ministry:{HOST}:databases": "repository password",
    "restic:province-gd:gd-edu-1:oa-data": "another repository",
}


@pytest.fixture
def inventory(config: Any) -> Any:
    from controlplane.inventory import load_inventory

    return load_inventory(config.inventory)


@pytest.fixture
def vault(config: Any, store: Any) -> Any:
    from controlplane.vault import open_vault

    opened = open_vault(config, store)
    for name, value in SECRETS.items():
        opened.set(name, value)
    return opened


@pytest.fixture(autouse=True)
def management_path_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    """The steady state's TCP check answers without a network (the hosts are fakes here)."""
    from controlplane.runbook.context import Context

    monkeypatch.setattr(Context, "tcp_check", lambda self, address, port, timeout=2.0: True)


@pytest.fixture
def adapters(store: Any, vault: Any) -> Adapters:
    return Adapters(hosts=FakeHosts(), backup=UnavailableBackup("unit tests"), notifier=AuditNotifier(store, "t"),
                    playbooks=NoPlaybooks(), secrets=vault)  # fmt: skip


def isolate(config: Any, store: Any, inventory: Any, adapters: Adapters, mode: str, **kwargs: Any) -> Any:
    runbook = get_runbook(REPO / "runbooks", "isolate-host")
    return engine.execute(config, store, inventory, runbook, mode=mode, params={"host": HOST}, actor="alice",
                          adapters=adapters, confirmed=True, **kwargs)  # fmt: skip


def others(vault: Any) -> dict[str, str]:
    return {name: vault.get(name) for name in SECRETS if not name.startswith(f"host:{HOST}:")}


def test_a_real_run_rotates_only_the_hosts_own_secrets_and_never_a_repository_password(
    config, store, inventory, adapters, vault
) -> None:
    from controlplane.runbook import approvals

    approvals.approve(store, runbook="isolate-host", params=isolate_params(inventory), approver="bob")
    result = isolate(config, store, inventory, adapters, "run")
    assert result.status == "succeeded", result.error
    assert vault.get(f"host:{HOST}:root-password") != "old-root"
    assert vault.get(f"host:{HOST}:db-admin") != "old-db"
    assert others(vault) == {k: v for k, v in SECRETS.items() if not k.startswith(f"host:{HOST}:")}
    assert result.figures["credentials_rotated"] == 2
    assert not [name for name in vault.names() if name.startswith(RESERVED)]  # no compromised value is kept


@pytest.mark.parametrize("prefix", ["", "restic:", "host:"])
def test_no_parameter_can_widen_the_rotation_to_other_hosts_or_the_repository_passwords(
    config, store, inventory, adapters, vault, prefix
) -> None:
    from controlplane.errors import BadInputError

    runbook = get_runbook(REPO / "runbooks", "isolate-host")
    with pytest.raises(BadInputError, match="unknown parameter"):
        engine.execute(config, store, inventory, runbook, mode="drill", params={"host": HOST, "secret_prefix": prefix},
                       actor="alice", adapters=adapters, confirmed=True)  # fmt: skip
    assert {name: vault.get(name) for name in SECRETS} == SECRETS


def isolate_params(inventory: Any) -> dict[str, Any]:
    from controlplane.runbook.params import resolve_params

    return resolve_params(get_runbook(REPO / "runbooks", "isolate-host"), {"host": HOST}, inventory)


def test_a_drill_keeps_the_old_values_in_the_vault_until_it_ends_and_then_puts_them_back(
    config, store, inventory, adapters, vault
) -> None:
    seen: dict[str, Any] = {}

    def listener(event: dict[str, Any]) -> None:
        if event["event"] == "end" and event["phase"] == "verify":
            seen["saved"] = [name for name in vault.names() if name.startswith(RESERVED)]
            seen["value"] = vault.get(f"host:{HOST}:root-password")

    result = isolate(config, store, inventory, adapters, "drill", listener=listener)
    assert result.status == "succeeded", result.error
    # While the drill went, the old values were kept in the vault under the run's reserved names.
    assert len(seen["saved"]) == 2 and all(n.startswith(f"{RESERVED}{result.run_id}.") for n in seen["saved"])
    assert seen["value"] != "old-root"
    assert vault.get(f"host:{HOST}:root-password") == "old-root" and vault.get(f"host:{HOST}:db-admin") == "old-db"
    assert others(vault) == {k: v for k, v in SECRETS.items() if not k.startswith(f"host:{HOST}:")}
    assert not [name for name in vault.names() if name.startswith(RESERVED)]


def test_a_drill_whose_process_died_after_the_rotation_gets_its_old_values_back_from_the_recovery(
    config, store, inventory, vault
) -> None:
    from controlplane.runbook import drill_secrets
    from controlplane.runbook.journal import read_journal
    from controlplane.runs import create_run

    # What a drill killed with -9 after rotating leaves: its run "running" under a dead pid, the
    # kept values in the vault, the host's secrets rotated.
    with store.session() as session:
        run = create_run(session, kind="runbook", target=HOST, actor="alice",
                         params={"runbook": "isolate-host", "mode": "drill", "targets": [HOST]})  # fmt: skip
        run.owner_pid, run.owner_started = 2**22 + 12345, "1"
        run_id = run.id
    drill_secrets.save(vault, run_id, {f"host:{HOST}:root-password": "old-root"})
    vault.set(f"host:{HOST}:root-password", "rotated")
    done = drill_secrets.recover(store, lambda: vault)
    assert done == {run_id: [f"host:{HOST}:root-password"]}
    assert vault.get(f"host:{HOST}:root-password") == "old-root"
    assert drill_secrets.saved_runs(store) == {}
    with store.session() as session:
        assert session.get(Run, run_id).status == RunStatus.INTERRUPTED
    entries = read_journal(store, run_id)["entries"]
    assert entries[-1]["phase"] == "drill-restore" and "restored host:mn-db-1:root-password" in entries[-1]["output"]
    assert "old-root" not in str(entries)


def test_the_next_runbook_start_recovers_a_dead_drill_and_a_live_one_is_left_alone(
    config, store, inventory, adapters, vault
) -> None:
    from controlplane.runbook import drill_secrets
    from controlplane.runs import create_run

    with store.session() as session:
        dead = create_run(session, kind="runbook", target=HOST, actor="alice", params={"mode": "drill"})
        dead.owner_pid, dead.owner_started = 2**22 + 12345, "1"
        live = create_run(session, kind="runbook", target="mn-oa-1", actor="bob", params={"mode": "drill"})
        dead_id, live_id = dead.id, live.id
    drill_secrets.save(vault, dead_id, {f"host:{HOST}:db-admin": "old-db"})
    drill_secrets.save(vault, live_id, {"host:mn-oa-1:root-password": "another host"})
    vault.set(f"host:{HOST}:db-admin", "rotated")
    vault.set("host:mn-oa-1:root-password", "rotated by the live drill")
    isolate(config, store, inventory, adapters, "dry-run")
    assert vault.get(f"host:{HOST}:db-admin") == "old-db"
    assert vault.get("host:mn-oa-1:root-password") == "rotated by the live drill"  # its drill still runs
    assert list(drill_secrets.saved_runs(store)) == [live_id]


def test_the_kept_values_are_encrypted_vault_rows_and_a_value_too_large_to_keep_is_not_rotated(store, vault) -> None:
    from controlplane.errors import EgovError
    from controlplane.runbook import drill_secrets
    from controlplane.store.models import Secret

    drill_secrets.save(vault, 7, {f"host:{HOST}:root-password": "old-root"})
    with store.session() as session:
        [row] = session.scalars(select(Secret).where(Secret.name.startswith(drill_secrets.RESERVED))).all()
        assert b"old-root" not in row.ciphertext
    with pytest.raises(EgovError, match="too large"):
        drill_secrets.save(vault, 8, {f"host:{HOST}:big": "\\" * 40_000})
    assert list(drill_secrets.saved_runs(store)) == [7]
    with pytest.raises(EgovError):
        drill_secrets.host_prefix("a:b")
