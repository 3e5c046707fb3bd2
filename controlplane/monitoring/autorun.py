"""Alert-driven runbooks: link an alert to its runbook, and start it when the alert fires.

A rule in ``rules.yml`` may name a runbook (``runbook: {name, auto, params,
min_interval, host_vars}``, see :class:`~controlplane.monitoring.spec.RuleRunbook`):

* every alert of that rule carries the annotations ``runbook`` (its name)
  and ``runbook_url`` (its console page), so the webhook payload, e-mail,
  WeCom/DingTalk messages and the console alert page link to it;
* when ``auto`` is dry-run, drill or run, an alert of the rule that starts
  firing starts the runbook in that mode (``run`` only when the rule says
  so), unless the alert is silenced or inhibited, its host does not match
  ``host_vars``, or the rule started one less than ``min_interval`` ago;
* the start is *claimed* in the monitor's evaluation transaction with a
  conditional write of the rule's row in the ``settings`` table, so two
  monitor processes cannot both start it, and the rate limit survives a
  restart;
* the runbook starts through the runner the composition root handed in
  (``egov serve``: a queued run for the console's dispatcher; ``egov
  monitor run``: executed in a thread of its own), so it is a normal run
  (run row, journal, target locks, audit records) with the actor
  ``alert:<AlertName>``; the monitor loop never waits for it;
* the run is linked from the alert: annotation ``runbook_run`` (the console
  URL of the run's journal) and ``runbook_run_id``;
* scope: the run may name only hosts of the alerting host's site and the
  sites below it (:func:`controlplane.runbook.scope.caller_for_alert`, checked
  by the engine like any start), so an alert on one province's host, or
  parameters rendered from its labels, can never start a runbook on another
  province's hosts; an alert without a known host may name no host at all.
  The rule itself is the operator's written decision, so it holds every
  permission (like the local operator).

Settings rows (no table of its own): ``autorun.rule:<alert>:<probe>`` holds
the rule's last automatic start, ``autorun.alert:<fingerprint>`` the run
started for that alert.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from controlplane.errors import EgovError
from controlplane.monitoring.alerts import FIRING, Alert, render
from controlplane.monitoring.spec import MonitoringSpec, Rule
from controlplane.store.models import Setting

if TYPE_CHECKING:
    from controlplane.config import Config
    from controlplane.inventory import Inventory
    from controlplane.store import Store

log = logging.getLogger(__name__)
RULE_PREFIX = "autorun.rule:"
ALERT_PREFIX = "autorun.alert:"
KEY_LENGTH = 128
ANNOTATIONS = ("runbook_run", "runbook_run_id", "runbook_auto")


def console_link(external_url: str, path: str) -> str:
    """The console URL of ``path`` (absolute when the site's external URL is known, else site-relative)."""
    return f"{external_url.rstrip('/')}{path}" if external_url else path


def with_runbook_links(spec: MonitoringSpec, external_url: str) -> MonitoringSpec:
    """The spec whose runbook-naming rules annotate their alerts with the runbook's name and console page.

    An explicit ``runbook_url`` annotation of the rule is kept; otherwise
    ``runbook_url`` becomes the console page of the runbook. Returns a new
    spec (the input is not changed).
    """
    rules = []
    for rule in spec.rules:
        if rule.runbook is not None:
            annotations = dict(rule.annotations)
            annotations["runbook"] = rule.runbook.name
            annotations.setdefault("runbook_url", console_link(external_url, f"/runbooks/{rule.runbook.name}"))
            rule = replace(rule, annotations=annotations)
        rules.append(rule)
    return replace(spec, rules=tuple(rules))


def rule_key(rule: Rule) -> str:
    """The settings key of a rule's rate-limit row (hashed when alert and probe names are long)."""
    key = f"{RULE_PREFIX}{rule.alert}:{rule.probe}"
    if len(key) <= KEY_LENGTH:
        return key
    return RULE_PREFIX + hashlib.sha256(f"{rule.alert}:{rule.probe}".encode()).hexdigest()


def rule_of(spec: MonitoringSpec, alert: Alert) -> Rule | None:
    """The rule that raised an engine alert (same alert name and check), or None."""
    name, check = alert.labels.get("alertname"), alert.labels.get("check")
    return next((r for r in spec.rules if r.alert == name and r.probe == check), None)


@dataclass(frozen=True)
class AutoStart:
    """A claimed automatic start: the rule, the alert that fired, the mode and the rendered parameters."""

    rule: Rule
    fingerprint: str
    labels: dict[str, str]
    mode: str
    params: dict[str, Any]
    claimed_at: dt.datetime


@dataclass(frozen=True)
class Skipped:
    """An automatic start that did not happen, and why (audited)."""

    rule: Rule
    fingerprint: str
    labels: dict[str, str]
    reason: str


@dataclass
class Decision:
    """What one evaluation step decided about automatic runbooks."""

    starts: list[AutoStart] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def render_params(params: Mapping[str, Any], labels: Mapping[str, str]) -> dict[str, Any]:
    """Parameter values with ``{host}``, ``{site}`` and other labels filled in text values."""
    return {k: render(v, labels, 0.0) if isinstance(v, str) else v for k, v in params.items()}


def newly_firing(before: Mapping[str, Alert], after: Mapping[str, Alert]) -> list[str]:
    """Fingerprints of engine alerts that fire now and did not fire before this step."""
    return [
        fp
        for fp, alert in after.items()
        if alert.state == FIRING and alert.source == "engine" and (fp not in before or before[fp].state != FIRING)
    ]


def _host_matches(inventory: Inventory | None, host: str, wanted: Mapping[str, Any]) -> bool:
    if not wanted:
        return True
    try:
        variables = inventory.host(host).variables
    except Exception:  # an unknown host (or no inventory) matches no condition
        return False
    return all(str(variables.get(k)) == str(v) for k, v in wanted.items())


def claim(session: Session, key: str, now: dt.datetime, min_interval: float, fingerprint: str) -> bool:
    """Take a rule's start slot: True when its last start is older than ``min_interval`` and we won the write.

    The row is written with a conditional UPDATE (or an INSERT that the
    primary key makes unique), so of two monitors evaluating at once only
    one claims it.
    """
    value = json.dumps({"at": now.isoformat(), "fingerprint": fingerprint})
    row = session.get(Setting, key)
    if row is None:
        try:
            with session.begin_nested():
                session.add(Setting(key=key, value=value))
        except IntegrityError:
            return False
        return True
    try:
        last = dt.datetime.fromisoformat(json.loads(row.value)["at"])
    except (ValueError, KeyError, TypeError):
        last = None
    if last is not None:
        last = last if last.tzinfo else last.replace(tzinfo=dt.UTC)
        if (now - last).total_seconds() < min_interval:
            return False
    done = session.execute(update(Setting).where(Setting.key == key, Setting.value == row.value).values(value=value))
    session.expire(row)
    return bool(done.rowcount == 1)  # type: ignore[attr-defined]


def decide(
    session: Session,
    spec: MonitoringSpec,
    before: Mapping[str, Alert],
    after: Mapping[str, Alert],
    muted: Mapping[str, object],
    inventory: Inventory | None,
    now: dt.datetime,
) -> Decision:
    """Decide and claim the automatic starts of one evaluation step (inside its transaction).

    Only alerts that start firing in this step count. Claiming inside the
    step's transaction (:func:`claim`) is what keeps two monitors
    evaluating at once from starting the same runbook twice. Returns the
    claimed starts (to launch once the transaction commits) and the skipped
    ones (to audit). Claimed starts are linked from their alert right away.
    """
    decision = Decision()
    for fp in newly_firing(before, after):
        alert = after[fp]
        rule = rule_of(spec, alert)
        if rule is None or rule.runbook is None or rule.runbook.auto == "off":
            continue
        block = rule.runbook
        labels = dict(alert.labels)
        if fp in muted:
            decision.skipped.append(Skipped(rule, fp, labels, "the alert is silenced or inhibited"))
            continue
        if not _host_matches(inventory, labels.get("host", ""), block.host_vars):
            continue  # not this rule's kind of host: not a skip worth auditing
        if not claim(session, rule_key(rule), now, block.min_interval, fp):
            why = f"rate limited: this rule started {block.name} less than {block.min_interval:g} s ago"
            decision.skipped.append(Skipped(rule, fp, labels, why))
            continue
        params = render_params(block.params, labels)
        decision.starts.append(AutoStart(rule, fp, labels, block.auto, params, now))
        write_link(session, fp, {"rule": rule.alert, "runbook": block.name, "mode": block.auto, "at": now.isoformat()})
    return decision


def write_link(session: Session, fingerprint: str, data: Mapping[str, Any]) -> None:
    """Record (or replace) the runbook run linked from an alert."""
    key = ALERT_PREFIX + fingerprint
    row = session.get(Setting, key)
    if row is None:
        session.add(Setting(key=key, value=json.dumps(dict(data))))
        session.flush()
    else:
        row.value = json.dumps(dict(data))


def load_links(session: Session) -> dict[str, dict[str, Any]]:
    """Every alert's linked runbook run by fingerprint."""
    rows = session.scalars(select(Setting).where(Setting.key.startswith(ALERT_PREFIX)))
    links = {}
    for row in rows:
        try:
            links[row.key[len(ALERT_PREFIX) :]] = json.loads(row.value)
        except ValueError:
            continue
    return links


def annotate(
    session: Session, alerts: Mapping[str, Alert], external_url: str, links: Mapping[str, dict[str, Any]] | None = None
) -> None:
    """Put each alert's runbook run link in its annotations; forget links of alerts that are gone."""
    links = load_links(session) if links is None else links
    gone = [fp for fp in links if fp not in alerts]
    if gone:
        session.execute(delete(Setting).where(Setting.key.in_([ALERT_PREFIX + fp for fp in gone])))
    for fp, alert in alerts.items():
        link = links.get(fp)
        if not link:
            continue
        # A new dict: the step's "before" alerts may share the old one, and must stay as they were.
        notes = {k: v for k, v in alert.annotations.items() if k not in ANNOTATIONS}
        notes["runbook_auto"] = f"{link.get('mode', '?')} of {link.get('runbook', '?')} started by the alert"
        if link.get("run_id"):
            notes["runbook_run_id"] = str(link["run_id"])
            notes["runbook_run"] = console_link(external_url, f"/runbooks/runs/{link['run_id']}")
        elif link.get("error"):
            notes["runbook_auto"] += f", refused: {link['error']}"
        alert.annotations = notes


def link_for(store: Store, fingerprint: str) -> dict[str, Any] | None:
    """The runbook run linked from an alert, or None."""
    with store.session() as session:
        row = session.get(Setting, ALERT_PREFIX + fingerprint)
        return json.loads(row.value) if row else None


Runner = Callable[[AutoStart, Callable[[int], None]], Any]


class AutoRunner:
    """Launches claimed starts in background threads through the runner it was given, and audits them.

    The runner (``start, on_run -> anything``) belongs to the composition
    root: ``egov serve`` queues the run for the console's dispatcher,
    ``egov monitor run`` executes it here (both in
    :mod:`controlplane.runbook.alert_starts`); this engine never imports the
    runbook engine. Without one, every automatic start is refused, audited
    with the reason.
    """

    def __init__(self, config: Config, store: Store, inventory: Inventory, runner: Runner | None = None) -> None:
        self.config, self.store, self.inventory = config, store, inventory
        self.runner = runner or _no_runner
        self.threads: list[threading.Thread] = []

    def launch(self, decision: Decision) -> list[threading.Thread]:
        """Audit the skipped starts and start a thread per claimed one; return the threads."""
        from controlplane import audit

        for skip in decision.skipped:
            audit.append(
                self.store,
                actor=actor_of(skip.rule),
                action="alert.runbook",
                target=skip.rule.runbook.name if skip.rule.runbook else "",
                outcome="skipped",
                details={"fingerprint": skip.fingerprint, "host": skip.labels.get("host"), "reason": skip.reason},
                site=skip.labels.get("site"),
            )
        started = []
        for start in decision.starts:
            thread = threading.Thread(target=self._work, args=(start,), name=f"egov-autorun-{start.rule.alert}",
                                      daemon=True)  # fmt: skip
            thread.start()
            started.append(thread)
        self.threads = [t for t in self.threads if t.is_alive()] + started
        return started

    def _work(self, start: AutoStart) -> None:
        from controlplane import audit

        assert start.rule.runbook is not None  # noqa: S101 - only rules with a runbook are claimed
        name = start.rule.runbook.name
        link = {"rule": start.rule.alert, "runbook": name, "mode": start.mode, "at": start.claimed_at.isoformat()}

        def on_run(run_id: int) -> None:
            self._save_link(start.fingerprint, {**link, "run_id": run_id})
            audit.append(
                self.store,
                actor=actor_of(start.rule),
                action="alert.runbook",
                target=name,
                outcome="started",
                details={"fingerprint": start.fingerprint, "host": start.labels.get("host"), "mode": start.mode,
                         "run_id": run_id, "params": start.params},
                site=start.labels.get("site"),
            )  # fmt: skip
            log.info("alert %s started runbook %s (%s): run %d", start.rule.alert, name, start.mode, run_id)

        try:
            self.runner(start, on_run)
        except EgovError as error:
            self._refused(start, link, error.message)
        except Exception as error:  # the thread reports whatever happened; the monitor goes on
            log.exception("automatic runbook %s for %s failed", name, start.rule.alert)
            self._refused(start, link, f"{type(error).__name__}: {error}")

    def _refused(self, start: AutoStart, link: dict[str, Any], message: str) -> None:
        from controlplane import audit

        current = link_for(self.store, start.fingerprint) or {}
        if current.get("run_id"):
            return  # the run exists and carries its own outcome (journal, audit)
        self._save_link(start.fingerprint, {**link, "error": message})
        audit.append(
            self.store,
            actor=actor_of(start.rule),
            action="alert.runbook",
            target=start.rule.runbook.name if start.rule.runbook else "",
            outcome="refused",
            details={"fingerprint": start.fingerprint, "host": start.labels.get("host"), "error": message},
            site=start.labels.get("site"),
        )
        log.warning("alert %s could not start its runbook: %s", start.rule.alert, message)

    def _save_link(self, fingerprint: str, data: Mapping[str, Any]) -> None:
        with self.store.session() as session:
            write_link(session, fingerprint, data)

    def join(self, timeout: float | None = None) -> None:
        """Wait for the launched runbooks to end, at most ``timeout`` seconds in all (None: no limit)."""
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        for thread in list(self.threads):
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))


def _no_runner(start: AutoStart, on_run: Callable[[int], None]) -> None:
    """The runner of a monitor built without one: every automatic start is refused (and audited)."""
    raise EgovError(f"this process starts no runbooks: the alert {start.rule.alert} could not start its runbook")


def actor_of(rule: Rule) -> str:
    """The audit actor of an automatic start: ``alert:<AlertName>``."""
    return f"alert:{rule.alert}"


def auto_rules(spec: MonitoringSpec) -> Iterable[Rule]:
    """The rules that may start a runbook by themselves."""
    return [r for r in spec.rules if r.runbook is not None and r.runbook.auto != "off"]
