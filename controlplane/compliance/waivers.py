"""Waivers: an approved, expiring acceptance of a failing control on some hosts or sites.

File format (YAML)::

    waivers:
      - control: ssh.allow-users
        hosts: [mn-db-1]            # or sites: [school-gd-1] (at least one of the two)
        justification: Vendor DB agent logs in with its own account until 2027 upgrade
        approver: Zhang Wei (security officer)
        expires: 2026-12-31         # applies through that day, then stops applying

Every field is required. A malformed file stops the scan with a ConfigError
naming the file and the *line* of the bad entry (from YAML node marks), so a
security officer finds it in a long file. Only a ``fail`` can be waived: an
``error`` means we do not know, and that must not be hidden.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from controlplane.compliance.evaluate import Result
from controlplane.compliance.schema import WAIVER_FILE
from controlplane.errors import ConfigError
from controlplane.yamlfile import key_path, read_yaml

WAIVED = "waived"


@dataclass(frozen=True)
class Waiver:
    """One waiver entry, with the file and line it came from."""

    control: str
    justification: str
    approver: str
    expires: date
    hosts: tuple[str, ...] = ()
    sites: tuple[str, ...] = ()
    source: str = ""

    def active(self, today: date) -> bool:
        """Whether the waiver still applies on this day (the expiry day included)."""
        return today <= self.expires

    def covers(self, result: Result) -> bool:
        """Whether this waiver names the result's control and its host or site."""
        return result.control_id == self.control and (result.host in self.hosts or result.site in self.sites)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (expiry as YYYY-MM-DD)."""
        data = asdict(self)
        data.update(expires=self.expires.isoformat(), hosts=list(self.hosts), sites=list(self.sites))
        return data


def _dates_to_text(value: Any) -> Any:
    """YAML reads ``2026-12-31`` as a date; the schema checks text, so turn dates back into text."""
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list):
        return [_dates_to_text(item) for item in value]
    if isinstance(value, dict):
        return {key: _dates_to_text(item) for key, item in value.items()}
    return value


def _node_at(root: yaml.Node | None, parts: list[str | int]) -> yaml.Node | None:
    """The deepest YAML node along a key path (mapping keys and sequence indexes)."""
    node = root
    for part in parts:
        if isinstance(node, yaml.MappingNode):
            child = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
        else:
            child = None
        if child is None:
            break
        node = child
    return node


def _line_of(root: yaml.Node | None, parts: list[str | int]) -> int | None:
    node = _node_at(root, parts)
    return node.start_mark.line + 1 if node is not None else None


def load_waivers(path: Path, known_controls: Iterable[str] | None = None) -> list[Waiver]:
    """Read and validate a waiver file.

    With ``known_controls``, a waiver naming an unknown control is an error:
    a typo must not leave a failure unwaived silently, nor a waiver lingering
    unnoticed. A missing file means no waivers. Raises ConfigError naming the
    file, the line and the key path of every problem, all at once.
    """
    if not path.exists():
        return []
    data = read_yaml(path)
    if data is None:
        return []
    data = _dates_to_text(data)
    root = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    from jsonschema import Draft202012Validator

    problems: list[tuple[str, str]] = []
    for error in Draft202012Validator(WAIVER_FILE).iter_errors(data):
        parts = list(error.absolute_path)
        line = _line_of(root, parts)
        where = f"line {line}: {key_path(parts) or '(top)'}" if line else key_path(parts)
        message = error.message
        if error.validator == "anyOf":
            message = "name the waived hosts or sites (one of 'hosts' or 'sites' is required)"
        problems.append((where, message))
    if problems:
        raise ConfigError(str(path), sorted(set(problems), key=lambda p: (_sort_line(p[0]), p)))
    known = set(known_controls) if known_controls is not None else None
    waivers: list[Waiver] = []
    for index, item in enumerate(data["waivers"]):
        line = _line_of(root, ["waivers", index])
        try:
            expires = date.fromisoformat(item["expires"])
        except ValueError:
            problems.append((f"line {line}: waivers[{index}].expires", f"{item['expires']!r} is not a real date"))
            continue
        if known is not None and item["control"] not in known:
            problems.append((f"line {line}: waivers[{index}].control", f"unknown control {item['control']!r}"))
            continue
        waivers.append(
            Waiver(
                control=item["control"],
                justification=item["justification"],
                approver=item["approver"],
                expires=expires,
                hosts=tuple(item.get("hosts", [])),
                sites=tuple(item.get("sites", [])),
                source=f"{path}:{line}",
            )
        )
    if problems:
        raise ConfigError(str(path), problems)
    return waivers


def _sort_line(where: str) -> int:
    return int(where.split(":")[0].removeprefix("line ")) if where.startswith("line ") else 0


def validate_waivers(path: Path, known_controls: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """Every problem of a waiver file as ``(where, message)`` (empty when valid); for linting."""
    try:
        load_waivers(path, known_controls)
    except ConfigError as error:
        return error.problems
    return []


def apply_waivers(results: Iterable[Result], waivers: Iterable[Waiver], today: date) -> list[Result]:
    """Mark failing results covered by an active waiver as ``waived``.

    Returns new results; the inputs are not changed. A waived result keeps
    its evidence, records ``original_status`` and the waiver. Expired
    waivers are ignored; errors, passes and not-applicable results are never
    waived.
    """
    active = [waiver for waiver in waivers if waiver.active(today)]
    out: list[Result] = []
    for result in results:
        waiver = next((w for w in active if result.status == "fail" and w.covers(result)), None)
        if waiver is None:
            out.append(result)
            continue
        data = result.to_dict()
        data.update(status=WAIVED, original_status=result.status, waiver=waiver.to_dict())
        out.append(Result(**data))
    return out


def expired_waivers(waivers: Iterable[Waiver], today: date) -> list[Waiver]:
    """The waivers that no longer apply (for the report's 'expired' list)."""
    return [waiver for waiver in waivers if not waiver.active(today)]
