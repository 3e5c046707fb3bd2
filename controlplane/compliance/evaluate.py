"""The evaluator: controls x one host's evidence -> one Result per control (pure).

Order of decisions for each control, and why:

1. ``applies.roles`` / ``applies.except_roles`` (from the inventory) — a
   database control is ``not_applicable`` on a portal, "no IPv4 forwarding"
   on a gateway, whether or not the host answered.
2. No evidence (unreachable host, collector failure) — ``error`` for every
   other control: an unreachable host is never compliant.
3. ``applies.requires`` (from the host's own facts) — a lab host shares the
   machine's kernel, so a kernel-wide control is ``not_applicable`` there,
   with that reason, never ``pass``.
4. ``applies.store_fact`` — e.g. backup controls only for hosts that have a
   backup policy in the control plane's data.
5. The check itself (see :mod:`controlplane.compliance.checks`).

Waivers are applied afterwards (:mod:`controlplane.compliance.waivers`), so
the score before and after waivers comes from the same results.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from controlplane.compliance.catalog import Control
from controlplane.compliance.checks import ERROR, NOT_APPLICABLE, CheckContext, run_check


def shared_kernel(facts: dict[str, Any]) -> bool:
    """Whether the host shares its kernel with others (lab host, container).

    The lab marks its hosts with /etc/egov-lab/host.json; a container or a
    lab host also shows a read-only /proc/sys/kernel even to root.
    """
    return bool(facts.get("lab")) or (facts.get("euid") == 0 and facts.get("kernel_writable") is False)


# requirement -> (is it met on this host?, the reason shown when it is not)
REQUIREMENTS: dict[str, tuple[Callable[[dict[str, Any]], bool], str]] = {
    "kernel_wide": (
        lambda facts: not shared_kernel(facts),
        "host shares the machine's kernel (lab or container host): kernel-wide settings "
        "(kernel.*/fs.* sysctls, kernel modules, mounts, kernel audit) cannot be set per host",
    ),
    "systemd": (
        lambda facts: bool(facts.get("systemd")),
        "host runs without systemd (lab or container host)",
    ),
    # A lab host's programs are the machine's (its root is an overlay over /) and it has no
    # route to a package mirror: harden's apt tasks are skipped there (harden_*_install).
    "own_packages": (
        lambda facts: not facts.get("lab"),
        "lab host: its programs are the machine's (an overlay over /) and it installs no package; "
        "harden installs this one with apt on a server",
    ),
}


@dataclass(frozen=True)
class HostContext:
    """The inventory's view of a host: name, site, roles; plus control-plane data about it."""

    name: str
    site: str = ""
    roles: tuple[str, ...] = ()
    store: dict[str, Any] | None = None


@dataclass
class Result:
    """The verdict of one control on one host, with the evidence and the fix."""

    control_id: str
    host: str
    site: str
    severity: str
    status: str
    found: str = ""
    expected: str = ""
    message: str = ""
    remediation: dict[str, str] = field(default_factory=dict)
    waiver: dict[str, Any] | None = None
    original_status: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of every field."""
        return asdict(self)


def _result(control: Control, host: HostContext, status: str, **values: Any) -> Result:
    return Result(
        control_id=control.id,
        host=host.name,
        site=host.site,
        severity=control.severity,
        status=status,
        remediation=dict(control.remediation),
        **values,
    )


def evaluate_control(control: Control, evidence: dict[str, Any] | None, host: HostContext, now: datetime) -> Result:
    """One control on one host (see the module docstring for the order of decisions)."""
    applies = control.applies
    roles = applies.get("roles")
    if roles and not set(roles) & set(host.roles):
        wanted = ", ".join(roles)
        return _result(control, host, NOT_APPLICABLE, message=f"applies to roles {wanted} only")
    excepted = sorted(set(applies.get("except_roles", ())) & set(host.roles))
    if excepted:
        return _result(control, host, NOT_APPLICABLE, message=f"not for role {', '.join(excepted)}")
    if not evidence or evidence.get("unreachable") or "host" not in evidence:
        reason = (evidence or {}).get("unreachable") or "no evidence collected from this host"
        return _result(control, host, ERROR, message=reason)
    facts = evidence["host"]
    for requirement in applies.get("requires", []):
        met, reason = REQUIREMENTS[requirement]
        if not met(facts):
            return _result(control, host, NOT_APPLICABLE, message=reason)
    fact = applies.get("store_fact")
    if fact:
        if host.store is None:
            return _result(control, host, ERROR, message=f"needs control-plane data ({fact}) for this host")
        if not host.store.get(fact):
            return _result(control, host, NOT_APPLICABLE, message=f"{fact} is not set for this host")
    ctx = CheckContext(evidence=evidence, roles=host.roles, store=host.store, now=now)
    outcome = run_check(control.check, ctx)
    return _result(
        control, host, outcome.status, found=outcome.found, expected=outcome.expected, message=outcome.message
    )


def evaluate_host(
    controls: Iterable[Control],
    evidence: dict[str, Any] | None,
    host: HostContext,
    now: datetime | None = None,
) -> list[Result]:
    """Evaluate every control on one host.

    ``evidence`` is None or holds ``unreachable`` when collection failed;
    every control for the host's roles is then an ``error``. Returns one
    Result per control, in catalog order. Never raises for bad evidence:
    that is an ``error`` result.
    """
    moment = now or datetime.now(UTC)
    return [evaluate_control(control, evidence, host, moment) for control in controls]
