"""``egov network verify``: test the network's actual reachability matrix against the flow file, as a run.

What happens (every step bounded in time; a lab verify takes about 2 s):

1. :func:`plan_verify` loads the inventory and the flow file and plans the
   matrix (:mod:`.matrix`); a malformed file or an unknown zone is refused
   here, before any run exists (exit 2).
2. In parallel: each gateway's boundary ruleset is read (``nft -j``: the
   counters *before*) while the SSH connections to the sources are opened.
3. In parallel: every source runs the prober once (:mod:`.probe`, one SSH
   round trip each; the control plane's own row runs locally).
4. In parallel: each gateway's ruleset is read again (counters *after*) with
   its neighbour table.
5. Each path gets its verdict (:func:`judge`) and its evidence: the rule that
   decides it on each gateway it crosses, with the packets that rule counted
   meanwhile (:mod:`.hygiene`); the rulesets get their hygiene findings.

:func:`run_verify` wraps it in a run (kind ``network-verify``) whose output
has one line per source as it lands, stores the report with its run
(:mod:`.results`) and writes one audit record. Run states: ``succeeded``
when the matrix is exactly the flow file's, ``failed`` with a violation or
a breakage, ``partial`` when only some source or gateway could not be read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from controlplane.errors import BadInputError, EgovError
from controlplane.network import probe
from controlplane.network.gateways import GatewayReadings
from controlplane.network.matrix import CONTROL_PLANE, PlannedPath, Source, isolate, plan_matrix
from controlplane.network.results import Finding, PathResult, VerifyReport
from controlplane.store.models import RunStatus

if TYPE_CHECKING:
    from controlplane.config import Config
    from controlplane.inventory import Inventory
    from controlplane.network.model import NetworkModel
    from controlplane.ssh import SSHPool, Target
    from controlplane.store import Store

RUN_KIND = "network-verify"
LocalProber = Callable[[Sequence[probe.Check]], list[probe.Observation]]


@dataclass(frozen=True)
class VerifyPlan:
    """Everything a verify needs, checked before it runs: the model, the inventory, the sources, the scope."""

    model: NetworkModel
    inventory: Inventory
    sources: tuple[Source, ...]
    zone: str | None
    hosts: tuple[str, ...] = ()

    @property
    def scope(self) -> str:
        """``all``, ``zone:NAME`` or ``host:A,B`` (the run's target; a part is never the "latest whole verify")."""
        parts = [f"zone:{self.zone}"] if self.zone else []
        parts += [f"host:{','.join(self.hosts)}"] if self.hosts else []
        return " ".join(parts) or "all"

    @property
    def report_zone(self) -> str | None:
        """What the report's ``zone`` says: None for the whole network, else the scope."""
        return None if self.scope == "all" else self.scope.removeprefix("zone:")


@dataclass(frozen=True)
class SourceDone:
    """One source's row, finished: handed to the progress callback as it lands."""

    name: str
    paths: tuple[PathResult, ...]
    error: str | None
    seconds: float

    @property
    def line(self) -> str:
        """The run-output line of this source."""
        if self.error:
            return f"{self.name}: NOT TESTED ({len(self.paths)} paths): {self.error}"
        bad = [path for path in self.paths if path.verdict != "ok"]
        text = f"{self.name}: {len(self.paths)} paths in {self.seconds:.2f} s"
        return text + (f", {len(bad)} not as the flow file says" if bad else ", as the flow file says")


def plan_verify(
    config: Config,
    *,
    zone: str | None = None,
    hosts: Sequence[str] = (),
    inventory: Inventory | None = None,
    isolated: Sequence[str] = (),
) -> VerifyPlan:
    """Load the inventory and the flow file and plan the matrix; contacts no host.

    ``isolated`` hosts (isolate-host's check) are expected closed on every
    path but the control plane's SSH (:func:`controlplane.network.matrix.isolate`).

    Raises ConfigError (exit 2) for a malformed flow file or inventory, and
    BadInputError (exit 2) when there is no flow file or the zone is unknown.
    """
    from controlplane.inventory import load_inventory
    from controlplane.network.model import load_network, network_file

    inventory = inventory or load_inventory(config.inventory)
    model = load_network(config, inventory)
    if model is None:
        raise BadInputError(f"no flow file: {network_file(config)} does not exist (see inventory/network.yml)")
    sources = isolate(plan_matrix(model, zone, hosts), isolated)
    return VerifyPlan(model, inventory, sources, zone, tuple(hosts))


def judge(expected: str, protocol: str, observed: str) -> str:
    """The verdict of one path.

    TCP: "reachable" is ``open`` or ``refused`` (a RST came back: every
    gateway on the way let the SYN through); a reachable denied path is a
    violation, an allowed path not ``open`` is a breakage (``refused``: the
    service is down). ICMP: an echo reply (``open``) on a denied path is a
    violation, none on an allowed path a breakage.
    """
    reachable = observed in ("open", "refused") if protocol == "tcp" else observed == "open"
    if expected == "deny":
        return "violation" if reachable else "ok"
    return "ok" if observed == "open" else "breakage"


def _target(plan: VerifyPlan, host: str, user: str) -> Target:
    from controlplane.ssh import Target

    return Target.from_host(plan.inventory.host(host), user=user)


def _probe_source(
    plan: VerifyPlan, source: Source, pool: SSHPool, user: str, local: LocalProber, ready: threading.Event
) -> tuple[list[probe.Observation] | None, str | None, float]:
    """Connect to the source at once, wait until the gateways' counters are read, then probe in one round trip."""
    started = time.monotonic()
    checks = [probe.Check(path.address, path.protocol, path.port) for path in source.paths]
    try:
        if source.name == CONTROL_PLANE:
            ready.wait()
            found = local(checks)
        else:
            target = _target(plan, source.name, user)
            pool.client(target)  # the SSH handshake overlaps the gateways' first reading
            ready.wait()
            found = probe.probe_remote(pool, target, checks)
        return found, None, time.monotonic() - started
    except EgovError as error:
        return None, error.message, time.monotonic() - started
    except Exception as error:  # a bug or library surprise on one source must not abort the verify
        return None, f"{type(error).__name__}: {error}", time.monotonic() - started


def execute_verify(
    plan: VerifyPlan,
    pool: SSHPool,
    *,
    ssh_user: str = "root",
    on_source: Callable[[SourceDone], None] | None = None,
    local_prober: LocalProber | None = None,
    actor: str = "",
) -> VerifyReport:
    """Run a planned verify (no store): the report with every path and finding.

    ``on_source`` is called from the calling thread as each source's row
    lands. Never raises for a host problem: an unreachable source becomes a
    ``source-unreachable`` finding (its paths untested), an unreachable
    gateway a ``gateway-unreachable`` finding.
    """
    started_at = datetime.now(UTC)
    model = plan.model
    local = local_prober or probe.probe_local
    gateways = GatewayReadings(model.gateways)
    gateway_targets = [_target(plan, name, ssh_user) for name in model.gateways]
    workers = max(1, len(plan.sources) + len(gateway_targets))
    paths: list[PathResult] = []
    findings: list[Finding] = []
    rows: dict[str, tuple[list[probe.Observation] | None, str | None]] = {}
    ready = threading.Event()  # set once every gateway's counters were read: no probe may count before that
    with ThreadPoolExecutor(max_workers=workers) as executor:
        futures = {executor.submit(_probe_source, plan, s, pool, ssh_user, local, ready): s for s in plan.sources}
        try:
            for future in [executor.submit(gateways.read, pool, target, after=False) for target in gateway_targets]:
                future.result()
        finally:
            ready.set()
        for future in as_completed(futures):
            source = futures[future]
            found, error, seconds = future.result()
            rows[source.name] = (found, error)
            if on_source is not None:  # verdicts need no evidence: the row is shown as soon as it lands
                done = _results(source, found, None) if found is not None else source_paths(source)
                on_source(SourceDone(source.name, done, error, seconds))
        for future in [executor.submit(gateways.read, pool, target, after=True) for target in gateway_targets]:
            future.result()
    for source in plan.sources:
        found, error = rows[source.name]
        if found is None:
            findings.append(
                Finding("source-unreachable", source.name, f"{len(source.paths)} path(s) from zone {source.zone} "
                        f"not tested: {error}")
            )  # fmt: skip
        else:
            paths.extend(_results(source, found, lambda path, source=source: gateways.evidence(model, source, path)))
    findings.extend(gateways.findings(model))
    return VerifyReport(
        id=None, run_id=None, started_at=started_at, finished_at=datetime.now(UTC), paths=tuple(paths),
        findings=tuple(findings), zone=plan.report_zone, actor=actor, sources=tuple(s.name for s in plan.sources),
        gateways=gateways.states(),
    )  # fmt: skip


def _results(
    source: Source, found: Sequence[probe.Observation], evidence: Callable[[PlannedPath], str | None] | None
) -> tuple[PathResult, ...]:
    """A source's planned paths with what was observed, their verdicts and (when given) their gateway evidence.

    A probe that failed on the source says why first ("probe error: no-icmp":
    the source can send no echo request), so an "error" breakage is read as
    the prober's limit, not the network's.
    """

    def rule(path: PlannedPath, seen: probe.Observation) -> str | None:
        text = evidence(path) if evidence is not None else None
        if seen.observed == "error" and seen.detail:
            return f"probe error: {seen.detail}" + (f"; {text}" if text else "")
        return text

    return tuple(
        PathResult(p.source, p.source_zone, p.destination, p.destination_zone, p.address, p.protocol, p.port,
                   p.expected, p.flow, seen.observed, judge(p.expected, p.protocol, seen.observed), rule(p, seen))
        for p, seen in zip(source.paths, found, strict=True)
    )  # fmt: skip


def source_paths(source: Source) -> tuple[PathResult, ...]:
    """A source's planned paths as untested results (observed ``error``), for the progress line of a failed source."""
    return tuple(
        PathResult(p.source, p.source_zone, p.destination, p.destination_zone, p.address, p.protocol, p.port,
                   p.expected, p.flow, "error", "ok", None)
        for p in source.paths
    )  # fmt: skip


def run_status(report: VerifyReport) -> str:
    """The run's final state (see the module docstring)."""
    if report.violations or report.breakages or not report.paths:
        return RunStatus.FAILED
    return RunStatus.PARTIAL if report.incomplete else RunStatus.SUCCEEDED


def problem_lines(report: VerifyReport, limit: int = 50) -> list[str]:
    """Run-output lines naming each violation, breakage and finding (the first ``limit`` of each)."""
    lines = [f"VIOLATION {p.where} observed {p.observed}: {p.rule or 'no gateway evidence'}" for p in report.violations]
    lines = lines[:limit]
    lines += [f"BREAKAGE {p.where} (flow {p.flow}) observed {p.observed}: {p.rule or '-'}" for p in report.breakages][
        :limit
    ]
    lines += [f"FINDING {f.kind} {f.where}: {f.detail}" for f in report.findings][:limit]
    return lines


def run_verify(
    config: Config,
    store: Store,
    *,
    actor: str,
    trigger: str = "cli",
    zone: str | None = None,
    hosts: tuple[str, ...] = (),
    client: str = "local",
    plan: VerifyPlan | None = None,
    pool: SSHPool | None = None,
    on_source: Callable[[SourceDone], None] | None = None,
    local_prober: LocalProber | None = None,
    isolated: tuple[str, ...] = (),
) -> VerifyReport:
    """Verify as a run (kind ``network-verify``), store the report with it and audit it; return the stored report.

    The one service every face calls: the CLI (with a ``plan`` it made
    first, to refuse bad input before any run), the daily job and the verify
    after a provision (``trigger`` ``schedule``/``provision``), the
    isolate-host runbook (``hosts``: only the paths from or to them).
    Without a ``pool`` one is opened from the config and closed afterwards.
    Raises ConfigError/BadInputError (exit 2, no run) for a malformed flow
    file, an unknown zone or host; host problems never raise (they are
    findings); a store failure does, after marking the run failed.
    """
    plan = plan or plan_verify(config, zone=zone, hosts=hosts, isolated=isolated)
    from controlplane import audit
    from controlplane.network.results import save_report
    from controlplane.runs import append_output, create_run, finish_run
    from controlplane.ssh import SSHPool
    from controlplane.store.models import Run

    with store.session() as session:
        run = create_run(
            session, kind=RUN_KIND, target=plan.scope, actor=actor, trigger=trigger,
            params={"zone": plan.zone, "hosts": list(plan.hosts), "sources": [source.name for source in plan.sources]},
        )  # fmt: skip
        run_id = run.id

    def progress(done: SourceDone) -> None:
        with store.session() as session:  # a short transaction per source: the console streams each line
            append_output(session, session.get(Run, run_id), [done.line])
        if on_source is not None:
            on_source(done)

    owned = pool is None
    pool = pool or SSHPool.from_config(config)
    try:
        report = execute_verify(
            plan, pool, ssh_user=config.ssh_user, on_source=progress, local_prober=local_prober, actor=actor
        )
    except BaseException:
        with store.session() as session:
            finish_run(session, session.get(Run, run_id), RunStatus.FAILED, summary={"error": "verify aborted"})
        raise
    finally:
        if owned:
            pool.close()
    status = run_status(report)
    with store.session() as session:
        verify_id = save_report(session, report, run_id=run_id, actor=actor)
        stored = report.with_ids(verify_id, run_id)
        run = session.get(Run, run_id)
        append_output(session, run, problem_lines(stored))
        append_output(
            session, run, [f"verify {verify_id}: {len(stored.paths)} paths, {len(stored.violations)} violation(s), "
                           f"{len(stored.breakages)} breakage(s), {len(stored.findings)} finding(s)"],
        )  # fmt: skip
        finish_run(session, run, status, summary=stored.summary(), exit_code=stored.exit_code)
    audit.append(
        store, actor=actor, action="network.verify", target=plan.scope, outcome=status, client=client,
        details={
            "verify_id": verify_id, "run_id": run_id, "paths": len(stored.paths),
            "violations": [p.where for p in stored.violations][:20],
            "breakages": [p.where for p in stored.breakages][:20],
            "findings": len(stored.findings), "unreachable": [f.where for f in stored.incomplete],
        },
    )  # fmt: skip
    return stored
