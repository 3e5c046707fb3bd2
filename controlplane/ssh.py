"""SSH to managed hosts with paramiko: pinned host keys, pooled connections.

Host keys come only from a known_hosts file the lab or an operator provides;
an unknown or changed key is refused with a message saying which. Remote
commands are given as argv and quoted word by word with ``shlex.quote``, so
a host name, path or label with ``;``, ``$()``, spaces or newlines is data,
never shell syntax, on the remote side.
"""

from __future__ import annotations

import shlex
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controlplane.errors import EgovError, HostKeyError, UnreachableError
from controlplane.execute import TAIL_LINES, mask_text, validate_argv


@dataclass(frozen=True)
class Target:
    """Where to connect: the inventory name (for messages), address, port, user."""

    name: str
    address: str
    port: int = 22
    user: str = "root"

    @classmethod
    def from_host(cls, host: Any, user: str = "root") -> Target:
        """Build a Target from an inventory Host."""
        return cls(name=host.name, address=host.address, port=host.port, user=user)


@dataclass
class RemoteResult:
    """What a remote command left: exit code, output, duration."""

    target: str
    argv: list[str]
    exit_code: int
    stdout: str
    stderr: str
    duration: float

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def tail(self) -> list[str]:
        return (self.stdout + self.stderr).splitlines()[-TAIL_LINES:]


def remote_command(argv: Sequence[str]) -> str:
    """Return the command line the remote shell receives for an argv.

    Every word is quoted with ``shlex.quote``; the result is meant for the
    remote login shell only. Raises BadInputError for a malformed argv.
    """
    return " ".join(shlex.quote(word) for word in validate_argv(argv))


class SSHPool:
    """Reusable paramiko connections to managed hosts, one per target.

    Given the management private key, the known_hosts file with pinned keys,
    and timeouts in seconds. Safe to share between threads: connecting is
    serialised per target, channels are independent.
    """

    def __init__(
        self,
        key_file: Path,
        known_hosts: Path,
        connect_timeout: float = 5.0,
        command_timeout: float = 120.0,
    ) -> None:
        self.key_file = key_file
        self.known_hosts = known_hosts
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self._clients: dict[Target, Any] = {}
        self._locks: dict[Target, threading.Lock] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: Any) -> SSHPool:
        """Build a pool from the site Config's ssh settings."""
        return cls(config.ssh_key_file, config.ssh_known_hosts, config.ssh_connect_timeout, config.ssh_command_timeout)

    def _target_lock(self, target: Target) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(target, threading.Lock())

    def client(self, target: Target) -> Any:
        """Return a connected paramiko SSHClient for a target (reused while alive).

        Raises HostKeyError for an unknown or changed host key and
        UnreachableError when the host does not answer.
        """
        with self._target_lock(target):
            client = self._clients.get(target)
            transport = client.get_transport() if client else None
            if transport is not None and transport.is_active():
                return client
            client = self._connect(target)
            self._clients[target] = client
            return client

    def _connect(self, target: Target) -> Any:
        import paramiko

        if not self.known_hosts.exists():
            raise HostKeyError(f"no known_hosts file at {self.known_hosts}: refusing to connect to {target.name}")
        client = paramiko.SSHClient()
        client.load_host_keys(str(self.known_hosts))
        client.set_missing_host_key_policy(paramiko.RejectPolicy())
        where = f"{target.name} ({target.address}:{target.port})"
        try:
            client.connect(
                target.address,
                port=target.port,
                username=target.user,
                key_filename=str(self.key_file),
                timeout=self.connect_timeout,
                banner_timeout=self.connect_timeout,
                auth_timeout=self.connect_timeout,
                look_for_keys=False,
                allow_agent=False,
            )
        except paramiko.BadHostKeyException:
            client.close()
            raise HostKeyError(
                f"host key of {where} has CHANGED since it was pinned in {self.known_hosts}: "
                "refusing to connect (possible man-in-the-middle; re-pin only after checking)"
            ) from None
        except paramiko.SSHException as error:
            client.close()
            if "not found in known_hosts" in str(error):
                raise HostKeyError(
                    f"host key of {where} is not pinned in {self.known_hosts}: refusing to connect"
                ) from None
            if isinstance(error, paramiko.AuthenticationException):
                raise EgovError(f"{where}: authentication with {self.key_file} failed") from None
            raise UnreachableError(f"{where}: SSH failed: {error}") from None
        except TimeoutError:
            client.close()
            raise UnreachableError(f"{where}: connection timed out after {self.connect_timeout:g} s") from None
        except OSError as error:
            client.close()
            raise UnreachableError(f"{where}: unreachable: {error.strerror or error}") from None
        return client

    def run(
        self,
        target: Target,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        input_text: str | None = None,
        secrets: Iterable[str] = (),
    ) -> RemoteResult:
        """Run an argv on a host and wait for it.

        Given the target, the argv (quoted per word), an optional timeout
        (default: the pool's command timeout), text for stdin and secrets to
        mask in the returned output. Returns a RemoteResult (exit code -1 on
        timeout). Raises HostKeyError/UnreachableError as :meth:`client`.
        """
        command = remote_command(argv)
        limit = timeout or self.command_timeout
        client = self.client(target)
        started = time.monotonic()
        try:
            transport = client.get_transport()
            channel = transport.open_session(timeout=self.connect_timeout)
        except Exception as error:  # a dead pooled transport: reconnect once
            self.drop(target)
            client = self.client(target)
            try:
                channel = client.get_transport().open_session(timeout=self.connect_timeout)
            except Exception:
                raise UnreachableError(f"{target.name}: cannot open an SSH channel: {error}") from None
        channel.settimeout(limit)
        channel.exec_command(command)
        if input_text is not None:
            channel.sendall(input_text.encode("utf-8"))
        channel.shutdown_write()
        stdout, stderr, exit_code = _collect(channel, started + limit)
        secret_list = [s for s in secrets if s]
        return RemoteResult(
            target=target.name,
            argv=list(argv),
            exit_code=exit_code,
            stdout=mask_text(stdout, secret_list),
            stderr=mask_text(stderr, secret_list),
            duration=time.monotonic() - started,
        )

    def drop(self, target: Target) -> None:
        """Close and forget the connection to one target."""
        with self._lock:
            client = self._clients.pop(target, None)
        if client is not None:
            client.close()

    def close(self) -> None:
        """Close every pooled connection."""
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()

    def __enter__(self) -> SSHPool:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _collect(channel: Any, deadline: float) -> tuple[str, str, int]:
    """Read a channel's stdout and stderr until it exits or the deadline passes."""
    out: list[bytes] = []
    err: list[bytes] = []
    while True:
        while channel.recv_ready():
            out.append(channel.recv(65536))
        while channel.recv_stderr_ready():
            err.append(channel.recv_stderr(65536))
        if channel.exit_status_ready() and not channel.recv_ready() and not channel.recv_stderr_ready():
            break
        if time.monotonic() > deadline:
            channel.close()
            return b"".join(out).decode(errors="replace"), b"".join(err).decode(errors="replace") + "\n(timed out)", -1
        time.sleep(0.005)
    exit_code = channel.recv_exit_status()
    channel.close()
    return b"".join(out).decode(errors="replace"), b"".join(err).decode(errors="replace"), exit_code
