"""A lab host's own files: what lands in its overlay upper dir before it starts.

The host's root is an overlay over the machine's ``/``. Files written here
into the upper dir (while the host is stopped: an overlay's upper dir must
not change under a live mount) replace or hide the machine's copies:

* ``/etc/hostname``, ``/etc/hosts`` (every lab host), ``/etc/machine-id``;
* ``/etc/ssh/sshd_config`` (the host's own copy, written once; playbooks may
  edit it), its own ed25519 host key, and whiteouts hiding the machine's other
  host keys; ``/etc/ssh/sshd_config.d`` starts empty (opaque);
* ``/root`` starts empty (opaque) with the management key in
  ``/root/.ssh/authorized_keys``; an *unmanaged* host (see
  :class:`~controlplane.lab.spec.HostSpec`) gets no key there, an sshd that
  lets root log in with a password, and a random root password: its hash in
  the host's own ``/etc/shadow``, the password in ``root-password`` (0600) in
  the host's folder, for the operator who enrols it;
* ``/etc/shadow`` and ``/etc/gshadow`` with every password hash replaced by
  ``*``: hosts see the machine's accounts, never its password hashes;
* ``/etc/egov-lab/host.json`` (marks a lab host, for checks that must report
  kernel-wide controls as not applicable) and ``/etc/egov-lab/services/``.

No process is started here (but ``openssl passwd`` for an unmanaged host's
password hash); key generation is the manager's job.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import stat
from collections.abc import Iterable
from pathlib import Path

from controlplane import execute
from controlplane.errors import EgovError
from controlplane.lab.spec import HostSpec, LabSpec

OPAQUE_XATTR = "trusted.overlay.opaque"
HOST_KEY = "etc/ssh/ssh_host_ed25519_key"
SERVICES_DIR = "etc/egov-lab/services"


def sshd_config_text(host: HostSpec) -> str:
    """The host's sshd_config: its address, its ed25519 key, key-only root login (password too when unmanaged)."""
    unmanaged = (
        "# It starts unmanaged: root logs in with the password in the lab's root-password file\n"
        "# until `egov hosts enrol` installs the management key (harden then turns passwords off).\n"
    )
    return (
        f"# sshd configuration of lab host {host.name}, written by `egov lab up` when the\n"
        "# host was created. It is the host's own copy: playbooks may edit it.\n"
        + (unmanaged if host.unmanaged else "")
        + "Include /etc/ssh/sshd_config.d/*.conf\n"
        f"Port {host.port}\n"
        f"ListenAddress {host.address}\n"
        "HostKey /etc/ssh/ssh_host_ed25519_key\n"
        f"PermitRootLogin {'yes' if host.unmanaged else 'prohibit-password'}\n"
        "PubkeyAuthentication yes\n"
        "AuthorizedKeysFile .ssh/authorized_keys\n"
        f"PasswordAuthentication {'yes' if host.unmanaged else 'no'}\n"
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


def known_hosts_text(
    existing: str, entries: Iterable[tuple[str, str, int, str]], forget: Iterable[tuple[str, str, int]] = ()
) -> str:
    """Merge lab host keys into known_hosts text.

    Each entry is (address, name, port, "type base64"). Every old line
    naming one of these addresses or names is replaced by one line per host,
    keyed by address and name (``[addr]:port`` form for a port other than
    22), so a rebuilt host's new key never meets a stale one. Lines naming a
    ``forget`` (address, name, port) go (unmanaged hosts: pinned nowhere).
    Other lines stay.
    """
    entries = list(entries)
    ours: set[str] = set()
    for address, name, port in [(a, n, p) for a, n, p, _key in entries] + list(forget):
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


def set_root_password(host: HostSpec) -> bool:
    """Give an unmanaged host's root a random password, once; return whether it was set now.

    The SHA-512 crypt hash (``openssl passwd -6``, the password on its stdin,
    never in argv) replaces root's field in the host's own ``/etc/shadow``
    (owner and mode kept); the password goes to ``root-password`` (0600).
    Raises EgovError when openssl fails.
    """
    shadow = host.upper / "etc/shadow"
    if host.root_password_file.exists() or not shadow.is_file():
        return False
    password = secrets.token_urlsafe(18)
    result = execute.run(
        ["openssl", "passwd", "-6", "-stdin"], input_text=password + "\n", timeout=30, secrets=[password]
    )
    hashed = result.stdout.strip()
    if not result.ok or not hashed.startswith("$6$") or ":" in hashed:
        raise EgovError(result.error_message(f"{host.name}: openssl passwd (root password hash)"))
    lines = []
    for line in shadow.read_text(encoding="utf-8").splitlines():
        fields = line.split(":")
        if fields[0] == "root" and len(fields) > 2:
            fields[1] = hashed
        lines.append(":".join(fields))
    info = shadow.stat()
    write_if_changed(shadow, "\n".join(lines) + "\n", stat.S_IMODE(info.st_mode))
    os.chown(shadow, info.st_uid, info.st_gid)
    write_if_changed(host.root_password_file, password + "\n", 0o600)
    return True


def prepare_host(spec: LabSpec, host: HostSpec, management_key: str, machine_root: Path = Path("/")) -> None:
    """Write a stopped host's own files into its upper dir (see module docstring).

    An unmanaged host gets no ``management_key`` and a root password instead.
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
    if host.unmanaged:
        set_root_password(host)
        return
    ensure_line(root_home / ".ssh/authorized_keys", management_key, 0o600)
