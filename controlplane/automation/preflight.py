"""The checks a playbook request passes before any run exists: kind, profile, hosts, group vars, syntax.

All of them are fast except the syntax check, which starts one
``ansible-playbook --syntax-check`` (about a second). A failure is
BadInputError naming the cause, so the CLI exits 2 and the console answers
400 without a run row to clean up.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from controlplane import execute
from controlplane.automation.playbook import PLAYBOOKS, PlaybookRequest
from controlplane.automation.settings import PROFILES, RunSettings, syntax_check_argv, syntax_check_env
from controlplane.errors import BadInputError

if TYPE_CHECKING:
    from controlplane.config import Config
    from controlplane.inventory import Host, Inventory

# Inventory variables each host (or role) must have: a playbook without them
# would guess, and a guessed management network can lock us out.
REQUIRED_VARS: dict[str, tuple[str, ...]] = {"*": ("mgmt_network",), "portal": ("portal_vip",)}
SYNTAX_CHECK_TIMEOUT = 120


def resolve_hosts(
    config: Config, limit: str | None, inventory: Inventory | None = None
) -> tuple[Inventory, list[Host]]:
    """Return (inventory, selected hosts) for a pattern; BadInputError if it matches nothing.

    ``inventory`` saves loading ``config.inventory`` again (the console keeps one loaded).
    """
    from controlplane.inventory import load_inventory

    inventory = inventory if inventory is not None else load_inventory(config.inventory)
    hosts = inventory.select(limit or None)
    if not hosts:
        raise BadInputError(f"the inventory {config.inventory} has no hosts")
    return inventory, hosts


def missing_vars(hosts: list[Host]) -> list[str]:
    """Return one message per host lacking a variable of REQUIRED_VARS."""
    problems = []
    for host in hosts:
        needed = list(REQUIRED_VARS["*"]) + list(REQUIRED_VARS.get(host.role, ()))
        absent = [name for name in needed if host.variables.get(name) in (None, "")]
        if absent:
            problems.append(f"{host.name}: missing group var {', '.join(absent)}")
    return problems


def syntax_check(config: Config, playbook: Path, settings: RunSettings) -> None:
    """Run ``ansible-playbook --syntax-check``; raise BadInputError with its message when it fails."""
    result = execute.run(
        syntax_check_argv(playbook, config.inventory),
        env=syntax_check_env(settings),
        cwd=str(playbook.parent),
        timeout=SYNTAX_CHECK_TIMEOUT,
    )
    if not result.ok:
        text = "\n".join(line for line in (result.stdout + result.stderr).splitlines() if line.strip())
        raise BadInputError(f"playbook {playbook} does not pass ansible's syntax check:\n{text[-3000:]}")


def common_site(inventory: Inventory, sites: set[str]) -> str | None:
    """The lowest site whose subtree holds every site of ``sites`` (None: only the whole network does).

    A run's site decides who sees it: a run over a province's hosts and its
    schools belongs to the province, so the province's operator sees it.
    """
    if not sites:
        return None
    first = sorted(sites)[0]
    chain: list[str] = []
    current: str | None = first
    while current is not None and current not in chain:
        chain.append(current)
        site = inventory.sites.get(current)
        current = site.parent if site is not None else None
    for candidate in chain:
        if sites <= inventory.site_and_descendants(candidate):
            return candidate
    return None


def prepare(config: Config, request: PlaybookRequest, inventory: Inventory | None = None) -> list[Host]:
    """Check a request before any run exists; return the inventory hosts it touches.

    Fast (no ansible process): the kind, profile and timeout, the host
    pattern, the group vars the playbooks need and the playbook file.
    Raises BadInputError naming the cause.
    """
    if request.kind not in PLAYBOOKS:
        raise BadInputError(f"unknown playbook kind {request.kind!r}: use {', '.join(PLAYBOOKS)}")
    if request.profile not in PROFILES:
        raise BadInputError(f"unknown profile {request.profile!r}: use {', '.join(PROFILES)}")
    if request.timeout <= 0:
        raise BadInputError("the timeout must be a positive number of seconds")
    _inventory, hosts = resolve_hosts(config, request.limit, inventory)
    problems = missing_vars(hosts)
    if problems:
        raise BadInputError(
            "the inventory lacks group vars the playbooks need (set them in inventory group_vars):\n  "
            + "\n  ".join(problems)
        )
    playbook = config.playbooks / request.playbook
    if not playbook.is_file():
        raise BadInputError(f"no playbook {playbook}")
    return hosts
