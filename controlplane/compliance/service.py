"""A stored scan, start to end: the glue between the pure scanner and the control plane.

Used by ``egov scan``, the daily scheduled scan and the console. Everything
that can be refused is checked before the run row exists (bad site or host
pattern, a malformed control or waiver file: exit 2, no run), so a run
always means "a scan happened". Then:

1. a run of kind ``scan`` is created (``running``, owned by this process);
2. hosts are collected in parallel; each host's line goes to the run output
   as soon as it is done (the console streams it; the CLI draws progress);
3. the scan and every result are stored, the run is finished with the
   scores, and one audit record says who scanned what, with what outcome.

Run states: ``succeeded`` when every host was assessed (failing controls are
findings, not a failure of the scan), ``partial`` when some host could not be
assessed (its controls are ``error``), ``failed`` when no host could be.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controlplane.compliance.catalog import WAIVER_FILE_NAMES, Catalog, load_catalog
from controlplane.compliance.evaluate import HostContext
from controlplane.compliance.history import previous_results, results_digest, save_scan
from controlplane.compliance.scanner import HostScan, Scan, ScanTarget, scan
from controlplane.compliance.scoring import ScanDiff, diff_scans, score
from controlplane.compliance.waivers import Waiver, load_waivers
from controlplane.store.models import RunStatus

if TYPE_CHECKING:
    from controlplane.config import Config
    from controlplane.inventory import Host, Inventory
    from controlplane.ssh import SSHPool
    from controlplane.store import Store

RUN_KIND = "scan"


def waiver_path(config: Config) -> Path:
    """Where the site's waivers live: ``waivers.yml`` in the controls folder (``folders.controls``)."""
    return Path(config.controls) / WAIVER_FILE_NAMES[0]


def scope_text(limit: str | None, site: str | None) -> str:
    """Human text of a scan's scope, stated in every report ("all sites", "site X", "hosts P")."""
    parts = []
    if site:
        parts.append(f"site {site}")
    if limit and limit != "all":
        parts.append(f"hosts {limit}")
    return ", ".join(parts) or "all sites"


@dataclass
class ScanPlan:
    """What a scan will do, checked before anything runs: catalog, waivers, hosts, scope."""

    catalog: Catalog
    waivers: list[Waiver]
    hosts: list[Host]
    inventory: Inventory
    scope: str
    limit: str | None
    site: str | None


@dataclass
class ScanOutcome:
    """A finished, stored scan: ids, the Scan, the change since the previous one, run state and exit code."""

    scan_id: int
    run_id: int
    scan: Scan
    diff: ScanDiff | None
    status: str
    scope: str

    @property
    def exit_code(self) -> int:
        """0 when every host was assessed (whatever the findings), 1 when some host could not be."""
        return 0 if self.status == RunStatus.SUCCEEDED else 1


def plan_scan(
    config: Config, *, limit: str | None = None, site: str | None = None, inventory: Inventory | None = None
) -> ScanPlan:
    """Load and check everything a scan needs.

    Reads the control and waiver files (and the inventory unless one is
    passed) but contacts no host. Raises ConfigError (exit 2) for a malformed control or waiver file,
    BadInputError (exit 2) for an unknown site or a pattern matching nothing.
    """
    from controlplane.inventory import load_inventory

    catalog = load_catalog(Path(config.controls))
    waivers = load_waivers(waiver_path(config), catalog.ids)
    inventory = inventory or load_inventory(Path(config.inventory))
    hosts = inventory.select(limit, site=site)
    return ScanPlan(catalog, waivers, hosts, inventory, scope_text(limit, site), limit, site)


def host_line(host: HostScan) -> str:
    """One run-output line for a host: its counts, or why it could not be assessed."""
    if not host.reachable:
        return f"{host.host.name}: ERROR not assessed: {host.evidence.get('unreachable')}"
    value = score(host.results)
    percent = "n/a" if value.before_waivers is None else f"{value.before_waivers:.1f}%"
    return (
        f"{host.host.name}: {percent} ({value.passed} pass, {value.failed} fail, {value.waived} waived, "
        f"{value.errors} error, {value.not_applicable} n/a) in {host.seconds:.2f} s"
    )


def run_status(scan_result: Scan) -> str:
    """The run's final state (see the module docstring)."""
    assessed = sum(1 for host in scan_result.hosts if host.reachable)
    if assessed == len(scan_result.hosts):
        return RunStatus.SUCCEEDED
    return RunStatus.PARTIAL if assessed else RunStatus.FAILED


def execute_scan(
    config: Config,
    store: Store,
    plan: ScanPlan,
    *,
    actor: str,
    trigger: str = "cli",
    client: str = "local",
    pool: SSHPool | None = None,
    on_host: Callable[[HostScan], None] | None = None,
    now: datetime | None = None,
) -> ScanOutcome:
    """Run a planned scan as a run, store it and audit it.

    Without a ``pool`` it opens one from the config and closes it
    afterwards; ``on_host`` is called as each host lands, after its line is
    in the run's output. Host problems never raise (they are ``error``
    results); a store failure does, after marking the run failed.
    """
    from controlplane import audit
    from controlplane.compliance.facts import store_facts
    from controlplane.runs import append_output, create_run, finish_run
    from controlplane.ssh import SSHPool, Target
    from controlplane.store.models import Run

    with store.session() as session:
        run = create_run(
            session,
            kind=RUN_KIND,
            target=plan.limit or "all",
            actor=actor,
            trigger=trigger,
            site=plan.site,
            params={"limit": plan.limit, "site": plan.site, "catalog_version": plan.catalog.version},
        )
        run_id = run.id
    facts = store_facts(config, store, plan.inventory, plan.hosts)
    targets = [
        ScanTarget(
            Target.from_host(host, user=config.ssh_user),
            HostContext(host.name, host.site, (host.role,), facts.get(host.name)),
        )
        for host in plan.hosts
    ]

    def progress(host: HostScan) -> None:
        # A short transaction per host so the console's live view sees each line as it lands.
        with store.session() as session:
            append_output(session, session.get(Run, run_id), [host_line(host)])
        if on_host is not None:
            on_host(host)

    owned = pool is None
    pool = pool or SSHPool.from_config(config)
    try:
        result = scan(plan.catalog, targets, pool, waivers=plan.waivers, now=now, on_host=progress)
    except BaseException:
        with store.session() as session:
            finish_run(session, session.get(Run, run_id), RunStatus.FAILED, summary={"error": "scan aborted"})
        raise
    finally:
        if owned:
            pool.close()
    status = run_status(result)
    names = [host.name for host in plan.hosts]
    with store.session() as session:
        row = save_scan(
            session,
            result,
            run_id=run_id,
            scope=plan.scope,
            site=plan.site,
            trigger=trigger,
            actor=actor,
            waivers=plan.waivers,
        )
        scan_id = row.id
        previous = previous_results(session, scan_id, names)
        diff = diff_scans(previous, result.results) if previous is not None else None
        overall = score(result.results)
        unreachable = [host.host.name for host in result.hosts if not host.reachable]
        summary = {
            "scan_id": scan_id,
            "scope": plan.scope,
            "hosts": len(result.hosts),
            "unreachable": unreachable,
            "score": overall.to_dict(),
            "new_failures": len(diff.new_failures) if diff else None,
            "fixed": len(diff.fixed) if diff else None,
        }
        run = session.get(Run, run_id)
        append_output(
            session,
            run,
            [
                f"scan {scan_id}: {len(result.hosts)} host(s), score {overall.before_waivers}% before waivers, "
                f"{overall.after_waivers}% after; catalog {result.catalog_version}"
            ],
        )
        finish_run(session, run, status, summary=summary, exit_code=0 if status == RunStatus.SUCCEEDED else 1)
    audit.append(
        store,
        actor=actor,
        action="compliance.scan",
        target=plan.scope,
        outcome=status,
        client=client,
        details={
            "scan_id": scan_id,
            "run_id": run_id,
            "hosts": len(result.hosts),
            "unreachable": unreachable,
            "evidence_digest": results_digest(result.results, config.audit_hash),
        },
        site=plan.site,
    )
    return ScanOutcome(scan_id, run_id, result, diff, status, plan.scope)


def run_scan(
    config: Config,
    store: Store,
    *,
    limit: str | None = None,
    site: str | None = None,
    actor: str,
    trigger: str = "cli",
    **options: Any,
) -> ScanOutcome:
    """Plan and execute a scan in one call (see :func:`plan_scan` and :func:`execute_scan`)."""
    plan = plan_scan(config, limit=limit, site=site, inventory=options.pop("inventory", None))
    return execute_scan(config, store, plan, actor=actor, trigger=trigger, **options)
