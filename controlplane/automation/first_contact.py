"""The SSH side of enrolment: first contact, password login with the key pinned, the management key.

* :func:`fetch_host_key` opens a transport only as far as the key exchange,
  to read the host key the server proves it holds; it authenticates nothing
  and trusts nothing (the operator compares the fingerprint).
* :func:`password_client` logs in as root with the password and the key
  *pinned to the one just confirmed*: a different key at the second
  connection is refused (someone in the middle between the two).
* :func:`key_login_works` tells whether the management key already opens
  the host (a retried enrolment skips the password);
  :func:`install_management_key` adds it to root's ``authorized_keys`` once.
* :func:`pin_host_key` appends the key to the control plane's known_hosts.

The password is an argument of exactly one paramiko call; it is never in a
message, a log line or an exception this module raises.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import shlex
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from controlplane.errors import BadInputError, EgovError, HostKeyError, UnreachableError

if TYPE_CHECKING:
    import paramiko

# Run as root over the password login; the key line comes on stdin, so nothing of it is shell syntax.
INSTALL_SCRIPT = r"""set -eu
set -f
umask 077
IFS= read -r line
home=$(getent passwd root | cut -d: -f6)
[ -n "$home" ] || home=/root
mkdir -p "$home/.ssh"
chmod 700 "$home/.ssh"
file="$home/.ssh/authorized_keys"
touch "$file"
chmod 600 "$file"
set -- $line
if grep -qF -- "$1 $2" "$file"; then echo present; exit 0; fi
if [ -s "$file" ] && [ -n "$(tail -c 1 "$file")" ]; then echo >> "$file"; fi
printf '%s\n' "$line" >> "$file"
echo added
"""


@dataclass(frozen=True)
class HostKey:
    """A server's host key as first contact saw it."""

    key_type: str
    blob: bytes

    @property
    def fingerprint(self) -> str:
        """``SHA256:...`` as ``ssh-keygen -lf`` prints it."""
        return fingerprint(self.blob)

    @property
    def line(self) -> str:
        """``type base64``, the known_hosts and authorized_keys form."""
        return f"{self.key_type} {base64.b64encode(self.blob).decode('ascii')}"

    def pkey(self) -> paramiko.PKey:
        import paramiko

        return paramiko.PKey.from_type_string(self.key_type, self.blob)


def fingerprint(blob: bytes) -> str:
    """The OpenSSH SHA256 fingerprint of a public key blob."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii").rstrip("=")


def normalise_fingerprint(text: str) -> str | None:
    """``SHA256:`` plus 43 base64 characters, as typed or pasted (spaces trimmed); None when it is not one."""
    value = text.strip()
    head, _, body = value.partition(":")
    if head.upper() != "SHA256" or len(body.rstrip("=")) != 43:
        return None
    try:
        raw = base64.b64decode(body.rstrip("=") + "=", validate=True)
    except ValueError:
        return None
    return "SHA256:" + body.rstrip("=") if len(raw) == 32 else None


def where(name: str, address: str, port: int) -> str:
    return f"{name} ({address}:{port})"


def _connect(name: str, address: str, port: int, timeout: float) -> socket.socket:
    try:
        return socket.create_connection((address, port), timeout=timeout)
    except TimeoutError:
        raise UnreachableError(f"{where(name, address, port)}: TCP connect timed out after {timeout:g} s") from None
    except OSError as error:
        raise UnreachableError(f"{where(name, address, port)}: unreachable: {error.strerror or error}") from None


def fetch_host_key(name: str, address: str, port: int, timeout: float) -> HostKey:
    """Read the host key a server proves it holds in the key exchange, without trusting or logging in.

    Costs one TCP connection and one key exchange. Raises UnreachableError
    naming the host when it does not answer or is not an SSH server.
    """
    import paramiko

    sock = _connect(name, address, port, timeout)
    transport = paramiko.Transport(sock)
    transport.banner_timeout = timeout
    try:
        transport.start_client(timeout=timeout)
        key = transport.get_remote_server_key()
    except (paramiko.SSHException, OSError, EOFError) as error:
        raise UnreachableError(f"{where(name, address, port)}: SSH key exchange failed: {error}") from None
    finally:
        transport.close()
        sock.close()
    return HostKey(key.get_name(), key.asbytes())


def _client(address: str, port: int, host_key: HostKey) -> paramiko.SSHClient:
    """An SSHClient that accepts exactly ``host_key`` for this address and nothing else."""
    import paramiko

    client = paramiko.SSHClient()
    entry = address if port == 22 else f"[{address}]:{port}"
    client.get_host_keys().add(entry, host_key.key_type, host_key.pkey())
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    return client


def _login(
    client: paramiko.SSHClient, name: str, address: str, port: int, timeout: float, **auth: str
) -> paramiko.SSHClient:
    import paramiko

    sock = _connect(name, address, port, timeout)
    try:
        client.connect(
            address, port=port, username="root", sock=sock, timeout=timeout, banner_timeout=timeout,
            auth_timeout=timeout, channel_timeout=timeout, look_for_keys=False, allow_agent=False, **auth,
        )  # fmt: skip
    except paramiko.BadHostKeyException:
        client.close()
        sock.close()
        raise HostKeyError(
            f"host key of {where(name, address, port)} CHANGED between first contact and login: refusing "
            "(possible man-in-the-middle); nothing was changed on the host"
        ) from None
    except paramiko.AuthenticationException:
        client.close()
        sock.close()
        raise
    except (paramiko.SSHException, OSError, EOFError) as error:
        client.close()
        sock.close()
        raise UnreachableError(f"{where(name, address, port)}: SSH failed: {type(error).__name__}") from None
    return client


def password_client(
    name: str, address: str, port: int, host_key: HostKey, password: str, timeout: float
) -> paramiko.SSHClient:
    """Log in as root with a password, accepting only ``host_key``; return the connected client.

    Raises HostKeyError when the server shows another key, EgovError when
    the password is refused (the message never holds it), UnreachableError.
    """
    import paramiko

    client = _client(address, port, host_key)
    try:
        return _login(client, name, address, port, timeout, password=password)
    except paramiko.AuthenticationException:
        raise EgovError(
            f"{where(name, address, port)}: root's password was refused, or root may not log in with a password "
            "(sshd's PermitRootLogin/PasswordAuthentication): nothing was changed on the host"
        ) from None


def key_login_works(name: str, address: str, port: int, host_key: HostKey, key_file: Path, timeout: float) -> bool:
    """Whether the management key logs in as root (with ``host_key`` pinned). Costs one SSH login."""
    import paramiko

    client = _client(address, port, host_key)
    try:
        _login(client, name, address, port, timeout, key_filename=str(key_file))
    except paramiko.AuthenticationException:
        return False
    client.close()
    return True


def install_management_key(client: paramiko.SSHClient, public_line: str, timeout: float) -> bool:
    """Add the management key to root's authorized_keys unless it is there; return whether it was added.

    Raises EgovError with the remote error when the script fails.
    """
    transport = client.get_transport()
    if transport is None:
        raise EgovError("the SSH connection closed before the key could be installed")
    channel = transport.open_session(timeout=timeout)
    channel.settimeout(timeout)
    try:
        channel.exec_command("sh -c " + shlex.quote(INSTALL_SCRIPT))
        channel.sendall((public_line.strip() + "\n").encode("ascii"))
        channel.shutdown_write()
        out = channel.makefile("rb").read().decode("utf-8", "replace")
        err = channel.makefile_stderr("rb").read().decode("utf-8", "replace")
        status = channel.recv_exit_status()
    except (OSError, EOFError) as error:
        raise EgovError(f"installing the management key did not finish: {error}") from None
    finally:
        channel.close()
    if status != 0:
        raise EgovError(f"installing the management key failed (exit {status}): {err.strip()[-400:]}")
    return out.strip().endswith("added")


def management_public_line(key_file: Path) -> str:
    """The management key's public line (``type base64 comment``) from ``KEY.pub`` or the private key.

    Raises BadInputError saying how to create the key when there is none.
    """
    public = key_file.with_name(key_file.name + ".pub")
    if public.is_file():
        words = public.read_text(encoding="ascii", errors="replace").split()
        if len(words) >= 2:
            return " ".join(words[:3])
    if not key_file.is_file():
        raise BadInputError(
            f"no management key at {key_file} (ssh.key_file): create it with "
            f"`ssh-keygen -t ed25519 -N '' -C egov-management -f {key_file}` (or `egov lab up` in the lab)"
        )
    import paramiko

    key = paramiko.PKey.from_path(key_file)
    return f"{key.get_name()} {key.get_base64()} egov-management"


# --- known_hosts ----------------------------------------------------------------------------------


def _entries(name: str, address: str, port: int) -> list[str]:
    return [address, name] if port == 22 else [f"[{address}]:{port}", f"[{name}]:{port}"]


def pinned_keys(known_hosts: Path, name: str, address: str, port: int) -> dict[str, str]:
    """Keys known_hosts pins for the host's address or name: ``{"type base64": which entry}``."""
    import paramiko

    if not known_hosts.is_file():
        return {}
    keys = paramiko.HostKeys()
    try:
        keys.load(str(known_hosts))
    except (OSError, paramiko.SSHException, ValueError) as error:
        raise EgovError(f"cannot read {known_hosts}: {error}") from None
    found: dict[str, str] = {}
    for entry in _entries(name, address, port):
        for key_type, key in (keys.lookup(entry) or {}).items():
            found[f"{key_type} {key.get_base64()}"] = entry
    return found


def pin_conflict(known_hosts: Path, name: str, address: str, port: int, host_key: HostKey) -> str | None:
    """Why the host key cannot be pinned (another key is pinned for that address or name), or None."""
    pinned = pinned_keys(known_hosts, name, address, port)
    others = {line: entry for line, entry in pinned.items() if line != host_key.line}
    if not others:
        return None
    entry = sorted(set(others.values()))[0]
    return (
        f"{known_hosts} already pins another key for {entry}: if the server was reinstalled, remove the old pin "
        f"after checking (`ssh-keygen -R {entry} -f {known_hosts}`) and enrol again"
    )


def pin_host_key(known_hosts: Path, name: str, address: str, port: int, host_key: HostKey) -> bool:
    """Append ``ADDRESS,NAME type base64`` to known_hosts unless that key is pinned; return whether it was added."""
    if host_key.line in pinned_keys(known_hosts, name, address, port):
        return False
    known_hosts.parent.mkdir(parents=True, exist_ok=True)
    existing = known_hosts.read_text(encoding="utf-8") if known_hosts.is_file() else ""
    if existing and not existing.endswith("\n"):
        existing += "\n"
    text = existing + f"{','.join(_entries(name, address, port))} {host_key.line}\n"
    temporary = known_hosts.with_name(f".{known_hosts.name}.{secrets.token_hex(4)}")
    temporary.write_text(text, encoding="utf-8")
    os.chmod(temporary, 0o644)
    os.replace(temporary, known_hosts)
    return True
