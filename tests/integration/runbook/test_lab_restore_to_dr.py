"""restore-to-dr on the lab: restore a backup onto dr-app-1, verify it, serve it there, and (drill) undo it all."""

from __future__ import annotations

import http.client
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.backup.runbook_site import RESTORE_ROOT, BackupSite, backup_site

pytestmark = [pytest.mark.root, pytest.mark.lab]
DR_ADDRESS, PORT = "10.198.0.31", 8080


@pytest.fixture
def bsite(lab_config: Any, tmp_path: Path) -> Iterator[BackupSite]:
    with backup_site(lab_config, tmp_path) as made:
        yield made


def _get(path: str = "/index.html") -> str | None:
    connection = http.client.HTTPConnection(DR_ADDRESS, PORT, timeout=2)
    try:
        connection.request("GET", path)
        answer = connection.getresponse()
        return answer.read().decode() if answer.status == 200 else None
    except OSError:
        return None
    finally:
        connection.close()


def _params(bsite: BackupSite) -> dict[str, Any]:
    return {
        "dataset": bsite.dataset,
        "source_host": bsite.host,
        "target_host": "dr-app-1",
        "restore_dir": f"{RESTORE_ROOT}/{bsite.dataset}",
        "start_command": (
            "start-stop-daemon --start --background --make-pidfile --pidfile /run/egov-restore-to-dr.pid "
            f"--exec /usr/bin/python3 -- -m http.server {PORT} --directory {{restore_dir}}{bsite.data}"
        ),
    }


def test_a_drill_restores_verifies_and_serves_the_backup_on_the_dr_host_then_leaves_it_as_it_was(
    bsite: BackupSite,
) -> None:
    served: list[str | None] = []

    def listener(event: dict[str, Any]) -> None:
        if event["event"] == "end" and event["phase"] == "verify":
            served.append(_get())

    assert _get() is None, "something already serves on the DR host's test port"
    result = bsite.execute("restore-to-dr", "drill", params=_params(bsite), listener=listener)
    assert result.status == "succeeded", result.error
    # While the drill held, the DR host served exactly the content backed up on the portal host.
    assert served == [bsite.content]
    assert result.figures["verified_files"] == 1
    assert result.figures["restored"]["center"] == "primary"
    # The drill ended with the steady state restored: no service, no restored folder.
    assert _get() is None
    gone = bsite.sh("dr-app-1", ["test", "-e", f"{RESTORE_ROOT}/{bsite.dataset}"])
    assert gone.exit_code == 1


def test_a_restore_that_differs_from_the_manifest_fails_verification_and_rolls_back(bsite: BackupSite) -> None:
    # The backup-time manifest of the snapshot says another SHA-256 than the restored file has.
    from sqlalchemy import select

    from controlplane.backup.models import BackupSnapshot
    from controlplane.store import open_store

    store = open_store(bsite.config)
    try:
        with store.session() as session:
            row = session.scalars(select(BackupSnapshot).where(BackupSnapshot.dataset == bsite.dataset)).one()
            manifest = dict(row.manifest)
            files = dict(manifest["files"])
            path = next(iter(files))
            files[path] = {**files[path], "sha256": "0" * 64}
            row.manifest = {**manifest, "files": files}
    finally:
        store.close()
    result = bsite.execute("restore-to-dr", "run", params=_params(bsite))
    assert result.status == "failed"
    assert "differ from the backup-time manifest" in (result.error or "")
    # The failed verification rolled the restore back: nothing left on the DR host, nothing served.
    assert bsite.sh("dr-app-1", ["test", "-e", f"{RESTORE_ROOT}/{bsite.dataset}"]).exit_code == 1
    assert _get() is None
