"""Host health over the control plane's pooled SSH connections: one command per host.

The remote side is :mod:`~controlplane.monitoring.probes.health_script`, sent
as ``python3 -I -c SCRIPT REQUEST`` (argv, quoted word by word by the SSH
pool), so service names reach no shell. Samples:

* ``host_load1``, ``host_load1_per_cpu``, ``host_memory_used_ratio``
* ``host_disk_used_ratio{mount}``
* ``service_active{service}`` (1 running, 0 not)
* ``host_clock_offset_seconds`` (host clock minus ours when its answer arrived)
"""

from __future__ import annotations

import json
import time
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controlplane.monitoring.results import ProbeResult, Sample, clip
from controlplane.monitoring.spec import Check

if TYPE_CHECKING:
    from controlplane.ssh import SSHPool

SCRIPT_FILE = Path(__file__).with_name("health_script.py")
PYTHON = "python3"


@cache
def script_text() -> str:
    """The remote script's source (read once per process)."""
    return SCRIPT_FILE.read_text(encoding="utf-8")


def services_for(check: Check) -> list[str]:
    """The services a health check watches on this host: common ones plus its role's."""
    options = check.probe.options
    names = list(options.get("services") or [])
    names += (options.get("services_by_role") or {}).get(check.role, [])
    return list(dict.fromkeys(names))


def health_argv(check: Check) -> list[str]:
    """The exact argv run on the host for one health check."""
    request = {"services": services_for(check), "manager": check.probe.options.get("service_manager", "auto")}
    return [PYTHON, "-I", "-c", script_text(), json.dumps(request, separators=(",", ":"))]


def parse_health(check: Check, data: dict[str, Any], sent: float, received: float) -> tuple[list[Sample], list[str]]:
    """Turn the script's JSON into samples and a list of problems worth a message.

    ``sent`` and ``received`` are our wall-clock times around the round
    trip: the host's clock offset is measured against ``received``, so it is
    biased by at most the one-way latency. A section missing from the answer
    gives no sample; a section's ``*_error`` key becomes a problem.
    """
    samples: list[Sample] = []
    problems: list[str] = []
    load = data.get("load")
    if load:
        samples.append(Sample("host_load1", round(float(load["load1"]), 3)))
        samples.append(Sample("host_load1_per_cpu", round(float(load["load1"]) / max(1, int(load["cpus"])), 3)))
    memory = data.get("memory")
    if memory and memory.get("total_bytes"):
        used = 1 - memory["available_bytes"] / memory["total_bytes"]
        samples.append(Sample("host_memory_used_ratio", round(used, 4)))
    for mount, disk in sorted((data.get("disks") or {}).items()):
        used = 1 - disk["free_bytes"] / disk["total_bytes"]
        samples.append(Sample("host_disk_used_ratio", round(used, 4), {"mount": mount}))
    for name, active in (data.get("services") or {}).items():
        if active is None:
            problems.append(f"service {name}: state unknown")
            continue
        samples.append(Sample("service_active", 1.0 if active else 0.0, {"service": name}))
        if not active:
            problems.append(f"service {name} is not running")
    if "time_end" in data:
        # The script prints right after reading its clock, and its answer arrives one network hop
        # later; comparing with the round trip's middle instead would count the remote Python's
        # start-up (~0.1 s) as clock skew. Bias: one-way latency, at most (received - sent).
        offset = float(data["time_end"]) - received
        samples.append(Sample("host_clock_offset_seconds", round(offset, 4)))
    problems += [f"{key[:-6]}: {value}" for key, value in data.items() if key.endswith("_error")]
    return samples, problems


def health_probe(check: Check, pool: SSHPool, user: str = "root") -> ProbeResult:
    """Run the health script on the host over the pool and return the result.

    Success means the host answered; a stopped service is a sample
    (``service_active`` = 0) for rules to judge, and is named in the message.
    The probe's ``timeout`` bounds every SSH step together (connect, banner,
    auth, channel, exec, output), so a wedged host fails within it.
    """
    from controlplane.errors import EgovError
    from controlplane.ssh import Target

    started = time.monotonic()
    target = Target(check.host, check.address, check.port, user)

    def result(success: bool, message: str, samples: list[Sample]) -> ProbeResult:
        return ProbeResult(check.probe.name, check.probe.type, check.host, check.site, check.role, success,
                           time.monotonic() - started, clip(message), samples)  # fmt: skip

    sent = time.time()
    try:
        answer = pool.run(target, health_argv(check), timeout=check.probe.timeout)
    except EgovError as error:
        return result(False, error.message, [])
    except Exception as error:  # paramiko may raise its own errors mid-command
        pool.drop(target)
        return result(False, f"{check.host}: SSH failed: {error}", [])
    received = time.time()
    if answer.stop_reason:  # stopped by its deadline, or the connection went silent: the reason names the step
        return result(False, answer.stop_reason, [])
    if not answer.ok:
        return result(False, f"health script exited {answer.exit_code}: {(answer.stderr or answer.stdout)[-200:]}", [])
    try:
        data = json.loads(answer.stdout)
    except ValueError:
        return result(False, f"health script printed no JSON: {answer.stdout[:100]!r}", [])
    samples, problems = parse_health(check, data, sent, received)
    return result(True, "; ".join(problems) or "healthy", samples)
