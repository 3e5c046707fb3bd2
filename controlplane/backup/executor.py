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
from typing import TYPE_CHECKING, Any

from controlplane import execute
from controlplane.ssh import LineCallback, Target

if TYPE_CHECKING:
    from controlplane.ssh import SSHPool

DEFAULT_TIMEOUT = 6 * 3600.0
# A cancellable remote command runs in a session (and process group) of its
# own, whose id the wrapper reports first on stderr; cancel signals restic,
# then that whole group (its dump command, its ssh to the center) over a
# second channel (see RemoteExecutor.stop_group).
GROUP_WRAPPER = ("setsid", "-w", "sh", "-c", 'printf "egov-pgid %s\\n" "$$" >&2; exec "$@"', "egov-run")
GROUP_MARK = "egov-pgid "
# restic ends cleanly on SIGTERM (removes its lock); SIGKILL after this long.
TERM_GRACE = 10.0


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
    stop_reason: str = ""  # why we stopped it early, naming the host (a deadline, a wedged connection)

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
        idle_timeout: float | None = None,
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
        idle_timeout: float | None = None,
    ) -> Result:
        """Run argv locally (stdin given, output masked); lines are reported after it ends.

        ``idle_timeout`` does not apply here (no connection can wedge); ``timeout`` does.
        """
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

    def __init__(self, pool: SSHPool, target: Target) -> None:
        self.pool = pool
        self.target = target
        self.host = target.name

    def run(
        self,
        argv: Sequence[str],
        *,
        input_text: str | None = None,
        secrets: Iterable[str] = (),
        on_line: LineCallback | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        should_cancel: Callable[[], bool] | None = None,
        idle_timeout: float | None = None,
    ) -> Result:
        """Run argv on the host through :meth:`SSHPool.stream`, masked lines to ``on_line`` as they come.

        A cancellable command (``should_cancel`` given) runs in a process
        group of its own (:data:`GROUP_WRAPPER`), which is stopped
        (:meth:`stop_group`) when the run is cancelled or times out. Every SSH
        step has its deadline (see :mod:`controlplane.ssh`): a wedged or
        cut-off host ends the run as timed out within the pool's keepalive
        bound, with ``stop_reason`` naming the host. Returns a Result (exit
        code -1 when stopped). Raises UnreachableError/HostKeyError when the
        host cannot be reached before the command starts.
        """
        cancellable = should_cancel is not None
        group: list[int] = []

        def line(text: str, stream: str) -> None:
            if cancellable and stream == "err" and not group and text.startswith(GROUP_MARK):
                group.append(int(text[len(GROUP_MARK) :]))
                return
            if on_line is not None:
                on_line(text, stream)

        def stop(channel: Any) -> None:
            if group:
                self.stop_group(group[0], channel)

        result = self.pool.stream(
            self.target,
            [*GROUP_WRAPPER, *argv] if cancellable else list(argv),
            input_text=input_text,
            secrets=secrets,
            on_line=line,
            should_cancel=should_cancel,
            on_stop=stop,
            timeout=timeout,
            idle_timeout=idle_timeout,
        )
        stderr = result.stderr
        if group and stderr.startswith(GROUP_MARK):  # the wrapper's first stderr line is ours
            stderr = stderr.split("\n", 1)[1] if "\n" in stderr else ""
        return Result(
            exit_code=result.exit_code,
            stdout="\n".join(result.lines),
            stderr=stderr.rstrip("\n"),
            duration=result.duration,
            lines=result.lines,
            timed_out=result.timed_out,
            cancelled=result.cancelled,
            stop_reason=result.stop_reason,
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
