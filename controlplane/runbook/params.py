"""Resolving a runbook's parameters and targets before anything runs, and who may start it.

Values come as text from ``--param k=v`` (or as JSON values from the console),
are converted to the declared type and checked (hosts against the
inventory). Every problem is reported at once, before a run row exists.

:func:`prepare` is the one check of a start, called by the engine itself
(:func:`controlplane.runbook.engine.execute`) and, before that, by the
faces that must answer at once (the console and the API answer 403 or 400
before the engine's thread starts): the mode, the caller's permissions
(``runbooks.start`` and the runbook's own ``permissions`` for a drill or a
real run), every parameter, every host a parameter or the targets name
against the caller's scope, then the mode's rules. For a scoped caller a
host the inventory does not know is refused like another site's host, so
the answer never tells whether a name exists elsewhere.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from controlplane.errors import BadInputError
from controlplane.runbook.definition import HOST_TYPES, MODES, Runbook
from controlplane.runbook.scope import LOCAL, Caller, ScopeRefused, common_site

if TYPE_CHECKING:
    from controlplane.inventory import Inventory

TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")
DATASET = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
START_PERMISSION = "runbooks.start"


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
    if kind == "hosts":
        words = value if isinstance(value, list | tuple) else str(value).split(",")
        names = list(dict.fromkeys(str(word).strip() for word in words if str(word).strip()))
        if not names:
            raise ValueError("name at least one host (comma-separated)")
        return names
    if kind == "dataset":
        text = str(value)
        if not DATASET.fullmatch(text):
            raise ValueError("not a dataset name (lowercase letters, digits and '-')")
        return text
    if kind == "address":
        text = str(value).strip()
        return str(ipaddress.ip_network(text, strict=False) if "/" in text else ipaddress.ip_address(text))
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


def _host_refusal(inventory: Inventory, name: str, caller: Caller) -> str | None:
    """Why ``caller`` may not name host ``name`` ("unknown" for the local operator, "scope" otherwise), or None."""
    try:
        site = inventory.host(name).site
    except BadInputError:
        return "scope" if caller.scoped else "unknown"
    return None if caller.allows_site(site) else "scope"


def resolve_params(
    runbook: Runbook, given: Mapping[str, Any], inventory: Inventory, caller: Caller = LOCAL
) -> dict[str, Any]:
    """Return every declared parameter with its typed value.

    ``given`` may hold text (the CLI) or JSON values (the API); both are
    converted the same way, and defaults may come from the inventory. Every
    problem is collected before raising, so one message names them all.
    Raises ScopeRefused (403) when a host-typed parameter names a host
    outside the caller's scope (or, for a scoped caller, no known host),
    else BadInputError naming every unknown, missing or invalid parameter.
    """
    problems: list[str] = []
    refused: list[str] = []
    unknown = sorted(set(given) - {p.name for p in runbook.params})
    if unknown:
        problems.append(f"unknown parameter(s) {', '.join(unknown)} (see `egov runbook show {runbook.name}`)")
    resolved: dict[str, Any] = {}
    for param in runbook.params:
        defaulted = param.name not in given
        if not defaulted:
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
        if param.type in HOST_TYPES:
            bad = False
            for name in value if param.type == "hosts" else [value]:
                why = _host_refusal(inventory, name, caller)
                if why == "unknown":
                    problems.append(f"{param.name}: unknown host {name!r} (not in the inventory)")
                elif why == "scope":
                    shown = "its default names a host outside" if defaulted else f"{name!r} is no host in"
                    refused.append(f"{param.name}: {shown} your scope")
                bad = bad or why is not None
            if bad:
                continue
        resolved[param.name] = value
    if refused:
        raise ScopeRefused(f"runbook {runbook.name}: " + "; ".join(refused))
    if problems:
        raise BadInputError(f"runbook {runbook.name}: " + "; ".join(problems))
    return resolved


def resolve_targets(
    runbook: Runbook, params: Mapping[str, Any], inventory: Inventory, caller: Caller = LOCAL
) -> list[str]:
    """Return the runbook's target host names (checked against the inventory and the caller's scope, no duplicates).

    Raises BadInputError when the runbook's targets function fails or names
    an unknown host, ScopeRefused when a target lies outside the caller's scope.
    """
    try:
        names = [str(name) for name in runbook.targets(params)]
    except Exception as error:  # operator code
        raise BadInputError(f"runbook {runbook.name}: its targets could not be resolved: {error}") from None
    for name in names:
        why = _host_refusal(inventory, name, caller)
        if why == "unknown":
            inventory.host(name)  # raises BadInputError naming it
        elif why == "scope":
            raise ScopeRefused(f"runbook {runbook.name}: a target ({name!r}) is no host in your scope")
    return list(dict.fromkeys(names))


def named_hosts(runbook: Runbook, params: Mapping[str, Any], targets: Sequence[str]) -> list[str]:
    """Every host a start names: its targets, host and hosts parameters (a dataset belongs to its ``of`` host)."""
    names = list(targets)
    for param in runbook.params:
        value = params.get(param.name)
        if param.type == "host" and value is not None:
            names.append(str(value))
        elif param.type == "hosts" and value:
            names.extend(str(name) for name in value)
    return list(dict.fromkeys(names))


def check_mode(runbook: Runbook, mode: str, targets: list[str], inventory: Inventory, confirmed: bool) -> None:
    """Refuse what a mode does not allow, before a run row exists.

    Raises BadInputError for an unknown mode, a drill on a target that is not
    a drill target, and a real run without confirmation.
    """
    if mode not in MODES:
        raise BadInputError(f"unknown mode {mode!r}: use {', '.join(MODES)}")
    if mode == "drill":
        refused = [name for name in targets if not drill_allowed(inventory, name)]
        if refused:
            raise BadInputError(
                f"runbook {runbook.name}: {', '.join(refused)} are not drill targets "
                "(put them in the inventory group 'drill', or drill in the lab)"
            )
    if mode == "run" and not confirmed:
        raise BadInputError(f"runbook {runbook.name} changes production: confirm with --yes or by typing its name")


def check_permissions(runbook: Runbook, mode: str, caller: Caller) -> None:
    """Refuse a caller who lacks ``runbooks.start``, or (for a drill or a real run) a permission the runbook declares.

    A dry run changes nothing, so it needs only ``runbooks.start``. Raises ScopeRefused.
    """
    needed = [START_PERMISSION, *(runbook.permissions if mode != "dry-run" else ())]
    missing = [permission for permission in needed if not caller.holds(permission)]
    if missing:
        raise ScopeRefused(f"runbook {runbook.name} ({mode}) needs the permission(s) {', '.join(missing)}")


@dataclass(frozen=True)
class Prepared:
    """A checked start: the typed parameters, the targets, every host named and the lowest site covering them."""

    params: dict[str, Any]
    targets: list[str]
    hosts: list[str]
    site: str | None


def prepare(
    runbook: Runbook,
    mode: str,
    given: Mapping[str, Any],
    inventory: Inventory,
    caller: Caller = LOCAL,
    *,
    confirmed: bool,
) -> Prepared:
    """Check a start for ``caller`` and return what it resolves to; the one check of every face.

    Order: the mode (400), the caller's permissions (403), the parameters
    (400; 403 for a host out of scope), the targets (403 out of scope), the
    mode's rules (400: drill targets, confirmation). Raises ScopeRefused or
    BadInputError; nothing has been created or changed when it raises.
    """
    if mode not in MODES:
        raise BadInputError(f"unknown mode {mode!r}: use {', '.join(MODES)}")
    check_permissions(runbook, mode, caller)
    resolved = resolve_params(runbook, given, inventory, caller)
    targets = resolve_targets(runbook, resolved, inventory, caller)
    check_mode(runbook, mode, targets, inventory, confirmed)
    hosts = named_hosts(runbook, resolved, targets)
    site = common_site(inventory, {inventory.host(name).site for name in hosts})
    return Prepared(resolved, targets, hosts, site)


def host_with(inventory: Inventory, variable: str, value: str, role: str | None = None) -> str:
    """Return the first inventory host whose ``variable`` equals ``value`` (for defaults).

    Raises LookupError when none does, so the parameter shows as required.
    """
    for host in inventory.hosts:
        if host.variables.get(variable) == value and (role is None or host.role == role):
            return str(host.name)
    raise LookupError(f"no host with {variable}={value}")


def drill_allowed(inventory: Inventory, host_name: str) -> bool:
    """Whether a host may be a drill target.

    Every host of a lab inventory (one that declares ``lab_subnet``) may be,
    and elsewhere the hosts an operator put in the inventory group ``drill``.
    """
    if inventory.variables.get("lab_subnet"):
        return True
    return "drill" in inventory.host(host_name).groups
