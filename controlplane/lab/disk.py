"""A lab host's own files: what lands in its overlay upper dir before it starts.

The host's root is an overlay over the machine's ``/``. Files written here
into the upper dir (while the host is stopped: an overlay's upper dir must
not change under a live mount) replace or hide the machine's copies:

* ``/etc/hostname``, ``/etc/hosts`` (every lab host), ``/etc/machine-id``;
* ``/etc/ssh/sshd_config`` (the host's own copy, written once; playbooks may
  edit it), its own ed25519 host key, and whiteouts hiding the machine's other
  host keys; ``/etc/ssh/sshd_config.d`` starts empty (opaque);
* ``/root`` starts empty (opaque) with the management key in
  ``/root/.ssh/authorized_keys``;
* ``/etc/shadow`` and ``/etc/gshadow`` with every password hash replaced by
  ``*``: hosts see the machine's accounts, never its password hashes;
* ``/etc/egov-lab/host.json`` (marks a lab host, for checks that must report
  kernel-wide controls as not applicable) and ``/etc/egov-lab/services/``.

No process is started here; key generation is the manager's job.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import stat
from collections.abc import Iterable
from pathlib import Path

from controlplane.lab.spec import HostSpec, LabSpec

OPAQUE_XATTR = "trusted.overlay.opaque"
HOST_KEY = "etc/ssh/ssh_host_ed25519_key"
SERVICES_DIR = "etc/egov-lab/services"


def sshd_config_text(host: HostSpec) -> str:
    """The host's sshd_config: its address, its ed25519 key, key-only root login."""
    return (
        f"# sshd configuration of lab host {host.name}, written by `egov lab up` when the\n"
        "# host was created. It is the host's own copy: playbooks may edit it.\n"
        "Include /etc/ssh/sshd_config.d/*.conf\n"
        f"Port {host.port}\n"
        f"ListenAddress {host.address}\n"
        "HostKey /etc/ssh/ssh_host_ed25519_key\n"
        "PermitRootLogin prohibit-password\n"
        "PubkeyAuthentication yes\n"
        "AuthorizedKeysFile .ssh/authorized_keys\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "UsePAM yes\n"
        "X11Forwarding no\n"
        "PrintMotd no\n"
        "AcceptEnv LANG LC_*\n"
        "Subsystem sftp internal-sftp\n"
    )


def hosts_file_text(spec: LabSpec, host: HostSpec) -> str:
    """``/etc/hosts`` of a host: loopback names and every lab host by address."""
    lines = [
        "127.0.0.1\tlocalhost",
        "::1\tlocalhost ip6-localhost ip6-loopback",
        "",
        "# The lab network, written by `egov lab up`.",
        f"{spec.gateway}\tegov-gateway",
    ]
    lines += [f"{other.address}\t{other.name}" for other in spec.hosts]
    return "\n".join(lines) + "\n"


def host_json_text(host: HostSpec) -> str:
    """``/etc/egov-lab/host.json``: who this lab host is."""
    data = {"name": host.name, "address": host.address, "site": host.site, "role": host.role, "lab": True}
    return json.dumps(data, indent=2) + "\n"


def sanitize_shadow(text: str) -> str:
    """Return shadow/gshadow text with every password field replaced by ``*``.

    ``*`` matches no password and, unlike ``!``, does not mark the account
    locked, so key logins keep working.
    """
    out = []
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) > 2 and fields[0]:
            fields[1] = "*"
        out.append(":".join(fields))
    return "\n".join(out) + ("\n" if out else "")


def known_hosts_text(existing: str, entries: Iterable[tuple[str, str, int, str]]) -> str:
    """Merge lab host keys into known_hosts text.

    Each entry is (address, name, port, "type base64"). Every old line
    naming one of these addresses or names is replaced by one line per host,
    keyed by address and name (``[addr]:port`` form for a port other than
    22), so a rebuilt host's new key never meets a stale one. Other lines
    stay.
    """
    entries = list(entries)
    ours: set[str] = set()
    for address, name, port, _key in entries:
        ours |= {address, name, f"[{address}]:{port}", f"[{name}]:{port}"}
    kept = []
    for line in existing.splitlines():
        words = line.split()
        if words and not line.lstrip().startswith("#"):
            field = words[1] if words[0].startswith("@") and len(words) > 1 else words[0]
            if ours & set(field.split(",")):
                continue
        kept.append(line)
    for address, name, port, key in entries:
        hosts = f"{address},{name}" if port == 22 else f"[{address}]:{port},[{name}]:{port}"
        kept.append(f"{hosts} {key}")
    return "\n".join(kept) + "\n"


def public_key(path: Path) -> str:
    """Return ``type base64`` of an OpenSSH public key file (comment dropped)."""
    words = path.read_text(encoding="ascii").split()
    if len(words) < 2:
        raise ValueError(f"{path} is not an OpenSSH public key")
    return f"{words[0]} {words[1]}"


def write_if_changed(path: Path, text: str, mode: int) -> bool:
    """Write text atomically when it differs; return whether it changed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_file() and path.read_text(encoding="utf-8") == text:
        os.chmod(path, mode)
        return False
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    temporary.write_text(text, encoding="utf-8")
    os.chmod(temporary, mode)
    os.replace(temporary, path)
    return True


def make_opaque(directory: Path, mode: int = 0o755) -> None:
    """Create an upper-dir folder that hides the machine's folder of that name."""
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, mode)
    os.setxattr(directory, OPAQUE_XATTR, b"y")


def whiteout(path: Path) -> None:
    """Hide the machine's file at this place in the upper dir (a 0/0 char device)."""
    if os.path.lexists(path):
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mknod(path, stat.S_IFCHR | 0o000, os.makedev(0, 0))


def _copy_sanitized(source: Path, target: Path) -> None:
    if target.exists() or not source.is_file():
        return
    info = source.stat()
    write_if_changed(target, sanitize_shadow(source.read_text(encoding="utf-8")), stat.S_IMODE(info.st_mode))
    os.chown(target, info.st_uid, info.st_gid)


def ensure_line(path: Path, line: str, mode: int) -> None:
    """Make sure a file holds ``line`` (appending it if missing), with mode."""
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    if line not in text.splitlines():
        text = (text if text.endswith("\n") or not text else text + "\n") + line + "\n"
    write_if_changed(path, text, mode)


def prepare_host(spec: LabSpec, host: HostSpec, management_key: str, machine_root: Path = Path("/")) -> None:
    """Write a stopped host's own files into its upper dir (see module docstring).

    The host key must already exist; ``machine_root`` is for tests.
    Idempotent: files are written only when their content changed. Raises
    OSError when the upper dir cannot be written (e.g. no xattr support).
    """
    upper = host.upper
    for folder in (upper, host.work, host.root):
        folder.mkdir(parents=True, exist_ok=True)
    os.chmod(host.folder, 0o700)
    write_if_changed(upper / "etc/hostname", host.name + "\n", 0o644)
    write_if_changed(upper / "etc/hosts", hosts_file_text(spec, host), 0o644)
    write_if_changed(upper / "etc/egov-lab/host.json", host_json_text(host), 0o644)
    (upper / SERVICES_DIR).mkdir(parents=True, exist_ok=True)
    if not (upper / "etc/machine-id").exists():
        write_if_changed(upper / "etc/machine-id", secrets.token_hex(16) + "\n", 0o444)
    ssh_dir = upper / "etc/ssh"
    if not (ssh_dir / "sshd_config").exists():
        write_if_changed(ssh_dir / "sshd_config", sshd_config_text(host), 0o644)
        make_opaque(ssh_dir / "sshd_config.d")
    for machine_key in sorted((machine_root / "etc/ssh").glob("ssh_host_*")):
        if not (ssh_dir / machine_key.name).exists():
            whiteout(ssh_dir / machine_key.name)
    for name in ("shadow", "gshadow"):
        _copy_sanitized(machine_root / "etc" / name, upper / "etc" / name)
    root_home = upper / "root"
    if not root_home.exists():
        make_opaque(root_home, 0o700)
        for dotfile in (".bashrc", ".profile"):
            skel = machine_root / "etc/skel" / dotfile
            if skel.is_file():
                shutil.copyfile(skel, root_home / dotfile)
    (root_home / ".ssh").mkdir(mode=0o700, exist_ok=True)
    os.chmod(root_home / ".ssh", 0o700)
    ensure_line(root_home / ".ssh/authorized_keys", management_key, 0o600)
