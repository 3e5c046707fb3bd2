"""Rotating a host's vault secrets, and keeping a drill's old values safe until the drill ends.

A host's credentials are the vault secrets named ``host:<HOST>:...``
(:func:`host_prefix`): the prefix is derived from the host name, never
given, and inventory host names hold no ``:``, so no other host's secrets
and no restic repository password (``restic:...``) can ever match it.

A drill must put the old values back when it ends, even when the process
running it dies. Before rotating, a drill saves every old value in the
vault itself under a reserved name tied to its run id
(``runbook-drill.<RUN>.<digest of the name>``, value the JSON
``{"name", "value"}``), encrypted like every secret. The drill's restore
(:func:`restore_saved`) puts them back and deletes the records; a drill that
ended without doing so (killed, its restore timed out) is found by
:func:`recover`, which runs at every runbook start and with ``egov runbook
recover``: for each saved run that is no longer active (a dead owner's run is
marked ``interrupted`` first) the old values are put back, noted in that
run's journal and audited. Values never reach a journal, a log or the audit
log: only names.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from sqlalchemy import select

from controlplane.errors import EgovError
from controlplane.store.models import Run, RunStatus, Secret

if TYPE_CHECKING:
    from controlplane.runbook.adapters import SecretStore
    from controlplane.store import Store

RESERVED = "runbook-drill."
# The vault's limit for one secret (controlplane.vault.MAX_SECRET_BYTES).
MAX_RECORD_BYTES = 64 * 1024


def host_prefix(host: str) -> str:
    """The vault name prefix of one host's credentials: ``host:<HOST>:``."""
    if not host or ":" in host:
        raise EgovError(f"{host!r} is not an inventory host name")
    return f"host:{host}:"


def host_secret_names(secrets: SecretStore, host: str) -> list[str]:
    """The names of the vault secrets that belong to ``host`` (sorted)."""
    prefix = host_prefix(host)
    return [name for name in secrets.names() if name.startswith(prefix)]


def record_name(run_id: int, name: str) -> str:
    """The reserved vault name keeping one old value of a drill run."""
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:24]
    return f"{RESERVED}{int(run_id)}.{digest}"


def save(secrets: SecretStore, run_id: int, values: dict[str, str]) -> None:
    """Keep the old values of a drill run in the vault (all of them, before anything is rotated).

    Raises EgovError when a value is too large to keep (nothing is rotated then).
    """
    records = {}
    for name, value in values.items():
        text = json.dumps({"name": name, "value": value}, ensure_ascii=False)
        if len(text.encode("utf-8")) > MAX_RECORD_BYTES:
            raise EgovError(f"{name}: too large to keep for the drill's restore, so it is not rotated")
        records[record_name(run_id, name)] = text
    for key, text in records.items():
        secrets.set(key, text)


def saved_runs(store: Store) -> dict[int, list[str]]:
    """The run ids that have saved old values, each with its record names (read without the master key)."""
    with store.session() as session:
        names = session.scalars(select(Secret.name).where(Secret.name.startswith(RESERVED))).all()
    return _by_run(names)


def _by_run(names: Iterable[str]) -> dict[int, list[str]]:
    runs: dict[int, list[str]] = {}
    for name in names:
        run_part = name[len(RESERVED) :].split(".", 1)[0]
        if run_part.isdigit():
            runs.setdefault(int(run_part), []).append(name)
    return runs


def restore_saved(secrets: SecretStore, run_id: int) -> list[str]:
    """Put back every old value saved by a drill run and delete the records; return the names restored.

    Each value is written back before its record is deleted, so a crash in
    between leaves the record for the next recovery (writing a value twice
    is harmless).
    """
    restored = []
    for record in sorted(_by_run(n for n in secrets.names() if n.startswith(RESERVED)).get(run_id, [])):
        data = json.loads(secrets.get(record))
        secrets.set(data["name"], data["value"])
        secrets.delete(record)
        restored.append(str(data["name"]))
    return sorted(restored)


def recover(
    store: Store, open_secrets: Callable[[], SecretStore], actor: str = "runbook-recovery"
) -> dict[int, list[str]]:
    """Put back the old values of every drill that ended without restoring them; return {run id: names}.

    ``open_secrets`` is called only when some record exists, so a start
    with nothing to recover never opens the vault. Runs still active in a
    live process are left alone; runs whose owner died are marked
    ``interrupted`` first. Each recovery is noted in the run's journal
    (phase ``drill-restore``) and audited.
    """
    from controlplane import audit
    from controlplane.runbook.journal import JournalWriter
    from controlplane.runs import recover_interrupted

    pending = saved_runs(store)
    if not pending:
        return {}
    with store.session() as session:
        recover_interrupted(session)
        active = {
            run_id
            for run_id in pending
            if (run := session.get(Run, run_id)) is not None and run.status in RunStatus.ACTIVE
        }
        known = {run_id for run_id in pending if session.get(Run, run_id) is not None}
    secrets = open_secrets()
    done: dict[int, list[str]] = {}
    for run_id in sorted(set(pending) - active):
        names = restore_saved(secrets, run_id)
        done[run_id] = names
        if run_id in known:
            JournalWriter(store, run_id).note(
                "drill-restore",
                "recovery: old credentials put back",
                "succeeded",
                text="\n".join(f"restored {name}" for name in names),
            )
        audit.append(
            store,
            actor=actor,
            action="runbook.drill_recover",
            target=f"run:{run_id}",
            details={"restored": names},
        )
    return done
