"""SSH to managed hosts with paramiko: pinned or certified host keys, pooled connections, bounded time.

Host keys come only from a known_hosts file the lab or an operator provides,
or are certified by the control plane's own CA (:mod:`.trust`); an unknown,
changed or wrongly certified key is refused with a message saying which. Remote
commands are given as argv and quoted word by word with ``shlex.quote``, so
a host name, path or label with ``;``, ``$()``, spaces or newlines is data,
never shell syntax, on the remote side.

Every step has a deadline, so a host whose sshd accepts TCP but never
answers (wedged, or black-holed after connect) costs a bounded time, never
a hung thread (:mod:`.steps`): the TCP connect, the banner, the key
exchange, the authentication, the channel open and the exec request each
get ``connect_timeout`` (capped by what is left of the command's own
deadline); the command gets its ``timeout``, optionally an
``idle_timeout`` (no output and no exit for that long); and a command that
is silent for ``keepalive_interval`` seconds makes one round trip to sshd
(a channel open, which sshd itself answers), so a wedged sshd is noticed
within ``keepalive_interval x keepalive_count_max`` seconds even under a
silent command. paramiko's keepalive and ``TCP_USER_TIMEOUT`` on the
socket make a black-holed peer's connection die in that time at the TCP
level, so idle pooled connections to it are not reused.

:meth:`SSHPool.stream` is the one way a command runs (lines to a callback
as they come, cancel, a stop hook, optionally in a process group of its own
that is stopped with it: :mod:`.groups`); :meth:`SSHPool.run` is it without
a callback.
"""

from __future__ import annotations

import shlex
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from controlplane.errors import UnreachableError
from controlplane.execute import TAIL_LINES, validate_argv

from .groups import GROUP_WRAPPER, Group
from .steps import Deadline, Lines, exec_within, handshake, pump, seconds_text
from .trust import HostTrust

if TYPE_CHECKING:
    import paramiko

    from controlplane.config import Config
    from controlplane.inventory import Host

LineCallback = Callable[[str, str], None]


@dataclass(frozen=True)
class Target:
    """Where to connect: the inventory name (for messages), address, port, user."""

    name: str
    address: str
    port: int = 22
    user: str = "root"

    @classmethod
    def from_host(cls, host: Host, user: str = "root") -> Target:
        """Build a Target from an inventory Host."""
        return cls(name=host.name, address=host.address, port=host.port, user=user)

    @property
    def where(self) -> str:
        """``name (address:port)``, the way every message names the host."""
        return f"{self.name} ({self.address}:{self.port})"


@dataclass
class RemoteResult:
    """What a remote command left: exit code, masked output, duration, and why it was stopped early.

    ``exit_code`` is -1 when we stopped it: ``timed_out`` (its deadline, its
    idle limit, or a dead or wedged connection; ``stop_reason`` says which,
    naming the host) or ``cancelled``. ``lines`` are the stdout lines.
    """

    target: str
    argv: list[str]
    exit_code: int
    stdout: str
    stderr: str
    duration: float
    lines: list[str] = field(default_factory=list)
    timed_out: bool = False
    cancelled: bool = False
    stop_reason: str = ""

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

    Host keys come only from ``known_hosts`` (pinned, never learnt); the
    limits are in seconds (see the module docstring). Safe to share
    between threads: connecting is serialised per target, channels are
    independent.
    """

    def __init__(
        self,
        key_file: Path,
        known_hosts: Path,
        connect_timeout: float = 5.0,
        command_timeout: float = 120.0,
        *,
        keepalive_interval: float = 5.0,
        keepalive_count_max: int = 3,
        idle_timeout: float = 0.0,
        trust: HostTrust | None = None,
    ) -> None:
        self.key_file = key_file
        self.known_hosts = known_hosts
        # Which host keys are accepted: pins in known_hosts, plus the CA's certificates when from_config built it.
        self.trust = trust or HostTrust(known_hosts)
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self.keepalive_interval = keepalive_interval
        self.keepalive_count_max = keepalive_count_max
        self.idle_timeout = idle_timeout
        self._clients: dict[Target, paramiko.SSHClient] = {}
        self._locks: dict[Target, threading.Lock] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: Config) -> SSHPool:
        """Build a pool from the site Config's ``ssh`` settings, trusting pinned keys and the site's SSH CA."""
        return cls(
            config.ssh_key_file,
            config.ssh_known_hosts,
            config.ssh_connect_timeout,
            config.ssh_command_timeout,
            keepalive_interval=config.ssh_keepalive_interval,
            keepalive_count_max=config.ssh_keepalive_count_max,
            idle_timeout=config.ssh_idle_timeout,
            trust=HostTrust.from_config(config),
        )

    @property
    def dead_after(self) -> float:
        """Seconds without any answer after which a connection counts as dead."""
        return self.keepalive_interval * self.keepalive_count_max

    def _target_lock(self, target: Target) -> threading.Lock:
        with self._lock:
            return self._locks.setdefault(target, threading.Lock())

    def client(self, target: Target, within: float | None = None) -> paramiko.SSHClient:
        """Return a connected paramiko SSHClient for a target (reused while alive).

        ``within`` caps the whole connect (default: one ``connect_timeout`` per
        step). Raises HostKeyError for an unknown or changed host key and
        UnreachableError, naming the host and the step, when it does not answer.
        """
        deadline = Deadline(within if within is not None else 4 * self.connect_timeout, self.connect_timeout)
        lock = self._target_lock(target)
        if not lock.acquire(timeout=max(0.05, deadline.left())):
            raise UnreachableError(f"{target.where}: another connection attempt held it past the deadline")
        try:
            client = self._clients.get(target)
            transport = client.get_transport() if client else None
            if client is not None and transport is not None and transport.is_active():
                return client
            client = handshake(
                target, self.key_file, self.known_hosts, deadline, self.keepalive_interval, self.dead_after, self.trust
            )
            self._clients[target] = client
            return client
        finally:
            lock.release()

    def _open(self, target: Target, deadline: Deadline) -> paramiko.Channel:
        """Open a session channel, reconnecting once when the pooled connection is dead or wedged."""
        first: Exception | None = None
        waited = 0.0
        for attempt in (1, 2):
            client = self.client(target, within=deadline.left())
            transport = client.get_transport()
            seconds = deadline.step()
            try:
                if transport is None:
                    raise EOFError("no transport")
                return transport.open_session(timeout=seconds)
            except Exception as error:  # a dead or wedged pooled transport: drop it, connect anew once
                first, waited = first or error, max(waited, seconds)
                self.drop(target)
                if attempt == 2 or deadline.left() <= 0:
                    break
        raise UnreachableError(
            f"{target.where}: opening an SSH channel did not succeed within {seconds_text(waited)} s: {first}"
        )

    def stream(
        self,
        target: Target,
        argv: Sequence[str],
        *,
        input_text: str | None = None,
        secrets: Iterable[str] = (),
        on_line: LineCallback | None = None,
        should_cancel: Callable[[], bool] | None = None,
        on_stop: Callable[[paramiko.Channel], None] | None = None,
        timeout: float | None = None,
        idle_timeout: float | None = None,
        own_group: bool = False,
    ) -> RemoteResult:
        """Run an argv on a host, handing each masked output line to ``on_line(line, "out"|"err")`` as it comes.

        ``input_text`` is written to stdin once, then stdin is closed.
        ``timeout`` (default: the pool's command timeout) and ``idle_timeout``
        (default: the pool's; 0 is none) stop the command, as do
        ``should_cancel()`` returning true and a connection that stops
        answering; ``on_stop(channel)`` is then called while the channel is
        still open (to stop the remote processes), except when the connection
        itself is dead. With ``own_group`` the command runs in a process
        group of its own (:mod:`.groups`), which a stop also ends (TERM,
        then KILL after a grace time). Returns the RemoteResult. Raises
        HostKeyError, and UnreachableError naming the host and step for
        every step before the command runs (connect, banner, key exchange,
        auth, channel, exec).
        """
        group = Group(on_line) if own_group else None
        if group is not None:
            on_line, on_stop = group.line, group.stopper(self, target, on_stop)
        command = remote_command([*GROUP_WRAPPER, *argv] if group is not None else argv)
        limit = timeout or self.command_timeout
        idle = self.idle_timeout if idle_timeout is None else idle_timeout
        started = time.monotonic()
        deadline = Deadline(limit, self.connect_timeout)
        channel = self._open(target, deadline)
        try:
            exec_within(target, channel, command, deadline.step())
        except UnreachableError:
            self.drop(target)
            raise
        channel.settimeout(deadline.step())
        try:
            if input_text is not None:
                channel.sendall(input_text.encode("utf-8"))
            channel.shutdown_write()
        except (OSError, EOFError) as error:
            channel.close()
            raise UnreachableError(f"{target.where}: writing the command's input failed: {error}") from None
        lines = Lines(secrets, on_line)
        stop, reason, dead = pump(
            target,
            channel,
            lines,
            deadline,
            limit=limit,
            idle=idle,
            keepalive_interval=self.keepalive_interval,
            dead_after=self.dead_after,
            should_cancel=should_cancel,
        )
        if dead:
            self.drop(target)
        lines.feed("out", b"", final=True)
        lines.feed("err", b"", final=True)
        if stop and on_stop is not None and not dead:
            on_stop(channel)
        exit_code = -1 if stop else channel.recv_exit_status()
        channel.close()
        stderr = lines.text("err") if group is None else group.stderr(lines.text("err"))
        if reason:
            stderr += ("\n" if stderr and not stderr.endswith("\n") else "") + f"({reason})\n"
        return RemoteResult(
            target=target.name,
            argv=list(argv),
            exit_code=exit_code,
            stdout=lines.text("out"),
            stderr=stderr,
            duration=time.monotonic() - started,
            lines=lines.lines["out"],
            timed_out=stop == "timeout",
            cancelled=stop == "cancel",
            stop_reason=reason,
        )

    def run(
        self,
        target: Target,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        idle_timeout: float | None = None,
        input_text: str | None = None,
        secrets: Iterable[str] = (),
    ) -> RemoteResult:
        """Run an argv on a host and wait for it (:meth:`stream` without a line callback).

        Returns a RemoteResult (exit code -1 when stopped, the reason at the
        end of stderr). Raises HostKeyError/UnreachableError as :meth:`stream`.
        """
        return self.stream(
            target, argv, timeout=timeout, idle_timeout=idle_timeout, input_text=input_text, secrets=secrets
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
