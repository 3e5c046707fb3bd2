"""Running argv lists where the data is: on a managed host over SSH, or locally.

restic runs on the host that holds the data (its repository is on the backup
center over SFTP), started through the control plane's pooled SSH
connection. The repository password travels as the command's **stdin** only
(see :mod:`controlplane.backup.commands` for the leak analysis); output lines
are masked and handed to a callback as they arrive, so progress can be shown
and parsed while restic works. The control plane's own datasets run locally
through :func:`controlplane.execute.run`.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from controlplane import execute
from controlplane.errors import UnreachableError
from controlplane.ssh import Target, remote_command

LineCallback = Callable[[str, str], None]
DEFAULT_TIMEOUT = 6 * 3600.0
# A cancellable remote command runs in a session (and process group) of its
# own, whose id the wrapper reports first on stderr; cancel signals restic,
# then that whole group (its dump command, its ssh to the center) over a
# second channel (see RemoteExecutor.stop_group).
GROUP_WRAPPER = ("setsid", "-w", "sh", "-c", 'printf "egov-pgid %s\\n" "$$" >&2; exec "$@"', "egov-run")
GROUP_MARK = "egov-pgid "
# restic ends cleanly on SIGTERM (removes its lock); SIGKILL after this long.
TERM_GRACE = 10.0
# How long a dead connection may stay silent before we give up on it.
IDLE_LIMIT = 120.0


@dataclass
class Result:
    """What a command left: exit code, masked output, duration, and why it stopped early."""

    exit_code: int
    stdout: str
    stderr: str
    duration: float
    lines: list[str] = field(default_factory=list)
    timed_out: bool = False
    cancelled: bool = False

    @property
    def tail(self) -> list[str]:
        """The last 20 output lines (stdout then stderr), for messages."""
        return (self.stdout + "\n" + self.stderr).strip().splitlines()[-20:]


class Executor(abc.ABC):
    """Runs argv lists on one host: ``run(argv, input_text=..., on_line=...)``."""

    host: str

    @abc.abstractmethod
    def run(
        self,
        argv: Sequence[str],
        *,
        input_text: str | None = None,
        secrets: Iterable[str] = (),
        on_line: LineCallback | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        should_cancel: Callable[[], bool] | None = None,
    ) -> Result:
        """Run argv to completion; see the concrete classes."""


class LocalExecutor(Executor):
    """The control plane's own machine (datasets with ``local: true``)."""

    def __init__(self, host: str = "controlplane", cwd: str | None = None) -> None:
        self.host = host
        self.cwd = cwd

    def run(
        self,
        argv: Sequence[str],
        *,
        input_text: str | None = None,
        secrets: Iterable[str] = (),
        on_line: LineCallback | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        should_cancel: Callable[[], bool] | None = None,
    ) -> Result:
        """Run argv locally (stdin given, output masked); lines are reported after it ends."""
        result = execute.run(argv, tool="restic", input_text=input_text, secrets=secrets, timeout=timeout, cwd=self.cwd)
        lines = result.stdout.splitlines()
        if on_line is not None:
            for line in lines:
                on_line(line, "out")
            for line in result.stderr.splitlines():
                on_line(line, "err")
        return Result(
            exit_code=result.exit_code,
            stdout=result.stdout,
            stderr=result.stderr,
            duration=result.duration,
            lines=lines,
            timed_out=result.outcome == execute.Outcome.TIMEOUT,
        )


class RemoteExecutor(Executor):
    """A managed host reached through a shared :class:`~controlplane.ssh.SSHPool`."""

    def __init__(self, pool: Any, target: Target) -> None:
        self.pool = pool
        self.target = target
        self.host = target.name

    def _channel(self) -> Any:
        try:
            return self.pool.client(self.target).get_transport().open_session(timeout=self.pool.connect_timeout)
        except UnreachableError:
            raise
        except Exception:  # a dead pooled transport: reconnect once
            self.pool.drop(self.target)
            try:
                return self.pool.client(self.target).get_transport().open_session(timeout=self.pool.connect_timeout)
            except UnreachableError:
                raise
            except Exception as error:
                raise UnreachableError(f"{self.target.name}: cannot open an SSH channel: {error}") from None

    def run(
        self,
        argv: Sequence[str],
        *,
        input_text: str | None = None,
        secrets: Iterable[str] = (),
        on_line: LineCallback | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        should_cancel: Callable[[], bool] | None = None,
    ) -> Result:
        """Run argv on the host, streaming masked lines to ``on_line`` as they come.

        Given the argv (quoted word by word for the remote shell), stdin text
        (written once, then the stream is closed), secrets to mask, a line
        callback ``(line, "out"|"err")``, a timeout and a cancel probe.
        Returns a Result (exit code -1 after a timeout or cancel). Raises
        UnreachableError/HostKeyError when the host cannot be reached.
        """
        secret_list = [s for s in secrets if s]
        cancellable = should_cancel is not None
        command = remote_command([*GROUP_WRAPPER, *argv] if cancellable else list(argv))
        group: list[int] = []
        started = time.monotonic()
        channel = self._channel()
        channel.settimeout(1.0)
        channel.exec_command(command)
        if input_text is not None:
            channel.sendall(input_text.encode("utf-8"))
        channel.shutdown_write()
        buffers = {"out": b"", "err": b""}
        collected: dict[str, list[str]] = {"out": [], "err": []}

        def emit(stream: str, final: bool = False) -> None:
            data = buffers[stream]
            *complete, rest = data.split(b"\n")
            if final and rest:
                complete.append(rest)
                rest = b""
            buffers[stream] = rest
            for raw in complete:
                line = execute.mask_text(raw.decode("utf-8", errors="replace").rstrip("\r"), secret_list)
                if cancellable and stream == "err" and not group and line.startswith(GROUP_MARK):
                    group.append(int(line[len(GROUP_MARK) :]))
                    continue
                collected[stream].append(line)
                if on_line is not None:
                    on_line(line, stream)

        timed_out = cancelled = False
        last_data = time.monotonic()
        while True:
            got = False
            while channel.recv_ready():
                buffers["out"] += channel.recv(65536)
                got = True
            while channel.recv_stderr_ready():
                buffers["err"] += channel.recv_stderr(65536)
                got = True
            if got:
                last_data = time.monotonic()
                emit("out")
                emit("err")
            if channel.exit_status_ready() and not channel.recv_ready() and not channel.recv_stderr_ready():
                break
            now = time.monotonic()
            if now - started > timeout:
                timed_out = True
                break
            if should_cancel is not None and should_cancel():
                cancelled = True
                break
            # The management connection itself died (host isolated): paramiko
            # notices only through its keepalive; stop waiting on a dead transport.
            transport = channel.get_transport()
            if (transport is None or not transport.is_active()) and now - last_data > 5:
                timed_out = True
                break
            time.sleep(0.02)
        emit("out", final=True)
        emit("err", final=True)
        if (timed_out or cancelled) and group:
            self.stop_group(group[0], channel)
        exit_code = -1 if (timed_out or cancelled) else channel.recv_exit_status()
        channel.close()
        return Result(
            exit_code=exit_code,
            stdout="\n".join(collected["out"]),
            stderr="\n".join(collected["err"]),
            duration=time.monotonic() - started,
            lines=collected["out"],
            timed_out=timed_out,
            cancelled=cancelled,
        )

    def stop_group(self, pgid: int, channel: Any = None) -> bool:
        """Stop a cancelled remote command; return whether it ended within :data:`TERM_GRACE`.

        Given the group id the wrapper reported (restic's own pid: the
        wrapper's ``exec`` chain keeps it) and the command's channel. First
        SIGTERM to restic alone, so it can remove its repository lock through
        its still-living ssh to the center ("signal terminated received,
        cleaning up"); when restic has ended, or after the grace time, SIGKILL
        to whatever is left of the group (the dump command, the ssh). Never
        raises: an unreachable host is reported as False (its sshd ends the
        session when the connection dies; the next run unlocks stale locks).
        """
        if pgid <= 1:
            return False
        try:
            self.pool.run(self.target, ["kill", "-TERM", "--", str(pgid)], timeout=30)
            ended = False
            deadline = time.monotonic() + TERM_GRACE
            while time.monotonic() < deadline:
                if channel is not None and channel.exit_status_ready():
                    ended = True
                    break
                if self.pool.run(self.target, ["kill", "-0", "--", str(pgid)], timeout=30).exit_code != 0:
                    ended = True
                    break
                time.sleep(0.3)
            self.pool.run(self.target, ["kill", "-KILL", "--", f"-{pgid}"], timeout=30)
            return ended
        except Exception:  # best effort: the caller already reports the cancel
            return False
