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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from controlplane import execute
from controlplane.ssh import LineCallback, Target

if TYPE_CHECKING:
    from controlplane.ssh import SSHPool

DEFAULT_TIMEOUT = 6 * 3600.0


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


@dataclass(frozen=True)
class Options:
    """How one command runs: its stdin, the secrets to mask, the line callback, its limits and cancel check."""

    input_text: str | None = None
    secrets: tuple[str, ...] = ()
    on_line: LineCallback | None = None
    timeout: float = DEFAULT_TIMEOUT
    should_cancel: Callable[[], bool] | None = None
    idle_timeout: float | None = None


class Executor(abc.ABC):
    """Runs argv lists on one host: ``run(argv, input_text=..., on_line=...)``."""

    host: str

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
        """Run argv to completion with the password (if any) as stdin and output masked; see :meth:`execute`."""
        options = Options(input_text, tuple(secrets), on_line, timeout, should_cancel, idle_timeout)
        return self.execute(list(argv), options)

    def execute(self, argv: list[str], options: Options) -> Result:
        """Run argv as :meth:`run` says; each kind of host does it its own way.

        Not abstract so that a test double may replace :meth:`run` alone.
        Raises NotImplementedError here.
        """
        raise NotImplementedError


class LocalExecutor(Executor):
    """The control plane's own machine (datasets with ``local: true``)."""

    def __init__(self, host: str = "controlplane", cwd: str | None = None) -> None:
        self.host = host
        self.cwd = cwd

    def execute(self, argv: list[str], options: Options) -> Result:
        """Run argv locally (stdin given, output masked); lines are reported after it ends.

        ``idle_timeout`` and ``should_cancel`` do not apply here (no
        connection can wedge); ``timeout`` does.
        """
        result = execute.run(
            argv,
            input_text=options.input_text,
            secrets=options.secrets,
            timeout=options.timeout,
            cwd=self.cwd,
        )
        lines = result.stdout.splitlines()
        if options.on_line is not None:
            for line in lines:
                options.on_line(line, "out")
            for line in result.stderr.splitlines():
                options.on_line(line, "err")
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

    def execute(self, argv: list[str], options: Options) -> Result:
        """Run argv on the host through :meth:`SSHPool.stream`, masked lines to ``on_line`` as they come.

        A cancellable command (``should_cancel`` given) runs in a process
        group of its own (:mod:`controlplane.ssh.groups`), which is stopped
        when the run is cancelled or times out. Every SSH step has its
        deadline (see :mod:`controlplane.ssh`): a wedged or cut-off host ends
        the run as timed out within the pool's keepalive bound, with
        ``stop_reason`` naming the host. Returns a Result (exit code -1 when
        stopped). Raises UnreachableError/HostKeyError when the host cannot
        be reached before the command starts.
        """
        result = self.pool.stream(
            self.target,
            argv,
            input_text=options.input_text,
            secrets=options.secrets,
            on_line=options.on_line,
            should_cancel=options.should_cancel,
            timeout=options.timeout,
            idle_timeout=options.idle_timeout,
            own_group=options.should_cancel is not None,
        )
        return Result(
            exit_code=result.exit_code,
            stdout="\n".join(result.lines),
            stderr=result.stderr.rstrip("\n"),
            duration=result.duration,
            lines=result.lines,
            timed_out=result.timed_out,
            cancelled=result.cancelled,
            stop_reason=result.stop_reason,
        )
