"""Parsers for the configuration file formats the checks read (pure functions).

login.defs (``KEY value``, last one wins, ``#`` comments), ``key = value``
files such as faillock.conf and pwquality.conf, and PAM stack files with
bracketed controls (``[success=1 default=ignore]``) and bracketed arguments
that contain spaces (``[query=select x from y]``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field


def strip_comment(line: str) -> str:
    """A line without its ``#`` comment and surrounding blanks."""
    return line.split("#", 1)[0].strip()


def parse_login_defs(text: str) -> dict[str, str]:
    """``KEY value`` pairs of login.defs; commented lines are ignored; the last value wins.

    shadow's getdef() replaces a key's value each time it reads it again, so a
    later line overrides an earlier one, exactly as here.
    """
    values: dict[str, str] = {}
    for line in text.splitlines():
        words = strip_comment(line).split(None, 1)
        if words:
            values[words[0]] = words[1].strip() if len(words) > 1 else ""
    return values


def parse_key_values(text: str) -> dict[str, str]:
    """``key = value`` (or bare ``key`` flags, value ``""``) of faillock.conf / pwquality.conf."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        line = strip_comment(line)
        if not line:
            continue
        key, sep, value = line.partition("=")
        values[key.strip()] = value.strip() if sep else ""
    return values


@dataclass
class PamLine:
    """One rule of a PAM stack file."""

    kind: str
    control: str
    module: str
    args: list[str] = field(default_factory=list)
    line: int = 0

    @property
    def module_name(self) -> str:
        """The module's file name (``/lib/.../pam_unix.so`` -> ``pam_unix.so``)."""
        return os.path.basename(self.module)

    def option(self, name: str) -> str | None:
        """The value of ``name=value`` among the arguments, ``""`` for a bare flag, None if absent.

        The last occurrence wins, as modules parse their arguments in order.
        """
        found = None
        for arg in self.args:
            key, sep, value = arg.partition("=")
            if key == name:
                found = value if sep else ""
        return found


def pam_words(text: str) -> list[str]:
    """Split a PAM rule into words, keeping ``[ ... ]`` groups (spaces, ``\\]``) as one word."""
    words: list[str] = []
    current = ""
    depth = 0
    index = 0
    while index < len(text):
        char = text[index]
        if depth and char == "\\" and index + 1 < len(text) and text[index + 1] == "]":
            current += "]"
            index += 2
            continue
        if char == "[" and not depth:
            depth = 1
        elif char == "]" and depth:
            depth = 0
        elif char.isspace() and not depth:
            if current:
                words.append(current)
            current = ""
            index += 1
            continue
        current += char
        index += 1
    if current:
        words.append(current)
    return words


def _unbracket(word: str) -> str:
    """An argument ``[a b]`` is passed to the module as ``a b``."""
    return word[1:-1] if word.startswith("[") and word.endswith("]") else word


def parse_pam(text: str) -> list[PamLine]:
    """The rules of a PAM stack file; comments, blank lines and ``@include`` are skipped.

    A line ending with a backslash continues on the next line.
    """
    rules: list[PamLine] = []
    pending = ""
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not pending:
            start = number
        if raw.rstrip().endswith("\\"):
            pending += raw.rstrip()[:-1] + " "
            continue
        line = strip_comment(pending + raw)
        pending = ""
        if not line or line.startswith("@"):
            continue
        words = pam_words(line)
        if len(words) < 3:
            continue
        rules.append(
            PamLine(
                kind=words[0].lstrip("-"),
                control=words[1],
                module=words[2],
                args=[_unbracket(word) for word in words[3:]],
                line=start,
            )
        )
    return rules
