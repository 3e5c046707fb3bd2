"""What restic's exit codes mean for a run, with a message an operator can act on.

restic >= 0.17 (the project ships 0.18) documents: 0 success, 1 fatal error
(no snapshot), 3 some source data could not be read (a snapshot *was* made),
10 repository does not exist, 11 repository locked, 12 wrong password, 130
interrupted. Any other code (a crash, a signal) is a failure. The outcomes
are :class:`controlplane.execute.Outcome` values, so a run's status reads the
same whichever tool produced it. This is the only restic table:
:mod:`controlplane.execute` returns the exit code and reads none.

One rule is ours: for a **dump** backup, 3 is a failure. restic reports 3 when
the dump command wrote nothing (checked with restic 0.18: ``no data read``),
and an empty dump must never count as a good backup.
"""

from __future__ import annotations

from dataclasses import dataclass

from controlplane.execute import Outcome

OK = 0
FATAL = 1
PARTIAL = 3
REPO_MISSING = 10
LOCKED = 11
WRONG_PASSWORD = 12
INTERRUPTED = 130


@dataclass(frozen=True)
class ExitMeaning:
    """One row of the table: the outcome, a message, and whether to alert."""

    code: int
    outcome: Outcome
    message: str
    alert: bool


RESTIC_EXIT_CODES: dict[int, ExitMeaning] = {
    OK: ExitMeaning(OK, Outcome.OK, "restic finished successfully", alert=False),
    FATAL: ExitMeaning(
        FATAL, Outcome.FAILED, "restic failed with a fatal error; no snapshot was made (see its last lines)", alert=True
    ),
    PARTIAL: ExitMeaning(
        PARTIAL,
        Outcome.PARTIAL,
        "some source files could not be read: the snapshot was made but is incomplete",
        alert=True,
    ),
    REPO_MISSING: ExitMeaning(
        REPO_MISSING,
        Outcome.FAILED,
        "the repository does not exist (not initialised yet, wrong path, or the backup center lost it)",
        alert=True,
    ),
    LOCKED: ExitMeaning(
        LOCKED,
        Outcome.FAILED,
        "the repository stayed locked by another restic process for the whole --retry-lock wait",
        alert=True,
    ),
    WRONG_PASSWORD: ExitMeaning(
        WRONG_PASSWORD,
        Outcome.FAILED,
        "wrong repository password: the vault's secret does not open this repository",
        alert=True,
    ),
    INTERRUPTED: ExitMeaning(
        INTERRUPTED, Outcome.INTERRUPTED, "restic was interrupted (SIGINT); no snapshot was finished", alert=False
    ),
}


def meaning(code: int, *, dump: bool = False) -> ExitMeaning:
    """Return what a restic exit code means.

    For a dump backup (``--stdin-from-command``) 3 is a failure, not a
    partial backup: the dump's output was incomplete, so its snapshot is no
    good backup. An unknown code is a failure naming it (negative codes, as
    :mod:`subprocess` gives for signals, say which signal). Raises nothing.
    """
    if dump and code == PARTIAL:
        return ExitMeaning(
            code,
            Outcome.FAILED,
            "the dump command produced no data or could not be read completely: the snapshot is not a good backup",
            alert=True,
        )
    known = RESTIC_EXIT_CODES.get(code)
    if known is not None:
        return known
    if code < 0:
        return ExitMeaning(code, Outcome.FAILED, f"restic was killed by signal {-code}", alert=True)
    return ExitMeaning(
        code, Outcome.FAILED, f"restic ended with unknown exit code {code}: treated as failure", alert=True
    )
