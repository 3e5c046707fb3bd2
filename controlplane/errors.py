"""Errors the CLI turns into exit codes without a traceback.

Exit codes follow one rule everywhere: 0 ok, 1 the work failed,
2 bad input or configuration.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2


class EgovError(Exception):
    """The work failed in a way the user should read, not debug (exit 1)."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadInputError(EgovError):
    """The user gave something we refuse before doing any work (exit 2)."""

    exit_code = EXIT_BAD_INPUT


class ConfigError(BadInputError):
    """One or more problems in a configuration file, all reported at once.

    ``problems`` are ``(key_path, message)`` pairs; the message names every
    problem on its own line so the operator fixes them in one go.
    """

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        lines = [f"{source}: {len(problems)} problem(s):"]
        lines += [f"  {source}: {path or '(top)'}: {message}" for path, message in problems]
        super().__init__("\n".join(lines))


class HostKeyError(EgovError):
    """An SSH host key was unknown or changed: we refuse to talk to the host."""


class UnreachableError(EgovError):
    """A host did not answer (connection refused, timed out, no route)."""
