"""Turning a finished restic command into one clear outcome an operator can act on.

:mod:`.exitcodes` says what a code means in general; here the code is read
together with restic's own ``exit_error``/``error`` lines so that the common
failures each get their own reason and message: the backup center could not
be reached, the password is wrong, a source path is missing, the dump command
failed or produced nothing. Pure: text in, :class:`Diagnosis` out.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from controlplane.execute import Outcome
from controlplane.store.models import RunStatus

from . import exitcodes, jsonout

# Words restic (or the ssh it starts) prints when the SFTP connection fails.
_UNREACHABLE = re.compile(
    r"(connection refused|connection timed out|no route to host|timeout, server .* not responding|"
    r"connection reset|broken pipe|subprocess ssh|ssh command exited|connection closed|"
    r"network is unreachable|host key verification failed|permission denied \(publickey|"
    # sshd on the center going away during the handshake: restic cannot start its SFTP session.
    r"unable to start the sftp session|server unexpectedly closed connection)",
    re.IGNORECASE,
)
# restic's ssh to the center has ended: restic's sftp backend cannot reconnect, so restic can only fail now.
# ("subprocess ssh: ..." is how restic relays its ssh's stderr; "ssh command exited" its own error.)
_SSH_GONE = re.compile(
    r"ssh command exited|subprocess ssh: .*(timeout, server .* not responding|broken pipe|connection reset|"
    r"connection closed|connection timed out)",
    re.IGNORECASE,
)
# restic usually ends within a second of its ssh; it can also hang for good (restic issue #3133:
# "restic backup hangs forever, but only sometimes" after "ssh command exited"), so it gets this long.
CENTER_LOST_GRACE = 10.0
_STATUS = {
    Outcome.OK: RunStatus.SUCCEEDED,
    Outcome.PARTIAL: RunStatus.PARTIAL,
    Outcome.INTERRUPTED: RunStatus.INTERRUPTED,
}


@dataclass(frozen=True)
class Diagnosis:
    """The run status, a short reason code, a message and whether to alert."""

    status: str
    reason: str
    message: str
    alert: bool
    exit_code: int

    @property
    def ok(self) -> bool:
        return self.status == RunStatus.SUCCEEDED

    def succeeded_as(self, message: str) -> Diagnosis:
        """This outcome with the operation's own message when it succeeded (it is returned as is otherwise)."""
        return Diagnosis(self.status, "ok", message, False, self.exit_code) if self.ok else self


# A repository whose password the vault lacks was never written to: nothing to check, prune or copy.
NEVER_BACKED_UP = Diagnosis(
    RunStatus.FAILED, "no_repository", "no password in the vault: this repository was never backed up", True, -1
)


class CenterWatch:
    """Notices in restic's output that its ssh to the center ended, and when restic has had long enough to end.

    Fed every output line of one restic command; :meth:`expired` is true
    once ``grace`` seconds have passed since the first such line (the
    engine then stops restic). Costs one regular-expression search per
    stderr line.
    """

    def __init__(self, grace: float = CENTER_LOST_GRACE) -> None:
        self.grace = grace
        self.since: float | None = None
        self.line = ""

    def feed(self, line: str, stream: str) -> None:
        if self.since is None and (stream == "err" or '"error"' in line) and _SSH_GONE.search(line):
            self.since, self.line = time.monotonic(), line[:300]

    def expired(self) -> bool:
        return self.since is not None and time.monotonic() - self.since > self.grace


def restic_reasons(text: str) -> list[str]:
    """restic's own error messages in an output (``exit_error`` and ``error`` lines), in order."""
    return jsonout.errors_in(text)


def diagnose(
    exit_code: int,
    output: str,
    *,
    dump: bool = False,
    center: str = "the backup center",
    timed_out: bool = False,
    cancelled: bool = False,
    stop_reason: str = "",
    center_lost: str = "",
) -> Diagnosis:
    """Return the outcome of one restic command.

    ``output`` is the whole masked output, stdout and stderr together.
    ``stop_reason`` says why we stopped restic ourselves (a deadline, or a
    wedged or lost connection to the host, naming it); ``center_lost`` is the
    line saying restic's ssh to the center ended, when restic then had to be
    stopped: it wins over the exit code. Raises nothing.
    """
    if center_lost:
        return Diagnosis(
            RunStatus.FAILED,
            "center_unreachable",
            f"{center} could not be reached over SFTP (cut off or down): restic's ssh to it ended "
            f"({center_lost.strip()}) and restic, which did not end by itself, was stopped",
            True,
            exit_code,
        )
    if cancelled:
        return Diagnosis(RunStatus.CANCELLED, "cancelled", "cancelled by request", False, exit_code)
    if timed_out:
        message = f"restic was stopped: {stop_reason}" if stop_reason else "restic did not finish in time, was stopped"
        return Diagnosis(RunStatus.FAILED, "timeout", message, True, exit_code)
    reasons = restic_reasons(output)
    detail = reasons[-1] if reasons else _last_line(output)
    meaning = exitcodes.meaning(exit_code, dump=dump)
    status = _STATUS.get(meaning.outcome, RunStatus.FAILED)
    if exit_code == exitcodes.OK:
        return Diagnosis(status, "ok", meaning.message, False, exit_code)
    if exit_code == exitcodes.WRONG_PASSWORD:
        return Diagnosis(
            status,
            "wrong_password",
            "wrong repository password: the vault's secret does not open this repository "
            "(was the repository re-created, or the secret replaced?)",
            True,
            exit_code,
        )
    if _UNREACHABLE.search(output) and exit_code not in (exitcodes.PARTIAL,):
        return Diagnosis(
            RunStatus.FAILED,
            "center_unreachable",
            f"{center} could not be reached over SFTP (down, cut off, or refusing the key): {detail}",
            True,
            exit_code,
        )
    if dump and "command failed" in output:
        return Diagnosis(
            RunStatus.FAILED,
            "dump_failed",
            f"the dump command failed, so no snapshot was made: {detail}",
            True,
            exit_code,
        )
    if dump and exit_code == exitcodes.PARTIAL:
        return Diagnosis(RunStatus.FAILED, "dump_empty", f"{meaning.message}: {detail}", True, exit_code)
    if "do not exist" in output or "does not exist, skipping" in output:
        missing = [
            line.split(" does not exist")[0] for line in output.splitlines() if "does not exist, skipping" in line
        ]
        what = ", ".join(missing) or "the source paths"
        if exit_code == exitcodes.PARTIAL or (missing and exit_code == exitcodes.OK):
            return Diagnosis(
                RunStatus.PARTIAL, "source_missing", f"source path missing, skipped: {what}", True, exit_code
            )
        if exit_code == exitcodes.FATAL:
            return Diagnosis(
                RunStatus.FAILED, "source_missing", f"source path missing on the host: {what}", True, exit_code
            )
    if exit_code == exitcodes.REPO_MISSING:
        return Diagnosis(status, "repo_missing", f"{meaning.message}: {detail}", True, exit_code)
    if exit_code == exitcodes.LOCKED:
        return Diagnosis(status, "locked", f"{meaning.message}: {detail}", True, exit_code)
    if exit_code == exitcodes.PARTIAL:
        return Diagnosis(status, "partial", f"{meaning.message}: {detail}", True, exit_code)
    reason = "interrupted" if status == RunStatus.INTERRUPTED else "fatal"
    return Diagnosis(
        status, reason, f"{meaning.message}: {detail}" if detail else meaning.message, meaning.alert, exit_code
    )


def _last_line(output: str) -> str:
    lines = [
        line.strip() for line in output.splitlines() if line.strip() and not line.startswith('{"message_type":"status"')
    ]
    return lines[-1][:500] if lines else ""
