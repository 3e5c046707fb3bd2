"""The evidence collection plan: one request and one remote command per host.

A scan never makes a round trip per control. :func:`build_request` turns the
controls into one JSON request naming every item of evidence they need;
:func:`collector_argv` is the one remote argv (``python3 -c SCRIPT`` with the
fixed script in ``collector_script.py``); the request goes on stdin, so no
host or catalog value ever becomes part of a command line. :func:`collect`
runs it over an :class:`~controlplane.ssh.SSHPool` and returns the evidence,
or an evidence document with ``unreachable`` set, which the evaluator turns
into ``error`` for every control (never ``pass``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from controlplane.compliance.catalog import Control
from controlplane.errors import EgovError

if TYPE_CHECKING:
    from controlplane.ssh import SSHPool, Target

REMOTE_PYTHON = "/usr/bin/python3"
SCRIPT_RESOURCE = "collector_script.py"
COLLECT_TIMEOUT = 90.0

PWQUALITY_FILES = ("/etc/security/pwquality.conf", "/etc/security/pwquality.conf.d/*.conf")
COMMON_PASSWORD = "/etc/pam.d/common-password"  # noqa: S105 - a file path
LOGIN_DEFS = "/etc/login.defs"


@cache
def collector_script() -> str:
    """The text of the collector script (a package resource), read once."""
    return resources.files("controlplane.compliance").joinpath(SCRIPT_RESOURCE).read_text(encoding="utf-8")


def collector_argv(python: str = REMOTE_PYTHON) -> list[str]:
    """The remote argv of one collection: ``[python, '-c', SCRIPT]`` (the request goes on stdin)."""
    return [python, "-c", collector_script()]


def iter_checks(check: dict[str, Any]) -> Iterable[dict[str, Any]]:
    """Yield a check and, for any_of / all_of, every nested check (depth first)."""
    yield check
    for child in check.get("checks", []):
        yield from iter_checks(child)


def build_request(controls: Iterable[Control]) -> dict[str, Any]:
    """Return the single evidence request for a set of controls.

    One request covers every control, so a host is asked once per scan. Its
    keys are the collector's sections and its lists are sorted and
    deduplicated, so the same catalog always gives byte-identical requests.
    """
    flags: set[str] = set()
    names = ("sysctl", "files", "texts", "packages", "services", "modules")
    lists: dict[str, set[str]] = {name: set() for name in names}
    commands: dict[str, list[str]] = {}
    ports: set[int] = set()
    for control in controls:
        for check in iter_checks(control.check):
            kind = check["type"]
            if kind == "sshd_effective":
                flags.add("sshd")
            elif kind == "sysctl":
                lists["sysctl"].update(check["keys"])
            elif kind == "file_mode":
                lists["files"].add(check["path"])
            elif kind == "package":
                lists["packages"].add(check["name"])
            elif kind == "service":
                lists["services"].add(check["name"])
            elif kind == "listening":
                flags.add("listening")
            elif kind == "login_defs":
                lists["texts"].add(LOGIN_DEFS)
            elif kind == "pam":
                lists["texts"].update(p for p in (check["file"], check.get("config_file")) if p)
            elif kind == "pwquality":
                lists["texts"].update((*PWQUALITY_FILES, COMMON_PASSWORD))
            elif kind == "accounts":
                flags.add("accounts")
            elif kind in ("nft_policy", "nft_boundary"):
                flags.add("nft")
            elif kind == "kernel_module":
                lists["modules"].add(check["name"])
            elif kind == "mount_option":
                flags.add("mounts")
            elif kind == "file_contains":
                lists["texts"].add(check["path"])
            elif kind == "command":
                commands[json.dumps(check["argv"])] = list(check["argv"])
            elif kind == "ssh_certificate":
                lists["texts"].add(check["path"])  # a -cert.pub file: public, parsed on the control plane
            elif kind == "tls_certificate":
                ports.add(int(check["port"]))
            # store and network_verify checks read control-plane data, nothing from the host
    request: dict[str, Any] = {flag: True for flag in sorted(flags)}
    request.update({name: sorted(values) for name, values in lists.items() if values})
    if commands:
        request["commands"] = [commands[key] for key in sorted(commands)]
    if ports:
        request["tls"] = sorted(ports)
    return request


def parse_evidence(stdout: str) -> dict[str, Any]:
    """Parse the collector's output; raise EgovError when it is not an evidence document."""
    try:
        evidence = json.loads(stdout)
    except ValueError as error:
        raise EgovError(f"collector printed no JSON: {error}") from None
    if not isinstance(evidence, dict) or "collector_version" not in evidence:
        raise EgovError("collector output is not an evidence document")
    if "fatal" in evidence:
        raise EgovError(f"collector refused the request: {evidence['fatal']}")
    return evidence


def failed_evidence(reason: str) -> dict[str, Any]:
    """An evidence document for a host we could not collect from (every control: error)."""
    return {"collector_version": None, "unreachable": reason}


def collect(pool: SSHPool, target: Target, request: dict[str, Any], timeout: float = COLLECT_TIMEOUT) -> dict[str, Any]:
    """Collect the evidence of one host in one SSH round trip.

    Returns :func:`failed_evidence` when the host is unreachable, refuses
    us, or the collector fails, instead of raising: one bad host must not
    stop a scan of the others.
    """
    try:
        result = pool.run(target, collector_argv(), timeout=timeout, input_text=json.dumps(request))
    except EgovError as error:
        return failed_evidence(error.message)
    if result.exit_code != 0:
        detail = " | ".join(result.tail) or "no output"
        return failed_evidence(f"collector exited {result.exit_code}: {detail}")
    try:
        return parse_evidence(result.stdout)
    except EgovError as error:
        return failed_evidence(error.message)
