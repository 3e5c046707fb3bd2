"""Backup-center account set-up: the program that runs ON the backup center.

Self-contained, standard-library Python 3, sent by the control plane as
``python3 - SPEC_JSON`` with this source on stdin (nothing is copied to the
center). SPEC_JSON names the repository root and, per site, the SFTP account,
the hosts whose folders to create and the client public keys to authorise.
Idempotent: run it again with more keys or sites and only the difference is
made. Prints a JSON report of what changed.

What it makes, per site (account ``backup-<site>`` unless the policy says otherwise):

* a system account with no shell and no password, home ``ROOT/SITE``;
* ``ROOT`` and ``ROOT/SITE`` owned by root, mode 0755 (sshd's rule for a
  chroot), and ``ROOT/SITE/HOST`` owned by the account, mode 0700, for
  every host of the site, so restic can create ``HOST/DATASET`` repositories;
* ``/etc/ssh/egov-backup-keys/ACCOUNT`` (root-owned) with each key prefixed
  by ``restrict``: no forwarding, no pty, nothing but the forced SFTP;
* one ``Match User`` block per account in
  ``/etc/ssh/sshd_config.d/egov-backup.conf``: chroot to ``ROOT/SITE``,
  ``ForceCommand internal-sftp``, keys only from that file. The whole file is
  regenerated from the state file ``/etc/egov/backup-center.json`` (every
  site ever set up), checked with ``sshd -t`` (the old file is put back when
  it fails) and sshd is told to reload (``systemctl reload ssh`` under
  systemd, else SIGHUP to the pid in ``/run/sshd.pid``).

So a host's key opens only its own site's folder: another site's
repositories are outside its chroot, so it can neither read nor delete them.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from typing import Any

CONF = "/etc/ssh/sshd_config.d/egov-backup.conf"
KEYS_DIR = "/etc/ssh/egov-backup-keys"
STATE = "/etc/egov/backup-center.json"
NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
KEY = re.compile(r"^(ssh-ed25519|ecdsa-sha2-nistp256|ssh-rsa) [A-Za-z0-9+/=]+( [A-Za-z0-9@._:-]+)?$")
NOLOGIN = "/usr/sbin/nologin"


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False)  # noqa: S603 - argv list


def _check(spec: dict[str, Any]) -> None:
    root = spec["root"]
    if not root.startswith("/") or ".." in root.split("/") or root.rstrip("/") in ("", "/etc", "/usr", "/root"):
        raise ValueError(f"repository root {root!r} is not a safe absolute folder")
    for site in spec["sites"]:
        for word in [site["site"], site["user"], *site.get("hosts", [])]:
            if not NAME.match(word):
                raise ValueError(f"{word!r} is not a valid site, account or host name")
        for key in site.get("keys", []):
            if not KEY.match(key):
                raise ValueError(f"{key[:40]!r}... is not an OpenSSH public key line")


def _mkdir(path: str, mode: int, uid: int = 0, gid: int = 0) -> bool:
    created = not os.path.isdir(path)
    if created:
        os.makedirs(path, mode=mode, exist_ok=True)
    info = os.lstat(path)
    if (info.st_mode & 0o7777) != mode:
        os.chmod(path, mode)
        created = True
    if (info.st_uid, info.st_gid) != (uid, gid):
        os.chown(path, uid, gid)
        created = True
    return created


def ensure_account(user: str, home: str) -> bool:
    """Create the SFTP-only system account (no shell, locked password); return whether it was made."""
    if _run(["id", "-u", user]).returncode == 0:
        return False
    result = _run(
        ["useradd", "--system", "--user-group", "--no-create-home", "--home-dir", home, "--shell", NOLOGIN, user]
    )
    if result.returncode != 0:
        raise RuntimeError(f"useradd {user} failed: {result.stderr.strip()}")
    return True


def _ids(user: str) -> tuple[int, int]:
    import pwd

    entry = pwd.getpwnam(user)
    return entry.pw_uid, entry.pw_gid


def ensure_keys(user: str, keys: list[str]) -> int:
    """Add the keys (with ``restrict``) to the account's key file; return how many were new."""
    os.makedirs(KEYS_DIR, mode=0o755, exist_ok=True)
    path = os.path.join(KEYS_DIR, user)
    existing: list[str] = []
    if os.path.exists(path):
        with open(path, encoding="ascii") as handle:
            existing = [line.strip() for line in handle if line.strip()]
    known = {" ".join(line.split()[1:3]) for line in existing}
    added = [f"restrict {key}" for key in keys if " ".join(key.split()[:2]) not in known]
    if added or not os.path.exists(path):
        with open(path + ".tmp", "w", encoding="ascii") as handle:
            handle.write("\n".join(existing + added) + "\n")
        os.chmod(path + ".tmp", 0o644)
        os.replace(path + ".tmp", path)
    return len(added)


def render_conf(root: str, users: dict[str, str]) -> str:
    """Return the sshd drop-in for every account: ``{user: site}`` sorted by user."""
    lines = ["# Written by the EduGov control plane (egov backup setup); regenerated on every run."]
    for user, site in sorted(users.items()):
        lines += [
            f"Match User {user}",
            f"    ChrootDirectory {root.rstrip('/')}/{site}",
            "    ForceCommand internal-sftp",
            f"    AuthorizedKeysFile {KEYS_DIR}/%u",
            "    PasswordAuthentication no",
            "    KbdInteractiveAuthentication no",
            "    AllowTcpForwarding no",
            "    AllowAgentForwarding no",
            "    X11Forwarding no",
            "    PermitTTY no",
            "    PermitTunnel no",
        ]
    # End the conditional block so nothing after this file is scoped by it.
    lines.append("Match all")
    return "\n".join(lines) + "\n"


def reload_sshd() -> str:
    """Ask sshd to re-read its configuration; return how."""
    if os.path.isdir("/run/systemd/system") and _run(["systemctl", "reload", "ssh"]).returncode == 0:
        return "systemctl reload ssh"
    for pidfile in ("/run/sshd.pid", "/var/run/sshd.pid"):
        try:
            with open(pidfile, encoding="ascii") as handle:
                pid = int(handle.read().strip())
        except (OSError, ValueError):
            continue
        os.kill(pid, signal.SIGHUP)
        return f"SIGHUP to sshd {pid}"
    return "sshd not found: reload it yourself"


def ensure_conf(root: str, users: dict[str, str]) -> bool:
    """Write and check the drop-in; restore the old one when ``sshd -t`` refuses. Return whether it changed."""
    text = render_conf(root, users)
    old = None
    if os.path.exists(CONF):
        with open(CONF, encoding="utf-8") as handle:
            old = handle.read()
    if old == text:
        return False
    os.makedirs(os.path.dirname(CONF), exist_ok=True)
    with open(CONF, "w", encoding="utf-8") as handle:
        handle.write(text)
    test = _run(["/usr/sbin/sshd", "-t"])
    if test.returncode != 0:
        if old is None:
            os.unlink(CONF)
        else:
            with open(CONF, "w", encoding="utf-8") as handle:
                handle.write(old)
        raise RuntimeError(f"sshd -t refused the backup accounts' configuration: {test.stderr.strip()}")
    return True


def apply(spec: dict[str, Any]) -> dict[str, Any]:
    """Make the center match ``spec`` (see the module docstring); return a report."""
    _check(spec)
    root = spec["root"].rstrip("/")
    report: dict[str, Any] = {"accounts_created": [], "keys_added": 0, "folders": 0, "sshd": ""}
    state: dict[str, Any] = {"root": root, "users": {}}
    if os.path.exists(STATE):
        with open(STATE, encoding="utf-8") as handle:
            state = json.load(handle)
    _mkdir(root, 0o755)
    for site in spec["sites"]:
        user, name = site["user"], site["site"]
        home = f"{root}/{name}"
        if ensure_account(user, home):
            report["accounts_created"].append(user)
        uid, gid = _ids(user)
        report["folders"] += _mkdir(home, 0o755)
        for host in site.get("hosts", []):
            report["folders"] += _mkdir(f"{home}/{host}", 0o700, uid, gid)
        report["keys_added"] += ensure_keys(user, site.get("keys", []))
        state["users"][user] = name
    os.makedirs(os.path.dirname(STATE), exist_ok=True)
    with open(STATE, "w", encoding="utf-8") as handle:
        json.dump(state, handle, indent=1, sort_keys=True)
    if ensure_conf(root, state["users"]):
        report["sshd"] = reload_sshd()
    return report


def main(argv: list[str]) -> int:
    """``python3 - SPEC_JSON``: apply and print the JSON report (exit 1 with a message on failure)."""
    if len(argv) != 1:
        print("usage: python3 - SPEC_JSON", file=sys.stderr)
        return 2
    try:
        report = apply(json.loads(argv[0]))
    except (ValueError, RuntimeError, OSError, KeyError) as error:
        print(json.dumps({"error": str(error)}))
        return 1
    print(json.dumps(report, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
