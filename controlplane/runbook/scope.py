"""Who starts a runbook: the caller's sites and permissions, checked by the engine for every face.

A :class:`Caller` is what a face knows about the person (or alert) asking:
the sites it may touch (already expanded to the sites below them) and the
permissions of controlplane/permissions.py it holds. The engine's parameter
resolution (:func:`controlplane.runbook.params.prepare`) checks every host a
runbook's parameters and targets name against it, and the runbook's extra
``permissions``; a refusal is :class:`ScopeRefused` (HTTP 403; exit 2 in the
CLI), raised before a run row exists.

Who the faces pass:

* console and JSON API: the logged-in user (:func:`caller_for_user`);
* CLI: the local operator (:data:`LOCAL`: every site and permission, since
  whoever runs ``egov`` holds the master key and the SSH key anyway), or with
  ``--as USER`` that console user's role and sites;
* alert-started runs: the alerting host's site and the sites below it
  (:func:`caller_for_alert`); an alert without a known host may name no host.

A run the engine records also keeps the hosts it names (``params.hosts``)
and the lowest site covering them (``runs.site``), so the pages show it
only to users whose scope covers all of them (:func:`hosts_of_run`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from controlplane.errors import BadInputError
from controlplane.permissions import PERMISSIONS

if TYPE_CHECKING:
    from controlplane.inventory import Inventory


class ScopeRefused(BadInputError):
    """A runbook start names a host outside the caller's scope, or needs a permission it lacks (HTTP 403)."""

    status = 403


@dataclass(frozen=True)
class Caller:
    """Who asks for a runbook run: a name, the sites it may touch, the permissions it holds.

    ``sites`` is None for every site (ministry level, the local operator)
    or the expanded set of site names; ``permissions`` is None for every
    permission (the local operator, an alert rule written by an operator) or
    the set the caller's role holds.
    """

    name: str
    sites: frozenset[str] | None = None
    permissions: frozenset[str] | None = None

    @property
    def scoped(self) -> bool:
        """True when the caller may touch only some sites."""
        return self.sites is not None

    def allows_site(self, site: str | None) -> bool:
        """True when an object of ``site`` lies in the caller's scope (a site-less one: every-site callers only)."""
        return self.sites is None or (site is not None and site in self.sites)

    def holds(self, permission: str) -> bool:
        """True when the caller holds ``permission``."""
        return self.permissions is None or permission in self.permissions


LOCAL = Caller("local operator")


def expand_sites(sites: Iterable[str], inventory: Inventory) -> frozenset[str]:
    """The sites and every site below them (unknown names stay as they are: they cover nothing)."""
    expanded: set[str] = set()
    for site in sites:
        expanded |= inventory.site_and_descendants(site)
    return frozenset(expanded)


def caller_for_user(name: str, role: str, sites: Iterable[str] | None, inventory: Inventory) -> Caller:
    """The Caller of a console user: their role's permissions and their sites (empty: every site).

    The permission table is :mod:`controlplane.permissions` (the single
    source of truth the console's route policy enforces too).
    """
    names = list(sites or [])
    held = frozenset(permission for permission, roles in PERMISSIONS.items() if role in roles)
    return Caller(name, expand_sites(names, inventory) if names else None, held)


def caller_for_alert(name: str, host: str | None, inventory: Inventory) -> Caller:
    """The Caller of an alert-started run: the alerting host's site and the sites below it.

    Every permission (the rule naming the runbook is the operator's written
    decision, like the runbook itself), but only the alerting host's part of
    the network: an alert on a province's host can start a runbook on that
    province's hosts, never on another's. An alert whose host the inventory
    does not know covers no site.
    """
    try:
        site = inventory.host(host).site if host else None
    except BadInputError:
        site = None
    return Caller(name, expand_sites([site], inventory) if site else frozenset(), None)


def common_site(inventory: Inventory, sites: Iterable[str]) -> str | None:
    """The lowest site whose subtree holds every site of ``sites`` (None: none, or only the whole network).

    A run's site decides who sees it (``runs.site``), as for playbook runs.
    """
    from controlplane.automation.engine import common_site as lowest

    return lowest(inventory, set(sites))  # type: ignore[no-any-return]


def hosts_of_run(params: Mapping[str, Any] | None, inventory: Inventory) -> list[str]:
    """Every host a recorded runbook run names: its targets, its ``hosts`` and any parameter value naming a host.

    Runs recorded before the engine kept ``hosts`` are read conservatively:
    any parameter text that is an inventory host name (or a comma list of
    them) counts, so an old run is never shown to someone who could not have
    started it.
    """
    data = params or {}
    names: list[str] = [str(t) for t in data.get("targets") or []]
    names += [str(h) for h in data.get("hosts") or []]
    # Kept on the inventory object (it never changes once loaded): listings ask this of every run shown.
    known: frozenset[str] = inventory.__dict__.get("_host_names") or frozenset(host.name for host in inventory.hosts)
    inventory.__dict__["_host_names"] = known
    for value in (data.get("params") or {}).values():
        words = value if isinstance(value, list) else str(value).split(",")
        names += [str(word).strip() for word in words if str(word).strip() in known]
    return list(dict.fromkeys(names))


def sites_of(names: Iterable[str], inventory: Inventory) -> list[str | None]:
    """The site of each named host (None for a host the inventory does not know)."""
    sites: list[str | None] = []
    for name in names:
        try:
            sites.append(inventory.host(name).site)
        except BadInputError:
            sites.append(None)
    return sites
