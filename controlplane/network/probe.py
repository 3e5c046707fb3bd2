"""Running the reachability prober on a verify source: argv, stdin, output, over the control plane's SSH.

One source costs one SSH round trip: :func:`probe_argv` is the fixed remote
argv (``python3 -I -c SCRIPT``, the script in ``probe_script.py``) and the
checks go on stdin as JSON (:func:`probe_input`), so no address or port ever
becomes part of a command line. The control plane's own row of the matrix
(the management flows) runs the same script as a local child process
(:func:`probe_local`): the same code decides "open", "refused", "timeout"
everywhere.

Gateways are read the same way: :data:`RULESET_ARGV` (``nft -j list table``)
and :data:`NEIGHBOURS_ARGV` (``ip -j -4 neigh show``).
"""

from __future__ import annotations

import ipaddress
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from controlplane.errors import EgovError

if TYPE_CHECKING:
    from controlplane.ssh import SSHPool, Target

REMOTE_PYTHON = "/usr/bin/python3"
SCRIPT_RESOURCE = "probe_script.py"
CONNECT_TIMEOUT = 1.0
# A source's whole command: the SSH step deadlines plus one connect timeout per batch of 400 checks.
COMMAND_TIMEOUT = 30.0
BOUNDARY_TABLE = "egov_boundary"
RULESET_ARGV = ("nft", "-j", "list", "table", "inet", BOUNDARY_TABLE)
NEIGHBOURS_ARGV = ("ip", "-j", "-4", "neigh", "show")
PROTOCOLS = ("tcp", "icmp")


@dataclass(frozen=True)
class Check:
    """One probe: an IPv4 address, ``tcp`` with a port or ``icmp`` without."""

    address: str
    protocol: str
    port: int | None = None


@dataclass(frozen=True)
class Observation:
    """What one probe saw: ``open``/``refused``/``timeout``/``unreachable``/``error`` and after how long (ms)."""

    observed: str
    milliseconds: int = 0
    detail: str = ""


@cache
def probe_script() -> str:
    """The text of the prober (a package resource), read once."""
    return resources.files("controlplane.network").joinpath(SCRIPT_RESOURCE).read_text(encoding="utf-8")


def probe_argv(python: str = REMOTE_PYTHON) -> list[str]:
    """The argv of one source's probes: ``[python, '-I', '-c', SCRIPT]`` (``-I``: no site, no env, no cwd on path)."""
    return [python, "-I", "-c", probe_script()]


def probe_input(checks: Sequence[Check], timeout: float = CONNECT_TIMEOUT) -> str:
    """The JSON request on the prober's stdin.

    Raises EgovError for a check that is not an IPv4 address with ``tcp``
    and a port 1-65535 or ``icmp`` without one: the request is data, but a
    malformed one is a bug worth stopping on here rather than on the host.
    """
    rows: list[list[Any]] = []
    for check in checks:
        try:
            ipaddress.IPv4Address(check.address)
        except ValueError:
            raise EgovError(f"probe address {check.address!r} is not an IPv4 address") from None
        if check.protocol == "tcp" and (check.port is None or not 0 < check.port < 65536):
            raise EgovError(f"tcp probe of {check.address} needs a port 1-65535, not {check.port!r}")
        if (check.protocol == "icmp" and check.port is not None) or check.protocol not in PROTOCOLS:
            raise EgovError(f"probe of {check.address}: {check.protocol!r} with port {check.port!r} is not a check")
        rows.append([check.address, check.protocol, check.port])
    return json.dumps({"version": 1, "timeout": timeout, "checks": rows}, separators=(",", ":"))


def parse_output(stdout: str, count: int) -> list[Observation]:
    """Read the prober's answer: one Observation per check, in order.

    ``error:<reason>`` becomes observed ``error`` with the reason as detail.
    Raises EgovError when the output is not the prober's document or holds
    a different number of results.
    """
    try:
        document = json.loads(stdout)
        rows = document["results"]
    except (ValueError, KeyError, TypeError):
        raise EgovError(f"the prober printed no result document: {stdout[-200:]!r}") from None
    if not isinstance(rows, list) or len(rows) != count:
        raise EgovError(f"the prober answered {len(rows) if isinstance(rows, list) else 'no'} result(s) for {count}")
    found: list[Observation] = []
    for row in rows:
        word, milliseconds = (str(row[0]), int(row[1])) if isinstance(row, list) and len(row) == 2 else ("error", 0)
        if word.startswith("error"):
            found.append(Observation("error", milliseconds, word.partition(":")[2]))
        elif word in ("open", "refused", "timeout", "unreachable"):
            found.append(Observation(word, milliseconds))
        else:
            found.append(Observation("error", milliseconds, f"unknown answer {word[:40]!r}"))
    return found


def probe_remote(
    pool: SSHPool, target: Target, checks: Sequence[Check], *, timeout: float = CONNECT_TIMEOUT
) -> list[Observation]:
    """Probe ``checks`` from a host over SSH in one round trip.

    Raises EgovError (UnreachableError, HostKeyError) when the host cannot
    be reached or the prober fails: the caller turns that into a
    ``source-unreachable`` finding for the whole row.
    """
    if not checks:
        return []
    result = pool.run(target, probe_argv(), input_text=probe_input(checks, timeout), timeout=COMMAND_TIMEOUT)
    if result.exit_code != 0:
        detail = " | ".join(result.tail) or "no output"
        raise EgovError(f"{target.name}: the prober exited {result.exit_code}: {detail}")
    return parse_output(result.stdout, len(checks))


def probe_local(checks: Sequence[Check], *, timeout: float = CONNECT_TIMEOUT) -> list[Observation]:
    """Probe ``checks`` from this machine (the control plane's row: management addresses) with the same script.

    Raises EgovError when the prober fails.
    """
    from controlplane import execute

    if not checks:
        return []
    result = execute.run(
        [sys.executable, "-I", "-c", probe_script()], input_text=probe_input(checks, timeout), timeout=COMMAND_TIMEOUT
    )
    if not result.ok:
        raise EgovError(result.error_message("the local prober"))
    return parse_output(result.stdout, len(checks))


def read_ruleset(pool: SSHPool, target: Target, timeout: float = 15.0) -> dict[str, Any] | None:
    """The gateway's ``egov_boundary`` table as nft's JSON, or None when the table does not exist.

    Raises EgovError when the gateway cannot be reached or nft fails otherwise.
    """
    result = pool.run(target, list(RULESET_ARGV), timeout=timeout)
    if result.exit_code != 0:
        text = (result.stderr or result.stdout).strip()
        if "No such file or directory" in text or "does not exist" in text:
            return None
        raise EgovError(f"{target.name}: nft list table failed ({result.exit_code}): {text[-200:]}")
    try:
        document = json.loads(result.stdout)
    except ValueError:
        raise EgovError(f"{target.name}: nft printed no JSON") from None
    if not isinstance(document, dict):
        raise EgovError(f"{target.name}: nft printed an unexpected document")
    return document


def read_neighbours(pool: SSHPool, target: Target, timeout: float = 15.0) -> list[dict[str, Any]]:
    """The gateway's IPv4 neighbour table (``ip -j -4 neigh show``); [] when ``ip`` fails.

    Raises EgovError when the gateway cannot be reached.
    """
    result = pool.run(target, list(NEIGHBOURS_ARGV), timeout=timeout)
    if result.exit_code != 0:
        return []
    try:
        rows = json.loads(result.stdout or "[]")
    except ValueError:
        return []
    return [row for row in rows if isinstance(row, dict)] if isinstance(rows, list) else []
