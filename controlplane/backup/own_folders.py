"""The control plane's own folder on each backup center: where its audit anchors and lease witness live.

The folder is the one of the control plane's state dataset (``local: true``
in the backup policy), reached over its chrooted SFTP account
(``backup-controlplane``, made by ``egov backup setup``). The backup engine
knows this layout; the audit log (core) is handed :func:`control_plane_folders`
by the composition root (:func:`controlplane.audit.anchor.use_center_folders`),
and the recovery engine's lease witness calls it directly.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import TYPE_CHECKING

from controlplane.audit.anchor import REMOTE_NAME, RemoteLog
from controlplane.errors import EgovError

if TYPE_CHECKING:
    from controlplane.config import Config


def control_plane_folders(config: Config) -> tuple[list[RemoteLog], list[str]]:
    """The control plane's folder on each backup center (``path`` is the folder), or notes saying why there is none.

    There is none when the backup policy has no control-plane dataset
    (``local: true``) or the control plane has no backup key yet (``egov
    backup setup`` makes it, with the center's pinned host key). The audit
    anchors and the recovery lease witness live there. Loading the inventory
    costs about a second (ansible).
    """
    from controlplane.backup.policy import CONTROLPLANE, load_policies
    from controlplane.inventory import load_inventory
    from controlplane.ssh import Target

    try:
        inventory = load_inventory(Path(config.inventory))
        policy = load_policies(Path(config.backup), inventory)
    except EgovError as error:
        return [], [f"no remote anchor: the backup policy does not load ({error.message.splitlines()[0]})"]
    if not any(dataset.local for dataset in policy.datasets):
        return [], ["no remote anchor: the backup policy has no control-plane dataset (local: true)"]
    keys = Path(config.state_dir) / "backup"
    if not (keys / "id_ed25519").exists():
        return [], ["no remote anchor: the control plane has no backup key yet (run `egov backup setup`)"]
    found = []
    for center in (policy.primary, policy.secondary):
        if center is None:
            continue
        host = inventory.host(center.host)
        found.append(
            RemoteLog(
                where=center.host,
                target=Target(center.host, str(host.address), center.port, center.sftp_user(CONTROLPLANE)),
                path=posixpath.dirname(center.repository_path(CONTROLPLANE, CONTROLPLANE, REMOTE_NAME)),
                identity_file=keys / "id_ed25519",
                known_hosts=keys / "known_hosts",
            )
        )
    return found, []
