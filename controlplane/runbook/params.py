"""Resolving a runbook's parameters and targets before anything runs.

Values come as text from ``--param k=v`` (or as JSON values from the console),
are converted to the declared type and checked (hosts against the
inventory). Every problem is reported at once, before a run row exists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from controlplane.errors import BadInputError
from controlplane.runbook.api import Runbook

TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")


def parse_assignments(pairs: Sequence[str]) -> dict[str, str]:
    """Turn ``["k=v", ...]`` into a dict; raise BadInputError for a pair without '='."""
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise BadInputError(f"--param {pair!r}: use NAME=VALUE")
        values[key.strip()] = value
    return values


def _convert(kind: str, value: Any) -> Any:
    if kind in ("str", "host"):
        return str(value)
    if kind == "int":
        if isinstance(value, bool):
            raise ValueError("not an integer")
        return int(value)
    if kind == "float":
        return float(value)
    text = str(value).strip().lower()
    if isinstance(value, bool):
        return value
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise ValueError("not a boolean (true/false)")


def resolve_params(runbook: Runbook, given: Mapping[str, Any], inventory: Any) -> dict[str, Any]:
    """Return every declared parameter with its typed value.

    Given the runbook, the values the operator gave (text or JSON values) and
    the loaded Inventory (for host parameters and inventory-derived
    defaults). Raises BadInputError naming every unknown, missing or invalid
    parameter.
    """
    problems: list[str] = []
    unknown = sorted(set(given) - {p.name for p in runbook.params})
    if unknown:
        problems.append(f"unknown parameter(s) {', '.join(unknown)} (see `egov runbook show {runbook.name}`)")
    resolved: dict[str, Any] = {}
    for param in runbook.params:
        if param.name in given:
            raw = given[param.name]
        elif callable(param.default):
            try:
                raw = param.default(inventory)
            except Exception as error:  # operator code: report, never crash
                problems.append(f"{param.name}: its default could not be computed: {error}")
                continue
        else:
            raw = param.default
        if raw is None:
            problems.append(f"{param.name}: required ({param.help or param.type})")
            continue
        try:
            value = _convert(param.type, raw)
        except (TypeError, ValueError) as error:
            problems.append(f"{param.name}={raw!r}: {error}")
            continue
        if param.choices and value not in param.choices:
            problems.append(f"{param.name}={value!r}: choose one of {', '.join(map(str, param.choices))}")
            continue
        if param.type == "host":
            try:
                inventory.host(value)
            except BadInputError as error:
                problems.append(f"{param.name}: {error.message}")
                continue
        resolved[param.name] = value
    if problems:
        raise BadInputError(f"runbook {runbook.name}: " + "; ".join(problems))
    return resolved


def resolve_targets(runbook: Runbook, params: Mapping[str, Any], inventory: Any) -> list[str]:
    """Return the runbook's target host names (checked against the inventory, no duplicates).

    Raises BadInputError when the runbook's targets function fails or names
    an unknown host.
    """
    try:
        names = [str(name) for name in runbook.targets(params)]
    except Exception as error:  # operator code
        raise BadInputError(f"runbook {runbook.name}: its targets could not be resolved: {error}") from None
    for name in names:
        inventory.host(name)
    return list(dict.fromkeys(names))


def host_with(inventory: Any, variable: str, value: str, role: str | None = None) -> str:
    """Return the first inventory host whose ``variable`` equals ``value`` (for defaults).

    Raises LookupError when none does, so the parameter shows as required.
    """
    for host in inventory.hosts:
        if host.variables.get(variable) == value and (role is None or host.role == role):
            return str(host.name)
    raise LookupError(f"no host with {variable}={value}")


def drill_allowed(inventory: Any, host_name: str) -> bool:
    """Whether a host may be a drill target.

    Every host of a lab inventory (one that declares ``lab_subnet``) may be,
    and elsewhere the hosts an operator put in the inventory group ``drill``.
    """
    if inventory.variables.get("lab_subnet"):
        return True
    return "drill" in inventory.host(host_name).groups
