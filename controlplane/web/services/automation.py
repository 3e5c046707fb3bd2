"""Provision and harden for the console and the API: scope, validation and starting, decided once.

Scope: an operator or admin may target only hosts of their sites; a pattern
that reaches any host outside them is refused with 403, and an empty pattern
means every host in the user's scope. A host's history lists every playbook
run that touched it; a run whose site lies outside the user's scope (a
national harden over every province) shows only this host's own outcome and
counters, with the run's pattern, host list, totals, message and overall
status withheld (:func:`scoped_history`), and its run page stays 403.

A start creates the run ``queued`` with its hosts locked, then hands it to
the dispatcher (:mod:`controlplane.dispatch`); :func:`execute_task` is the
dispatcher's task for playbook runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flask import abort, g

from controlplane.errors import BadInputError
from controlplane.store.models import Run
from controlplane.web.errors import ApiError
from controlplane.web.helpers import audit_event
from controlplane.web.policy import current_scope, require_site
from controlplane.web.queries import visible_hosts
from controlplane.web.services.dispatching import dispatch
from controlplane.web.state import state

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from controlplane.inventory import Host
    from controlplane.web.state import ConsoleState

KINDS = ("provision", "harden")
# Host names, group names, site names, globs; separated by commas or colons (no ansible operators).
LIMIT = re.compile(r"^[A-Za-z0-9_.*?\[\]-]+(?:[,:][A-Za-z0-9_.*?\[\]-]+)*$")
MAX_LIMIT = 512


@dataclass(frozen=True)
class Started:
    """A playbook run the console started: its id, kind, the pattern and hosts it covers."""

    run_id: int
    kind: str
    limit: str | None
    hosts: list[str]
    check: bool


def start_playbook(kind: str, limit: str | None, check: bool, diff: bool, via: str) -> Started:
    """Check, create and start a provision or harden run for the current user.

    The one start path of the console and the API (``via`` says which, for
    the run's actor and trigger): the run is created queued with its hosts
    locked, then handed to the dispatcher, so the caller answers at once
    while the playbook runs in the background. Raises
    ApiError 400 (bad kind or pattern, a pattern matching no host, a missing
    group var, hosts spanning several of the user's sites), 403 (a host out
    of the user's scope), 409 (a host is already in another run, or the
    control plane has no SSH key to reach the hosts with).
    """
    from controlplane.automation import engine, locks
    from controlplane.automation.engine import PlaybookRequest

    if kind not in KINDS:
        raise ApiError(400, "invalid", f"kind must be one of {', '.join(KINDS)}")
    pattern = (limit or "").strip() or None
    if pattern is not None and (len(pattern) > MAX_LIMIT or not LIMIT.match(pattern)):
        raise ApiError(400, "invalid", "the host pattern may hold host, group or site names and globs, comma-separated")
    console = state()
    scope = current_scope()
    inventory = console.inventory
    if pattern is None and not scope.all_sites:
        names = [host.name for host in visible_hosts(inventory, scope)]
        if not names:
            abort(403)
        pattern = ",".join(names)
    user = g.egov_user
    playbook_request = PlaybookRequest(
        kind=kind, limit=pattern, check=check, diff=diff, actor=f"{user.name}@{via}", trigger=via
    )
    try:
        hosts = engine.prepare(console.config, playbook_request, inventory)
    except BadInputError as error:
        raise ApiError(400, "invalid", error.message) from None
    for host in hosts:
        require_site(host.site)
    site = engine.common_site(inventory, {host.site for host in hosts})
    if not scope.allows(site):
        raise ApiError(400, "invalid", "the hosts span several of your sites: start one run per site")
    key = Path(console.config.ssh_key_file)
    if not key.is_file():
        # Every host would be unreachable: say why instead of starting ansible for nothing.
        raise ApiError(
            409, "no_ssh_key", f"the control plane's SSH key {key} does not exist (ssh.key_file in egov.yml)"
        )
    try:
        run_id = engine.begin_run(console.store, playbook_request, hosts, site=site)
    except locks.HostBusyError as error:
        raise ApiError(409, "host_busy", error.message) from None
    names = [host.name for host in hosts]
    audit_event(
        f"{kind}.start", f"run:{run_id}", kind=kind, limit=pattern or "all", check=check, diff=diff, hosts=len(names)
    )
    dispatch(run_id)
    return Started(run_id, kind, pattern, names, check)


def get_automation_run(run_id: int) -> Run:
    """Return a provision/harden run the current user may see; 404 when missing or another kind."""
    with state().store.session() as db:
        run = db.get(Run, run_id)
    if run is None or run.kind not in KINDS:
        raise ApiError(404, "not_found", f"no provision or harden run {run_id}")
    require_site(run.site)
    return run


def progress_of(run_id: int) -> dict[str, Any]:
    """The per-host progress of a run in scope (see controlplane.automation.report.host_progress)."""
    from controlplane.automation.report import host_progress

    run = get_automation_run(run_id)
    with state().store.session() as db:
        fresh = db.get(Run, run.id)
        assert fresh is not None  # noqa: S101 - loaded just above
        return host_progress(db, fresh)


def drift_in_scope() -> list[dict[str, Any]]:
    """The drift rows of every host in the current user's scope."""
    from controlplane.automation.report import drift

    names = [host.name for host in visible_hosts(state().inventory, current_scope())]
    with state().store.session() as db:
        return drift(db, names)


# What a run outside the caller's scope may still show on one of the caller's hosts: this host's own part.
OWN_FIELDS = ("id", "kind", "check", "diff", "actor", "trigger", "created_at", "finished_at", "host_outcome")


def scoped_history(db: Session, host: Host) -> list[dict[str, Any]]:
    """The playbook runs that touched ``host``, those of sites out of scope reduced to the host's own outcome.

    A reduced item keeps OWN_FIELDS and the host's counters, names only this
    host (``hosts``, ``target``), has no ``site``, ``status``, ``totals`` or
    ``message``, and carries ``redacted: true``.
    """
    from controlplane.automation.report import COUNTERS, host_history

    scope = current_scope()
    items = []
    for item in host_history(db, host.name):
        if scope.allows(item.get("site")):
            items.append({**item, "redacted": False})
            continue
        own = {key: item.get(key) for key in (*OWN_FIELDS, *COUNTERS)}
        own.update(hosts=[host.name], target=host.name, site=None, status=None, totals={}, message="", redacted=True)
        items.append(own)
    return items


def host_in_scope(name: str) -> Host:
    """The inventory host ``name`` after the site check; 404 when unknown."""
    try:
        host = state().inventory.host(name)
    except BadInputError:
        raise ApiError(404, "not_found", "no such host in the inventory") from None
    require_site(host.site)
    return host


def execute_task(console: ConsoleState, run: Run) -> None:
    """The dispatcher's task for provision/harden runs: rebuild the request from the run row and execute it.

    A host removed from the inventory since the start fails the run (its
    name is in the error) instead of running on the rest unasked.
    """
    from controlplane.automation.engine import execute_run
    from controlplane.automation.playbook import PlaybookRequest

    params = run.params or {}
    inventory = console.inventory
    hosts = [inventory.host(name) for name in params.get("hosts") or []]
    request = PlaybookRequest(
        kind=run.kind,
        limit=params.get("limit"),
        check=bool(params.get("check")),
        diff=bool(params.get("diff")),
        profile=str(params.get("profile") or "tuned"),
        timeout=int(params["timeout"]),
        actor=run.actor,
        trigger=run.trigger,
        tags=params.get("tags"),
    )
    execute_run(console.config, console.store, request, int(run.id), hosts)
