"""Durations written as text (``30s``, ``5m``, ``1h30m``, ``4w``): one parser for the config and every engine."""

from __future__ import annotations

import re

DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d|w)")
DURATION_TEXT = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h|d|w))+$"  # the same grammar, for JSON schemas
UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: float | int | str | None, default: float = 0.0) -> float:
    """Return seconds for ``30s``, ``5m``, ``1h30m``, ``2d`` or a number.

    Raises ValueError for text that is not a duration (the schemas reject it first).
    """
    if value is None:
        return default
    if isinstance(value, int | float):
        return float(value)
    text = value.strip()
    parts = DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"{value!r} is not a duration (such as 30s, 5m, 1h30m)")
    return sum(float(number) * UNIT_SECONDS[unit] for number, unit in parts)


def format_duration(seconds: float) -> str:
    """Return a Prometheus-style duration (``90s`` → ``1m30s``) for exports."""
    whole = round(seconds)
    if whole == 0:
        return "0s"
    text = ""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, whole = divmod(whole, size)
        if count:
            text += f"{count}{unit}"
    return text
