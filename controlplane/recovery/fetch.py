"""Reading the control plane's repositories from a backup center with nothing but the kit.

restic runs on the recovering machine itself, reaching the center over SFTP
with the kit's key (written 0600 into a private 0700 folder for the length of
the recovery, then removed) and the center's host key from the kit (pinned:
``StrictHostKeyChecking=yes``, never learnt). The repository password goes
to restic's stdin, as everywhere (:mod:`controlplane.backup.commands`).
Reads take no lock (``--no-lock``): a recovery writes nothing to a center,
and a prune or backup of a live original is never blocked by it.

Which snapshot: the newest of each dataset across the centers that answer
(the primary, then the secondary, so backups sent to the secondary after a
failover are found too); a center that does not answer is noted, not fatal,
while another one answers.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controlplane import execute
from controlplane.backup import commands, jsonout
from controlplane.backup.diagnose import diagnose
from controlplane.backup.policy import Center
from controlplane.errors import EgovError

LIST_TIMEOUT = 120
RESTORE_TIMEOUT = 1800


@dataclass(frozen=True)
class Keys:
    """Where the kit's SSH key and the pinned center keys are for the length of a recovery."""

    identity: Path
    known_hosts: Path


@dataclass
class Found:
    """A dataset's newest snapshot and where it was found; the centers that did not answer."""

    dataset: dict[str, Any]
    center: dict[str, Any] | None = None
    snapshot: jsonout.Snapshot | None = None
    history: list[jsonout.Snapshot] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)

    def age_seconds(self, now: dt.datetime) -> float:
        """How old the snapshot is (the RPO achieved if it is restored)."""
        assert self.snapshot is not None  # noqa: S101 - only asked of a found snapshot
        return (now - self.snapshot.time).total_seconds()


@contextmanager
def kit_keys(kit: dict[str, Any], folder: Path) -> Iterator[Keys]:
    """Write the kit's key and the centers' pinned keys into a private folder under ``folder``; remove them after."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    private = Path(tempfile.mkdtemp(prefix="kit-ssh-", dir=folder))
    try:
        identity = private / "id_ed25519"
        descriptor = os.open(identity, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(kit["ssh_key"]["private"])
        known = private / "known_hosts"
        known.write_text("".join(center["known_hosts"] + "\n" for center in kit["centers"]), encoding="ascii")
        yield Keys(identity, known)
    finally:
        shutil.rmtree(private, ignore_errors=True)


def repo(center: dict[str, Any], dataset: dict[str, Any], keys: Keys, restic: str) -> commands.Repo:
    """The restic Repo of a dataset on a center, reached with the kit's key (pinned host key, batch mode)."""
    policy_center = Center(
        host=center["host"],
        root=center["root"],
        port=int(center["port"]),
        chrooted=bool(center["chrooted"]),
        identity_file=str(keys.identity),
        known_hosts=str(keys.known_hosts),
        stall_timeout=int(center.get("stall_timeout") or 20),
    )
    return commands.Repo(
        location=dataset["locations"][center["role"]],
        restic=restic,
        sftp_command=commands.sftp_command(policy_center, center["user"], center["address"]),
    )


def no_lock(argv: list[str], repository: commands.Repo) -> list[str]:
    """The same restic argv with ``--no-lock`` right after the binary (a global option)."""
    position = argv.index(repository.restic) + 1
    return [*argv[:position], "--no-lock", *argv[position:]]


def list_snapshots(repository: commands.Repo, password: str, where: str) -> list[jsonout.Snapshot]:
    """The repository's snapshots, oldest first. Raises EgovError with restic's reason."""
    argv = no_lock(commands.snapshots(repository), repository)
    result = execute.run(argv, input_text=password + "\n", secrets=[password], timeout=LIST_TIMEOUT)
    if not result.ok:
        found = diagnose(result.exit_code or 1, result.stdout + "\n" + result.stderr, center=where)
        raise EgovError(f"{where}: {found.message}")
    return jsonout.parse_snapshots(result.stdout)


def newest(kit: dict[str, Any], dataset: dict[str, Any], keys: Keys, restic: str, only: str | None = None) -> Found:
    """The newest snapshot of a dataset on the centers that answer (``only``: that role's center alone).

    Raises EgovError when no center answers or none holds a snapshot.
    """
    found = Found(dataset)
    errors = []
    for center in kit["centers"]:
        if only is not None and center["role"] != only:
            continue
        if center["role"] not in dataset["locations"]:
            continue
        try:
            snapshots = list_snapshots(repo(center, dataset, keys, restic), dataset["password"], center["host"])
        except EgovError as error:
            found.unreachable.append(center["host"])
            errors.append(error.message)
            continue
        if snapshots and (found.snapshot is None or snapshots[-1].time > found.snapshot.time):
            found.snapshot, found.center, found.history = snapshots[-1], center, snapshots
    if found.snapshot is None:
        said = "; ".join(errors) or "no snapshot in its repository"
        raise EgovError(f"no snapshot of {dataset['name']} could be read from a backup center: {said}")
    return found


def restore(
    found: Found, keys: Keys, restic: str, target: Path, snapshot: jsonout.Snapshot | None = None,
    includes: tuple[str, ...] = (),
) -> None:  # fmt: skip
    """Restore a snapshot (default: the newest found) into ``target`` (made 0700). Raises EgovError on failure."""
    assert found.center is not None  # noqa: S101 - newest() found it
    chosen = snapshot or found.snapshot
    assert chosen is not None  # noqa: S101
    target.mkdir(mode=0o700, parents=True, exist_ok=True)
    repository = repo(found.center, found.dataset, keys, restic)
    argv = no_lock(commands.restore(repository, target=str(target), snapshot=chosen.id, includes=includes), repository)
    password = found.dataset["password"]
    result = execute.run(argv, input_text=password + "\n", secrets=[password], timeout=RESTORE_TIMEOUT)
    if not result.ok:
        diagnosis = diagnose(result.exit_code or 1, result.stdout + "\n" + result.stderr, center=found.center["host"])
        raise EgovError(f"restoring {found.dataset['name']} from {found.center['host']} failed: {diagnosis.message}")
