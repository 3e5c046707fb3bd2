"""A remote command in a process group of its own, so that stopping it stops everything it started.

A stopped command (cancelled, past its deadline) must not leave its children
running on the host: restic's dump command, the ssh restic starts to the
backup center. :data:`GROUP_WRAPPER` starts the command in a session (and
process group) of its own, whose id it reports first on stderr; :class:`Group`
takes that line out of the output and, when the command is stopped, signals
the group over a second channel (:func:`stop_group`). Used by
:meth:`controlplane.ssh.SSHPool.stream` with ``own_group=True``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import paramiko

    from . import LineCallback, SSHPool, Target

GROUP_WRAPPER = ("setsid", "-w", "sh", "-c", 'printf "egov-pgid %s\\n" "$$" >&2; exec "$@"', "egov-run")
GROUP_MARK = "egov-pgid "
# restic ends cleanly on SIGTERM (removes its lock); SIGKILL after this long.
TERM_GRACE = 10.0


class Group:
    """The group of one wrapped command: its id, read from the wrapper's first stderr line."""

    def __init__(self, on_line: LineCallback | None) -> None:
        self.pgid: int | None = None
        self.on_line = on_line

    def line(self, text: str, stream: str) -> None:
        """Keep the wrapper's mark out of the output; hand every other line on."""
        if stream == "err" and self.pgid is None and text.startswith(GROUP_MARK):
            self.pgid = int(text[len(GROUP_MARK) :])
            return
        if self.on_line is not None:
            self.on_line(text, stream)

    def stderr(self, text: str) -> str:
        """The command's stderr without the wrapper's first line."""
        if self.pgid is not None and text.startswith(GROUP_MARK):
            return text.split("\n", 1)[1] if "\n" in text else ""
        return text

    def stopper(
        self, pool: SSHPool, target: Target, then: Callable[[paramiko.Channel], None] | None
    ) -> Callable[[paramiko.Channel], None]:
        """The stop hook: the group stopped (when its id is known), then the caller's own hook."""

        def stop(channel: paramiko.Channel) -> None:
            if self.pgid is not None:
                stop_group(pool, target, self.pgid, channel)
            if then is not None:
                then(channel)

        return stop


def stop_group(pool: SSHPool, target: Target, pgid: int, channel: paramiko.Channel | None = None) -> bool:
    """Stop a wrapped command's group on its host; return whether its leader ended within :data:`TERM_GRACE`.

    ``pgid`` is the id the wrapper reported (the command's own pid: the
    wrapper's ``exec`` chain keeps it). First SIGTERM to the command alone,
    so restic can remove its repository lock through its still-living ssh to
    the center ("signal terminated received, cleaning up"); when it has
    ended, or after the grace time, SIGKILL to whatever is left of the group
    (the dump command, the ssh). Never raises: an unreachable host is
    reported as False (its sshd ends the session when the connection dies).
    """
    if pgid <= 1:
        return False
    try:
        pool.run(target, ["kill", "-TERM", "--", str(pgid)], timeout=30)
        ended = False
        deadline = time.monotonic() + TERM_GRACE
        while time.monotonic() < deadline:
            if channel is not None and channel.exit_status_ready():
                ended = True
                break
            if pool.run(target, ["kill", "-0", "--", str(pgid)], timeout=30).exit_code != 0:
                ended = True
                break
            time.sleep(0.3)
        pool.run(target, ["kill", "-KILL", "--", f"-{pgid}"], timeout=30)
        return ended
    except Exception:  # best effort: the caller already reports the stop
        return False
