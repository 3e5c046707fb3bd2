"""The runbook API: what a file in ``runbooks/`` declares.

A runbook file builds one :class:`Runbook` and binds it to ``RUNBOOK``::

    from controlplane.runbook.definition import Param, Probe, Runbook, Step

    def standby_healthy(ctx):
        ctx.http_check(ctx.host(ctx.params["standby"]).address, path="/health")

    RUNBOOK = Runbook(
        name="failover-portal", title="Fail the portal over", title_zh="门户切换",
        description="...", severity="high", rto_objective=60,
        params=[Param("standby", "host", default="mn-portal-2")],
        targets=lambda p: [p["standby"]],
        steady_state=[Probe("portal answers", portal_answers)],
        steps=[Step("claim VIP", claim, rollback=release, timeout=20, retries=1)],
        verification=[Probe("standby healthy", standby_healthy)],
    )

Actions, rollbacks and probes are functions of one argument, the
:class:`~controlplane.runbook.context.Context`; they fail by raising
(``ctx.fail(...)`` or any exception). A probe may also return ``False``.
The definitions are checked when the file loads, so a mistake shows in
``egov runbook list`` with its error instead of in the middle of an incident.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

NAME = re.compile(r"^[a-z][a-z0-9-]{0,63}$")
SEVERITIES = ("low", "medium", "high", "critical")
PARAM_TYPES = ("str", "int", "float", "bool", "host", "hosts", "dataset", "address")
# Types whose value names inventory hosts: each named host must lie in the caller's scope.
HOST_TYPES = ("host", "hosts")
PERMISSION = re.compile(r"^[a-z][a-z_]{0,31}\.[a-z][a-z_]{0,31}$")
MODES = ("dry-run", "drill", "run")

Action = Callable[[Any], Any]


class RunbookDefinitionError(ValueError):
    """A runbook file declares something the engine cannot run."""


@dataclass(frozen=True)
class Param:
    """A typed parameter with a default.

    ``type`` is one of str, int, float, bool, host (an inventory host name),
    hosts (a list of inventory host names; text is split at commas), dataset
    (a backup dataset name, belonging to the host named by the parameter
    ``of``) or address (an IP address or network, normalised). The types
    say which inputs name hosts, so the engine can check every one of them
    against the caller's scope (:func:`controlplane.runbook.params.prepare`):
    a host given as ``str`` would escape that check, so declare it ``host``.
    ``default`` is a value, None (the parameter is required) or a function
    of the loaded Inventory (e.g. the host whose ``portal_priority`` is
    ``standby``); ``choices`` limits the values.
    """

    name: str
    type: str = "str"
    default: Any = None
    help: str = ""
    choices: tuple[Any, ...] = ()
    of: str | None = None

    def __post_init__(self) -> None:
        if not re.fullmatch(r"^[a-z][a-z0-9_]{0,31}$", self.name):
            raise RunbookDefinitionError(f"parameter name {self.name!r}: use lowercase letters, digits and '_'")
        if self.type not in PARAM_TYPES:
            raise RunbookDefinitionError(f"parameter {self.name}: type {self.type!r} is not one of {PARAM_TYPES}")
        if (self.type == "dataset") != (self.of is not None):
            raise RunbookDefinitionError(
                f"parameter {self.name}: a dataset names the host parameter it belongs to (of=...), "
                "and only a dataset does"
            )


@dataclass(frozen=True)
class Probe:
    """A check of the steady state or of the outcome: passes unless it raises or returns False."""

    name: str
    check: Action
    timeout: float = 15.0

    def __post_init__(self) -> None:
        _check_callable(self.check, f"probe {self.name!r}")
        _check_positive(self.timeout, f"probe {self.name!r} timeout")


@dataclass(frozen=True)
class Step:
    """One action of the method, with its timeout, retries and rollback.

    ``retries`` more attempts follow a failed one after ``retry_delay``
    seconds. ``rollback`` undoes the action; it runs, in reverse order of the
    steps, when a later step fails, when the run is cancelled and at the end
    of a drill.
    """

    name: str
    action: Action
    timeout: float = 30.0
    retries: int = 0
    retry_delay: float = 1.0
    rollback: Action | None = None
    description: str = ""

    def __post_init__(self) -> None:
        _check_callable(self.action, f"step {self.name!r}")
        if self.rollback is not None:
            _check_callable(self.rollback, f"rollback of step {self.name!r}")
        _check_positive(self.timeout, f"step {self.name!r} timeout")
        if not isinstance(self.retries, int) or not 0 <= self.retries <= 20:
            raise RunbookDefinitionError(f"step {self.name!r}: retries must be an integer from 0 to 20")
        if self.retry_delay < 0:
            raise RunbookDefinitionError(f"step {self.name!r}: retry_delay cannot be negative")


@dataclass(frozen=True)
class Runbook:
    """A coded runbook: metadata, parameters, targets, hypothesis, method, verification.

    ``targets`` maps the resolved parameters to the inventory host names the
    runbook changes (they are locked while it runs). ``rto_objective`` is in
    seconds: the time from the first step to a passing verification.
    ``approvals_required=2`` asks a second person to approve a real run
    (``egov runbook approve``) before it starts. ``permissions`` are the
    permissions of controlplane/web/policy.py a drill or a real run needs
    besides ``runbooks.start`` (a runbook that restores data needs
    ``backup.restore``, as a restore does); every face checks them.
    """

    name: str
    title: str
    title_zh: str
    description: str
    severity: str
    rto_objective: float
    steps: Sequence[Step]
    params: Sequence[Param] = ()
    targets: Callable[[Mapping[str, Any]], Sequence[str]] = field(default=lambda _params: ())
    steady_state: Sequence[Probe] = ()
    verification: Sequence[Probe] = ()
    approvals_required: int = 1
    tags: Sequence[str] = ()
    permissions: Sequence[str] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not NAME.fullmatch(self.name):
            raise RunbookDefinitionError(f"runbook name {self.name!r}: use lowercase letters, digits and '-'")
        for attribute in ("title", "title_zh", "description"):
            if not isinstance(getattr(self, attribute), str) or not getattr(self, attribute).strip():
                raise RunbookDefinitionError(f"runbook {self.name}: {attribute} is required")
        if self.severity not in SEVERITIES:
            raise RunbookDefinitionError(f"runbook {self.name}: severity must be one of {', '.join(SEVERITIES)}")
        _check_positive(self.rto_objective, f"runbook {self.name}: rto_objective")
        if not self.steps:
            raise RunbookDefinitionError(f"runbook {self.name}: it needs at least one step")
        _check_callable(self.targets, f"runbook {self.name}: targets")
        if self.approvals_required not in (1, 2):
            raise RunbookDefinitionError(f"runbook {self.name}: approvals_required is 1 or 2")
        for permission in self.permissions:
            if not isinstance(permission, str) or not PERMISSION.fullmatch(permission):
                raise RunbookDefinitionError(f"runbook {self.name}: permission {permission!r} is not a.b")
        host_params = {p.name for p in self.params if p.type == "host"}
        for param in self.params:
            if param.of is not None and param.of not in host_params:
                raise RunbookDefinitionError(
                    f"runbook {self.name}: parameter {param.name} belongs to {param.of!r}, which is no host parameter"
                )
        for kind, items in (("parameter", self.params), ("step", self.steps), ("probe", self._probes())):
            names = [item.name for item in items]
            duplicates = sorted({n for n in names if names.count(n) > 1})
            if duplicates:
                raise RunbookDefinitionError(f"runbook {self.name}: duplicate {kind} names {duplicates}")
        # Frozen dataclasses keep whatever sequence was given: store tuples.
        for attribute in ("steps", "params", "steady_state", "verification", "tags", "permissions"):
            object.__setattr__(self, attribute, tuple(getattr(self, attribute)))

    def _probes(self) -> list[Probe]:
        return [*self.steady_state, *self.verification]

    def param(self, name: str) -> Param | None:
        """Return the declared parameter of that name, or None."""
        return next((p for p in self.params if p.name == name), None)

    def describe(self) -> dict[str, Any]:
        """Return the declaration as JSON-safe data (for ``show`` and the plan)."""
        return {
            "name": self.name,
            "title": self.title,
            "title_zh": self.title_zh,
            "description": self.description,
            "severity": self.severity,
            "rto_objective_seconds": self.rto_objective,
            "approvals_required": self.approvals_required,
            "tags": list(self.tags),
            "permissions": list(self.permissions),
            "params": [
                {
                    "name": p.name,
                    "type": p.type,
                    "default": "(from inventory)" if callable(p.default) else p.default,
                    "required": p.default is None,
                    "help": p.help,
                    "choices": list(p.choices),
                    **({"of": p.of} if p.of else {}),
                }
                for p in self.params
            ],
            "steady_state": [{"name": p.name, "timeout": p.timeout} for p in self.steady_state],
            "steps": [
                {
                    "name": s.name,
                    "description": s.description,
                    "timeout": s.timeout,
                    "retries": s.retries,
                    "rollback": s.rollback is not None,
                }
                for s in self.steps
            ],
            "verification": [{"name": p.name, "timeout": p.timeout} for p in self.verification],
        }


def _check_callable(value: Any, what: str) -> None:
    if not callable(value):
        raise RunbookDefinitionError(f"{what} must be a function")


def _check_positive(value: Any, what: str) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        raise RunbookDefinitionError(f"{what} must be a positive number of seconds")
