"""The one place that starts local processes.

Callers build argv lists with pure functions and hand them here. This module
never uses a shell, logs each command with its secrets masked, keeps the last
lines of output for error messages and returns the exit code. It knows no
tool: 0 is OK and anything else FAILED (plus TIMEOUT and DRY_RUN, which it
decides itself). What a tool's other codes mean is read by the engine that
runs the tool, from its own table (restic: :mod:`controlplane.backup.exitcodes`,
ansible-playbook: :mod:`controlplane.automation.exitcodes`), so each table
exists once. ``dry_run`` is a parameter, so the decision to do nothing is
taken at the bottom layer, where it is visible.
"""

from __future__ import annotations

import enum
import logging
import os
import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from controlplane.errors import BadInputError

log = logging.getLogger(__name__)

TAIL_LINES = 20


class Outcome(enum.StrEnum):
    """What a process meant for the work, in words shared by every engine's exit-code table."""

    OK = "ok"
    PARTIAL = "partial"  # the work was done, with warnings worth an alert
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    TIMEOUT = "timeout"
    DRY_RUN = "dry_run"


def outcome_of(exit_code: int) -> Outcome:
    """OK for 0, FAILED for any other code: the one reading every tool shares.

    A tool whose other codes mean more (restic's 3: a snapshot was made) is
    read by its engine from that engine's table, never here.
    """
    return Outcome.OK if exit_code == 0 else Outcome.FAILED


def mask_text(text: str, secrets: Iterable[str]) -> str:
    """Return ``text`` with every non-empty secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def validate_argv(argv: Sequence[str]) -> list[str]:
    """Check an argv list before it reaches ``exec``.

    Returns it as a list. A bare string is refused too (it would be run as
    one word per character). Raises BadInputError for an empty list, a
    non-string word or a NUL byte (which exec would silently truncate).
    """
    if isinstance(argv, str | bytes) or not argv:
        raise BadInputError("a command must be a non-empty list of words, never a string")
    words = list(argv)
    for word in words:
        if not isinstance(word, str):
            raise BadInputError(f"command word {word!r} is not a string")
        if "\x00" in word:
            raise BadInputError("command word contains a NUL byte")
    return words


@dataclass
class ProcessResult:
    """What a finished process left: exit code, outcome, output and timing."""

    argv: list[str]
    exit_code: int
    outcome: Outcome
    stdout: str = ""
    stderr: str = ""
    duration: float = 0.0
    tail: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.outcome in (Outcome.OK, Outcome.DRY_RUN)

    def error_message(self, what: str) -> str:
        """A one-paragraph message naming the command's outcome and last lines."""
        last = "\n".join(self.tail[-TAIL_LINES:]).strip()
        text = f"{what} ended with exit code {self.exit_code} ({self.outcome})"
        return f"{text}:\n{last}" if last else text


def describe(argv: Sequence[str], secrets: Iterable[str] = ()) -> str:
    """Return argv as one masked, shell-quoted line for logs (never executed)."""
    import shlex

    return mask_text(shlex.join(argv), list(secrets))


def run(
    argv: Sequence[str],
    *,
    timeout: float | None = None,
    input_text: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    secrets: Iterable[str] = (),
    dry_run: bool = False,
    pass_fds: Sequence[int] = (),
) -> ProcessResult:
    """Run a command to completion and return its result.

    ``argv`` is a list, never a string; ``timeout`` is in seconds;
    ``input_text`` goes to stdin; ``secrets`` are masked in logs and output;
    ``dry_run`` logs the command and starts nothing. Returns a
    ProcessResult whose ``exit_code`` the caller reads (this module knows no
    tool's codes beyond 0); never raises for a
    non-zero exit. Raises BadInputError for a malformed argv and
    FileNotFoundError when the program does not exist.
    """
    words = validate_argv(argv)
    secret_list = [s for s in secrets if s]
    log.info("run: %s%s", "(dry run) " if dry_run else "", describe(words, secret_list))
    if dry_run:
        return ProcessResult(argv=words, exit_code=0, outcome=Outcome.DRY_RUN)
    full_env = None
    if env is not None:
        full_env = {**os.environ, **env}
    started = time.monotonic()
    process = subprocess.Popen(  # noqa: S603 - argv list, no shell
        words,
        stdin=subprocess.PIPE if input_text is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=full_env,
        cwd=cwd,
        start_new_session=True,
        pass_fds=tuple(pass_fds),
    )
    try:
        stdout, stderr = process.communicate(input=input_text, timeout=timeout)
        exit_code = process.returncode
        outcome = outcome_of(exit_code)
    except subprocess.TimeoutExpired:
        kill_group(process)
        stdout, stderr = process.communicate()
        exit_code = process.returncode if process.returncode is not None else -9
        outcome = Outcome.TIMEOUT
    stdout = mask_text(stdout or "", secret_list)
    stderr = mask_text(stderr or "", secret_list)
    tail = (stdout + stderr).splitlines()[-TAIL_LINES:]
    result = ProcessResult(
        argv=words,
        exit_code=exit_code,
        outcome=outcome,
        stdout=stdout,
        stderr=stderr,
        duration=time.monotonic() - started,
        tail=tail,
    )
    if not result.ok:
        log.warning("%s", result.error_message(describe(words, secret_list)))
    return result


def stream(
    argv: Sequence[str],
    on_line: Callable[[str], None],
    *,
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    secrets: Iterable[str] = (),
    dry_run: bool = False,
) -> ProcessResult:
    """Run a command, calling ``on_line`` with each masked output line as it comes.

    Same parameters and result as :func:`run` (stdout and stderr are merged,
    so ``stdout`` holds everything and ``tail`` its last lines).
    """
    words = validate_argv(argv)
    secret_list = [s for s in secrets if s]
    log.info("stream: %s%s", "(dry run) " if dry_run else "", describe(words, secret_list))
    if dry_run:
        return ProcessResult(argv=words, exit_code=0, outcome=Outcome.DRY_RUN)
    started = time.monotonic()
    deadline = started + timeout if timeout else None
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    lines: list[str] = []
    process = subprocess.Popen(  # noqa: S603 - argv list, no shell
        words,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **env} if env is not None else None,
        cwd=cwd,
        start_new_session=True,
    )
    timed_out = False
    assert process.stdout is not None  # noqa: S101 - set by PIPE above
    for raw in process.stdout:
        line = mask_text(raw.rstrip("\n"), secret_list)
        lines.append(line)
        tail.append(line)
        on_line(line)
        if deadline and time.monotonic() > deadline:
            timed_out = True
            kill_group(process)
            break
    process.wait()
    outcome = Outcome.TIMEOUT if timed_out else outcome_of(process.returncode)
    return ProcessResult(
        argv=words,
        exit_code=process.returncode,
        outcome=outcome,
        stdout="\n".join(lines),
        duration=time.monotonic() - started,
        tail=list(tail),
    )


def start(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    secrets: Iterable[str] = (),
    stdout: int | None = subprocess.DEVNULL,
    stderr: int | None = subprocess.DEVNULL,
) -> subprocess.Popen[bytes]:
    """Start a long-lived process in its own session and return it (no waiting).

    Used for daemons such as the lab's per-host init. The caller owns the
    process; :func:`kill_group` stops it and everything it started.
    """
    words = validate_argv(argv)
    log.info("start: %s", describe(words, secrets))
    return subprocess.Popen(  # noqa: S603 - argv list, no shell
        words,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        env={**os.environ, **env} if env is not None else None,
        cwd=cwd,
        start_new_session=True,
    )


def replace_process(argv: Sequence[str], secrets: Iterable[str] = ()) -> None:
    """Replace this process with another program (never returns on success).

    For commands that hand the terminal over, such as an interactive ``ssh``:
    the terminal, signals and exit code then belong to that program. Given an
    argv list; raises BadInputError for a malformed one and OSError when the
    program cannot be executed.
    """
    words = validate_argv(argv)
    log.info("exec: %s", describe(words, secrets))
    os.execvp(words[0], words)  # noqa: S606 - argv list, no shell


def kill_group(process: subprocess.Popen, grace: float = 3.0) -> None:  # type: ignore[type-arg]
    """Stop a process started here and its whole process group.

    Sends SIGTERM to the group, waits up to ``grace`` seconds, then SIGKILL.
    """
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        process.wait()
