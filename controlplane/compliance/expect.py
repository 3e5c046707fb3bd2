"""Expectations: does a found value satisfy a control's ``expect`` mapping?

Shared by every check type that compares one value (sshd options, sysctl,
login.defs, pam and pwquality options, command output, store facts). Every
key given must hold. A value that is not set (None) never satisfies an
expectation: missing evidence is never a pass.
"""

from __future__ import annotations

import re
from typing import Any

_LEADING_INT = re.compile(r"^\s*(-?\d+(?:\.\d+)?)")
_ITEM_SPLIT = re.compile(r"[,\s]+")


def number(value: Any) -> float | None:
    """The leading number of a value (``10:30:60`` -> 10), or None when there is none."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    match = _LEADING_INT.match(str(value))
    return float(match.group(1)) if match else None


def items(value: Any) -> list[str]:
    """Split a list-valued setting (``aes256-ctr,aes128-ctr`` or ``a b``) into lower-case items."""
    return [item.lower() for item in _ITEM_SPLIT.split(str(value).strip()) if item]


def _same(found: Any, wanted: Any) -> bool:
    """Equality that compares numbers as numbers and strings case-insensitively."""
    if isinstance(wanted, int | float) and not isinstance(wanted, bool):
        return number(found) == float(wanted)
    return str(found).strip().lower() == str(wanted).strip().lower()


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def describe(expect: dict[str, Any]) -> str:
    """A short human reading of an expectation, shown as the 'expected' value."""
    parts = []
    for key, wanted in expect.items():
        if key == "equals":
            parts.append(_text(wanted))
        elif key == "one_of":
            parts.append("one of " + ", ".join(map(_text, wanted)))
        elif key == "none_of":
            parts.append("not " + ", ".join(map(_text, wanted)))
        elif key == "min":
            parts.append(f">= {wanted:g}")
        elif key == "max":
            parts.append(f"<= {wanted:g}")
        elif key == "all_in":
            parts.append("only " + ",".join(wanted))
        elif key == "none_in":
            parts.append("none of " + ",".join(wanted))
        elif key == "regex":
            parts.append(f"matches /{wanted}/")
        elif key == "non_empty":
            parts.append("set (not empty)")
    return " and ".join(parts)


def satisfies(value: Any, expect: dict[str, Any]) -> bool:
    """Whether a found value meets every key of the expectation (None: never)."""
    if value is None:
        return False
    for key, wanted in expect.items():
        if key == "equals" and not _same(value, wanted):
            return False
        if key == "one_of" and not any(_same(value, option) for option in wanted):
            return False
        if key == "none_of" and any(_same(value, option) for option in wanted):
            return False
        if key in ("min", "max"):
            found = number(value)
            if found is None or (found < wanted if key == "min" else found > wanted):
                return False
        if key == "all_in":
            allowed = {item.lower() for item in wanted}
            found_items = items(value)
            if not found_items or any(item not in allowed for item in found_items):
                return False
        if key == "none_in" and set(items(value)) & {item.lower() for item in wanted}:
            return False
        if key == "regex" and not re.search(wanted, str(value)):
            return False
        if key == "non_empty" and not str(value).strip():
            return False
    return True
