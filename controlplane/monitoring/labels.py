"""Labels are identity: fingerprints, matchers and durations shared by the engine.

The fingerprint is Alertmanager's own (FNV-1a 64 over the sorted label names
and values, each followed by the 0xff separator), so an alert has the same id
here, in an Alertmanager that reads our webhook, and in one that sends to our
intake.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

# The duration parser moved to the core (the config reads durations too); engines keep importing it from here.
from controlplane.durations import DURATION_PART, UNIT_SECONDS, format_duration, parse_duration  # noqa: F401

FNV_OFFSET = 14695981039346656037
FNV_PRIME = 1099511628211
SEPARATOR = b"\xff"
MATCHER_TEXT = re.compile(r"^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$", re.DOTALL)


def fingerprint(labels: Mapping[str, str]) -> str:
    """Return the 16-hex-digit fingerprint of a label set (Alertmanager's algorithm)."""
    value = FNV_OFFSET
    for name in sorted(labels):
        for chunk in (name.encode(), SEPARATOR, str(labels[name]).encode(), SEPARATOR):
            for byte in chunk:
                value ^= byte
                value = (value * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return f"{value:016x}"


@dataclass(frozen=True)
class Matcher:
    """One label matcher: ``name op value`` with op in =, !=, =~, !~ (regex fully anchored)."""

    name: str
    op: str
    value: str

    @classmethod
    def parse(cls, text: str) -> Matcher:
        """Parse ``host=mn-db-1`` or ``alertname=~Disk.*``; raise ValueError when malformed."""
        found = MATCHER_TEXT.match(text)
        if not found:
            raise ValueError(f"{text!r} is not a label matcher (name=value, name!=value, name=~re, name!~re)")
        name, op, value = found.groups()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        matcher = cls(name, op, value)
        if op in ("=~", "!~"):
            try:
                re.compile(value)
            except re.error as error:
                raise ValueError(f"{text!r}: bad regular expression: {error}") from None
        return matcher

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether a label set satisfies this matcher (a missing label reads as empty)."""
        actual = str(labels.get(self.name, ""))
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        hit = re.fullmatch(self.value, actual) is not None
        return hit if self.op == "=~" else not hit

    def __str__(self) -> str:
        return f"{self.name}{self.op}{self.value}"

    def as_dict(self) -> dict[str, object]:
        """Return the matcher in Alertmanager's API shape (name, value, isRegex, isEqual)."""
        return {
            "name": self.name,
            "value": self.value,
            "isRegex": self.op in ("=~", "!~"),
            "isEqual": self.op in ("=", "=~"),
        }


def parse_matchers(texts: list[str] | tuple[str, ...]) -> tuple[Matcher, ...]:
    """Parse a list of matcher texts; raise ValueError naming the first bad one."""
    return tuple(Matcher.parse(text) for text in texts)


def all_match(matchers: tuple[Matcher, ...] | list[Matcher], labels: Mapping[str, str]) -> bool:
    """Whether every matcher matches the label set (an empty list matches everything)."""
    return all(matcher.matches(labels) for matcher in matchers)
