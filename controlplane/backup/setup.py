"""``egov backup setup``: everything restic needs before the first backup, made idempotently.

The provision playbook (another issue) may already create the backup-center
accounts; this set-up uses the same names (account ``backup-<site>``,
repositories under the center's root, default ``/srv/restic``) and only adds
what is missing, so either may run first:

* on every host that backs up, restores or drills: a backup key of its own
  (``/etc/egov/backup/id_ed25519``, made on the host, the private half never
  leaves it) and the center's host key pinned in
  ``/etc/egov/backup/known_hosts`` (taken from the control plane's own pinned
  keys, never learnt on first use);
* the same for the control plane itself under ``STATE/backup/``;
* on the center (:mod:`.center_setup`, sent as a program): per site the
  chrooted SFTP-only account, its folders, and the public keys of its hosts
  and of the drill targets of its datasets (the DR center restores them).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from controlplane import execute
from controlplane.errors import EgovError

from . import center_setup
from .context import BackupContext
from .policy import CONTROLPLANE, Center

HOST_KEY_DIR = "/etc/egov/backup"
# Runs on a host as ``python3 - KEY_DIR KNOWN_HOSTS_LINE``: make the key once, pin the center, print the public key.
CLIENT_PROGRAM = r"""
import os, subprocess, sys
folder, known = sys.argv[1], sys.argv[2]
os.makedirs(folder, mode=0o700, exist_ok=True)
os.chmod(folder, 0o700)
key = os.path.join(folder, "id_ed25519")
if not os.path.exists(key):
    comment = "egov-backup@" + os.uname().nodename
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", key], check=True,
                   stdin=subprocess.DEVNULL)
path = os.path.join(folder, "known_hosts")
with open(path + ".tmp", "w") as handle:
    handle.write(known + "\n")
os.chmod(path + ".tmp", 0o644)
os.replace(path + ".tmp", path)
with open(key + ".pub") as handle:
    print(handle.read().strip())
"""


def center_known_hosts_line(ctx: BackupContext, center: Center | None = None) -> str:
    """A center's pinned host key as a known_hosts line for its address (default: the active center).

    Taken from the control plane's own known_hosts (``ssh.known_hosts``).
    Raises EgovError when the center's key is not pinned there.
    """
    import paramiko

    center = center or ctx.center
    address = ctx.center_address(center)
    keys = paramiko.HostKeys(str(ctx.config.ssh_known_hosts))
    entry = keys.lookup(address) or keys.lookup(center.host)
    if not entry:
        raise EgovError(f"the host key of {center.host} ({address}) is not pinned in {ctx.config.ssh_known_hosts}")
    key_type = "ssh-ed25519" if "ssh-ed25519" in entry else sorted(entry.keys())[0]
    where = address if center.port == 22 else f"[{address}]:{center.port}"
    return f"{where} {key_type} {entry[key_type].get_base64()}"


def centers_of(ctx: BackupContext) -> list[Center]:
    """Every center of the policy (primary, then the secondary when defined)."""
    return [center for center in (ctx.policy.primary, ctx.policy.secondary) if center is not None]


def client_key(ctx: BackupContext, host: str, known_line: str) -> str:
    """Make sure a host has its backup key and the pinned center key; return its public key line."""
    if host == CONTROLPLANE:
        folder = ctx.local_key_dir()
        result = execute.run(["python3", "-", str(folder), known_line], input_text=CLIENT_PROGRAM, timeout=60)
        output, code, tail = result.stdout, result.exit_code, result.tail
    else:
        remote = ctx.executor(host).run(
            ["python3", "-", HOST_KEY_DIR, known_line], input_text=CLIENT_PROGRAM, timeout=60
        )
        output, code, tail = remote.stdout, remote.exit_code, remote.tail
    if code != 0:
        raise EgovError(f"{host}: could not prepare the backup key: {' '.join(tail[-3:])}")
    return output.strip().splitlines()[-1]


def plan(ctx: BackupContext, extra_readers: dict[str, list[str]] | None = None) -> dict[str, dict[str, Any]]:
    """Per site: the SFTP account, the hosts that back up, and the hosts that may read its repositories.

    ``extra_readers`` adds ``{site: [host, ...]}`` (a ``restore --to-host``).
    """
    sites: dict[str, dict[str, Any]] = {}
    for dataset in ctx.policy.datasets:
        for target in ctx.targets(dataset):
            entry = sites.setdefault(
                target.site, {"user": ctx.center.sftp_user(target.site), "hosts": set(), "readers": set()}
            )
            entry["hosts"].add(target.host)
            entry["readers"].add(target.host)
            if dataset.drill is not None:
                entry["readers"].add(dataset.drill.target)
    for site, hosts in (extra_readers or {}).items():
        if site in sites:
            sites[site]["readers"].update(hosts)
    return sites


def setup(
    ctx: BackupContext,
    *,
    sites: list[str] | None = None,
    extra_readers: dict[str, list[str]] | None = None,
    centers: list[Center] | None = None,
) -> dict[str, Any]:
    """Prepare hosts and centers (see the module docstring); return the centers' report plus the keys made.

    ``centers`` defaults to every center of the policy; a failover sets up
    only the secondary, the primary being lost. Hosts always get every
    center's pinned key, so a later failover needs no new host set-up.
    Raises EgovError naming the host that failed.
    """
    wanted = plan(ctx, extra_readers)
    if sites:
        wanted = {site: entry for site, entry in wanted.items() if site in sites}
    # Both centers pinned: a host backs up to either (failover) and copies between them.
    known_line = "\n".join(center_known_hosts_line(ctx, center) for center in centers_of(ctx))
    keys: dict[str, str] = {}
    for entry in wanted.values():
        for host in sorted(entry["readers"]):
            if host not in keys:
                keys[host] = client_key(ctx, host, known_line)
    sites_spec = [
        {
            "site": site,
            "user": entry["user"],
            "hosts": sorted(entry["hosts"]),
            "keys": [keys[host] for host in sorted(entry["readers"])],
        }
        for site, entry in sorted(wanted.items())
    ]
    program = Path(center_setup.__file__).read_text(encoding="utf-8")
    report: dict[str, Any] = {}
    for center in centers if centers is not None else centers_of(ctx):
        spec = {"root": center.root, "sites": sites_spec}
        result = ctx.executor(center.host).run(["python3", "-", json.dumps(spec)], input_text=program, timeout=120)
        try:
            made = json.loads(result.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            made = {"error": " ".join(result.tail[-3:]) or f"exit code {result.exit_code}"}
        if result.exit_code != 0 or "error" in made:
            raise EgovError(f"{center.host}: backup account set-up failed: {made.get('error')}")
        # The primary's report at the top (as before), each center's under its host.
        if center is ctx.policy.primary or "centers" not in report:
            report.update(made)
        report.setdefault("centers", {})[center.host] = made
    report["hosts_with_keys"] = sorted(keys)
    report["sites"] = sorted(wanted)
    return report
