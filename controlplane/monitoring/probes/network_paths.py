"""The ``network_verify`` check: what the newest whole-network verify found, as samples alerts can test.

Store-backed and hostless (the ``controlplane`` labels). The network engine
keeps its verifies; the composition root hands this engine a reader of the
newest one as a JSON document (``providers.network_report``), so monitoring
does not import the network engine. Samples:

* ``network_path_violation{path, rule, source, destination, protocol, port}`` = 1
  for every path open that network.yml denies (``NetworkPathViolation``);
* ``network_path_breakage{path, rule, flow, ...}`` = 1 for every allowed flow that did not work;
* ``network_verify_violations``, ``network_verify_breakages`` (counts) and
  ``network_verify_age_seconds`` (since the verify finished).

Labels are an alert's identity, so the ``rule`` label drops the packet and
byte counts the verify read from the gateway's counters ("mn-gw-1
flow:x +2 packets" becomes "mn-gw-1 flow:x"): the same open path is the same
alert from one verify to the next, and it resolves when a verify no longer
finds it. No verify yet is a success without samples.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from typing import TYPE_CHECKING, Any

from controlplane.monitoring.results import ProbeResult, Sample
from controlplane.monitoring.spec import Check

if TYPE_CHECKING:
    from controlplane.store import Store

VIOLATION, BREAKAGE = "network_path_violation", "network_path_breakage"
COUNTERS = re.compile(r"\s*[+]?\d+ (packets?|bytes?)\b")


def stable_rule(text: str | None) -> str:
    """The gateway evidence without its counter values (which change every verify), or "unknown"."""
    cleaned = COUNTERS.sub("", text or "").strip().rstrip(",;").strip()
    return cleaned or "unknown (no gateway counter moved)"


def path_name(path: dict[str, Any]) -> str:
    """``source -> destination address:port/protocol``, as the verify names a path."""
    port = f":{path['port']}" if path.get("port") is not None else ""
    return f"{path.get('source')} -> {path.get('destination')} {path.get('address')}{port}/{path.get('protocol')}"


def path_samples(document: dict[str, Any]) -> list[Sample]:
    """One sample per violation and breakage of a verify document, then the counts."""
    samples: list[Sample] = []
    counts = {"violation": 0, "breakage": 0}
    for path in document.get("paths", []):
        verdict = path.get("verdict")
        if verdict not in counts:
            continue
        counts[verdict] += 1
        labels = {
            "path": path_name(path),
            "rule": stable_rule(path.get("rule")),
            "source": str(path.get("source")),
            "destination": str(path.get("destination")),
            "protocol": str(path.get("protocol")),
            "port": "" if path.get("port") is None else str(path["port"]),
        }
        if verdict == "breakage":
            labels["flow"] = str(path.get("flow") or "")
        samples.append(Sample(VIOLATION if verdict == "violation" else BREAKAGE, 1.0, labels))
    samples.append(Sample("network_verify_violations", float(counts["violation"])))
    samples.append(Sample("network_verify_breakages", float(counts["breakage"])))
    return samples


def network_verify_probe(check: Check, store: Store, now: dt.datetime | None = None) -> ProbeResult:
    """Read the newest verify through the provided reader; fails only when it cannot be read."""
    from controlplane import providers

    started = time.monotonic()

    def result(success: bool, message: str, samples: list[Sample]) -> ProbeResult:
        return ProbeResult(check.probe.name, check.probe.type, check.host, check.site, check.role, success,
                           time.monotonic() - started, message, samples)  # fmt: skip

    reader = providers.provided().network_report
    if reader is None:
        return result(False, "no network verify reader was provided (the process was not wired)", [])
    try:
        document = reader(store)
    except Exception as error:  # the store is down, or has no verify table yet: that is the result
        return result(False, f"network verify query failed: {error}", [])
    if document is None:
        return result(True, "no network verify yet (`egov network verify`)", [])
    samples = path_samples(document)
    finished = dt.datetime.fromisoformat(document["finished_at"])
    if finished.tzinfo is None:
        finished = finished.replace(tzinfo=dt.UTC)
    age = ((now or dt.datetime.now(dt.UTC)) - finished).total_seconds()
    samples.append(Sample("network_verify_age_seconds", round(age, 1)))
    counts = document.get("counts", {})
    message = (
        f"verify {document.get('id')} (run {document.get('run_id')}) {age / 3600:.1f} h ago: "
        f"{counts.get('paths', 0)} path(s), {counts.get('violations', 0)} violation(s), "
        f"{counts.get('breakages', 0)} breakage(s)"
    )
    return result(True, message, samples)
