"""One function per check type: evidence in, :class:`Outcome` out (pure Python).

Each function gets the check mapping from the catalog and a :class:`CheckContext`
(the host's evidence, its roles, the control-plane data, the scan time) and
returns an Outcome with a status and the found and expected values an
auditor reads. Evidence that is missing or that the collector could not
gather raises :class:`MissingEvidence`, which the evaluator reports as
``error``: absent evidence is never a pass.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from controlplane.compliance.collector import COMMON_PASSWORD, LOGIN_DEFS, PWQUALITY_FILES
from controlplane.compliance.expect import describe, satisfies
from controlplane.compliance.parsers import parse_key_values, parse_login_defs, parse_pam

PASS, FAIL, ERROR, NOT_APPLICABLE = "pass", "fail", "error", "not_applicable"
DISABLED_INSTALL = {"/bin/true", "/bin/false", "/usr/bin/true", "/usr/bin/false", "true", "false"}


class MissingEvidence(Exception):
    """The evidence a check needs is absent or could not be collected."""


@dataclass
class Outcome:
    """What one check found: status, found value, expected value, a short message."""

    status: str
    found: str = ""
    expected: str = ""
    message: str = ""


@dataclass
class CheckContext:
    """Everything a check may read: the evidence, the host's roles, control-plane data, now."""

    evidence: dict[str, Any]
    roles: tuple[str, ...] = ()
    store: dict[str, Any] | None = None
    now: datetime = field(default_factory=datetime.now)

    def section(self, name: str) -> Any:
        """One section of the evidence; raises MissingEvidence when it was not collected."""
        errors = self.evidence.get("errors") or {}
        if name in errors:
            raise MissingEvidence(f"collector failed on {name}: {errors[name]}")
        if name not in self.evidence:
            raise MissingEvidence(f"evidence has no {name!r} section (collector did not gather it)")
        return self.evidence[name]

    def texts(self, pattern: str) -> list[dict[str, Any]]:
        """The files a text pattern matched (possibly none); raises MissingEvidence on a read error."""
        entry = self.section("texts").get(pattern)
        if entry is None:
            raise MissingEvidence(f"evidence has no text of {pattern}")
        if entry.get("error"):
            raise MissingEvidence(f"cannot read {entry['error']}")
        return entry["files"]


def _missing(check: dict[str, Any], default: str, found: str, expected: str) -> Outcome:
    """The outcome of a value that is not there, as the check's ``if_missing`` says."""
    status = check.get("if_missing", default)
    return Outcome(status, found, expected, "" if status != ERROR else found)


def check_sshd_effective(check: dict[str, Any], ctx: CheckContext) -> Outcome:
    """An option of the effective sshd configuration (``sshd -T``: drop-ins merged).

    A list of keys passes when any of them passes (AllowUsers or AllowGroups).
    """
    sshd = ctx.section("sshd")
    if not sshd.get("ok"):
        raise MissingEvidence(sshd.get("error") or "sshd -T failed")
    keys = [check["key"]] if isinstance(check["key"], str) else check["key"]
    expected = describe(check["expect"])
    if len(keys) > 1:
        expected = f"any of {', '.join(keys)}: {expected}"
    found_parts = []
    for key in keys:
        values = sshd["config"].get(key)
        value = " ".join(values) if values else None
        found_parts.append(f"{key} {value if value is not None else '(not set)'}")
        if satisfies(value, check["expect"]):
            return Outcome(PASS, "; ".join(found_parts), expected)
    if all(not sshd["config"].get(key) for key in keys):
        return _missing(check, FAIL, "; ".join(found_parts), expected)
    return Outcome(FAIL, "; ".join(found_parts), expected)


def check_sysctl(check: dict[str, Any], ctx: CheckContext) -> Outcome:
    """Kernel parameters read from /proc/sys; every key must meet the expectation."""
    values = ctx.section("sysctl")
    expected = describe(check["expect"])
    found = [f"{key}={values.get(key)}" for key in check["keys"]]
    missing = [key for key in check["keys"] if values.get(key) is None]
    if missing:
        return _missing(check, ERROR, f"{', '.join(missing)} not present in this kernel", expected)
    ok = all(satisfies(values[key], check["expect"]) for key in check["keys"])
    return Outcome(PASS if ok else FAIL, ", ".join(found), expected)


def _names(value: str | list[str] | None) -> list[str] | None:
    return [value] if isinstance(value, str) else value


def check_file_mode(check: dict[str, Any], ctx: CheckContext) -> Outcome:
    """Mode no wider than ``max_mode`` and the allowed owner / group, for a path or glob."""
    entry = ctx.section("files").get(check["path"])
    if entry is None:
        raise MissingEvidence(f"evidence has no stat of {check['path']}")
    expected_parts = []
    if "max_mode" in check:
        expected_parts.append(f"mode <= {check['max_mode']}")
    owners, groups = _names(check.get("owner")), _names(check.get("group"))
    if owners:
        expected_parts.append("owner " + "|".join(owners))
    if groups:
        expected_parts.append("group " + "|".join(groups))
    expected = ", ".join(expected_parts) or "exists"
    if entry.get("error"):
        raise MissingEvidence(f"cannot stat {entry['error']}")
    if not entry["matches"]:
        return _missing(check, FAIL, f"{check['path']} does not exist", expected)
    found, bad = [], []
    limit = int(check["max_mode"], 8) if "max_mode" in check else 0o7777
    for match in entry["matches"]:
        text = f"{match['path']} {match['mode']} {match['owner'] or match['uid']}:{match['group'] or match['gid']}"
        found.append(text)
        if (
            int(match["mode"], 8) & ~limit
            or (owners and match["owner"] not in owners)
            or (groups and match["group"] not in groups)
        ):
            bad.append(text)
    return Outcome(FAIL if bad else PASS, "; ".join(bad or found), expected)


def check_package(check: dict[str, Any], ctx: CheckContext) -> Outcome:
    """A Debian package is installed, or absent (config files left behind count as absent)."""
    info = ctx.section("packages").get(check["name"])
    if info is None:
        raise MissingEvidence(f"evidence has no state of package {check['name']}")
    found = f"{check['name']} {info['version']} installed" if info["installed"] else f"{check['name']} not installed"
    ok = info["installed"] == (check["state"] == "installed")
    return Outcome(PASS if ok else FAIL, found, f"{check['name']} {check['state']}")


def check_service(check: dict[str, Any], ctx: CheckContext) -> Outcome:
    """A service is active (or inactive); with systemd from its unit, without it from the process list."""
    services = ctx.section("services")
    name, want_active = check["name"], check["state"] == "active"
    expected = check["state"] + ("" if "enabled" not in check else (", enabled" if check["enabled"] else ", disabled"))
    if services["manager"] == "systemd":
        unit = services["units"].get(name)
        if unit is None:
            raise MissingEvidence(services.get("error") or f"systemctl reported nothing for {name}")
        active = unit["active"] in ("active", "activating", "reloading")
        enabled = unit["enabled"] in ("enabled", "enabled-runtime", "static", "alias", "indirect")
        ok = active == want_active and ("enabled" not in check or enabled == check["enabled"])
        found = f"{name}: {unit['active']}, {unit['enabled'] or 'no unit file'} (load {unit['load']})"
        return Outcome(PASS if ok else FAIL, found, expected)
    # No systemd (lab hosts, containers): a running process is the only evidence.
    process = check.get("process", name)
    running = process in services["processes"]
    found = f"no systemd; process {process} {'running' if running else 'not running'}"
    message = "enabled state unknown without systemd" if "enabled" in check else ""
    return Outcome(PASS if running == want_active else FAIL, found, expected, message)


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def check_listening(check: dict[str, Any], ctx: CheckContext) -> Outcome:
    """Only the TCP ports allowed for the host's roles listen (loopback ignored unless told)."""
    listening = ctx.section("listening")
    if not listening.get("ok"):
        raise MissingEvidence(listening.get("error") or "listening sockets not collected")
    allowed = set(check["allowed"]["default"])
    for role in ctx.roles:
        allowed |= set(check["allowed"].get(role, []))
    ignore_loopback = check.get("ignore_loopback", True)
    sockets = [s for s in listening["tcp"] if not (ignore_loopback and _is_loopback(s["address"]))]
    extra = sorted({s["port"] for s in sockets} - allowed)
    expected = "only TCP " + ", ".join(map(str, sorted(allowed)))
    if extra:
        shown = [f"{s['address']}:{s['port']}" for s in sockets if s["port"] in extra]
        return Outcome(FAIL, "unexpected listeners: " + ", ".join(shown), expected)
    return Outcome(PASS, "TCP " + (", ".join(map(str, sorted({s["port"] for s in sockets}))) or "none"), expected)


def check_login_defs(check: dict[str, Any], ctx: CheckContext) -> Outcome:
    """A key of /etc/login.defs (comments ignored, last value wins, ``default`` when unset)."""
    files = ctx.texts(LOGIN_DEFS)
    expected = describe(check["expect"])
    if not files:
        return Outcome(FAIL, f"{LOGIN_DEFS} does not exist", expected)
    value = parse_login_defs(files[0]["text"]).get(check["key"])
    if value is None and "default" in check:
        value, note = str(check["default"]), " (not set: built-in default)"
    else:
        note = ""
    found = f"{check['key']} {value}{note}" if value is not None else f"{check['key']} not set"
    return Outcome(PASS if satisfies(value, check["expect"]) else FAIL, found, expected)


def check_pam(check: dict[str, Any], ctx: CheckContext) -> Outcome:
    """A PAM module is in a stack file, optionally with an option value.

    The option is looked up on the module's lines first (arguments override),
    then in the module's ``config_file`` (faillock.conf), then ``default``.
    """
    files = ctx.texts(check["file"])
    option = check.get("option")
    expected = f"{check['module']} in {check['file']}"
    if option:
        expected += f" with {option} " + (describe(check["expect"]) if "expect" in check else "set")
    if not files:
        return Outcome(FAIL, f"{check['file']} does not exist", expected)
    rules = [rule for rule in parse_pam(files[0]["text"]) if rule.module_name == check["module"]]
    if not rules:
        return Outcome(FAIL, f"{check['module']} not used in {check['file']}", expected)
    if not option:
        return Outcome(PASS, f"{check['module']} line {rules[0].line}", expected)
    value, where = None, ""
    for rule in rules:
        found = rule.option(option)
        if found is not None:
            value, where = found, f"{check['file']} line {rule.line}"
    if value is None and check.get("config_file"):
        config = ctx.texts(check["config_file"])
        if config:
            value = parse_key_values(config[0]["text"]).get(option)
            where = check["config_file"]
    if value is None and "default" in check:
        value, where = str(check["default"]), "module default"
    if value is None:
        return Outcome(FAIL, f"{option} not set", expected)
    ok = satisfies(value, check["expect"]) if "expect" in check else True
    return Outcome(PASS if ok else FAIL, f"{option}={value} ({where})" if value else f"{option} ({where})", expected)


def check_pwquality(check: dict[str, Any], ctx: CheckContext) -> Outcome:
    """A password quality setting: pam_pwquality arguments, else pwquality.conf.d, else pwquality.conf."""
    key, expected = check["key"], describe(check["expect"])
    stack = ctx.texts(COMMON_PASSWORD)
    rules = [r for r in parse_pam(stack[0]["text"]) if r.module_name == "pam_pwquality.so"] if stack else []
    if not rules:
        return Outcome(FAIL, f"pam_pwquality.so not used in {COMMON_PASSWORD}", expected)
    value, where = None, ""
    for pattern in PWQUALITY_FILES:  # the main file first, then drop-ins (later files win)
        for entry in ctx.texts(pattern):
            found = parse_key_values(entry["text"]).get(key)
            if found is not None:
                value, where = found, entry["path"]
    for rule in rules:
        found = rule.option(key)
        if found is not None:
            value, where = found, f"{COMMON_PASSWORD} line {rule.line}"
    if value is None and "default" in check:
        value, where = str(check["default"]), "libpwquality default"
    if value is None:
        return Outcome(FAIL, f"{key} not set", expected)
    return Outcome(PASS if satisfies(value, check["expect"]) else FAIL, f"{key}={value} ({where})", expected)


def check_accounts(check: dict[str, Any], ctx: CheckContext) -> Outcome:
    """Rules over /etc/passwd and the kinds of /etc/shadow password fields (never hashes)."""
    accounts = ctx.section("accounts")
    rule, passwd = check["rule"], accounts["passwd"]
    if rule == "uid0_only_root":
        bad = [a["name"] for a in passwd if a["uid"] == 0 and a["name"] != "root"]
        return _listing(bad, "accounts with UID 0 besides root: ", "only root has UID 0")
    if rule == "no_empty_passwords":
        if accounts.get("shadow_error"):
            raise MissingEvidence(accounts["shadow_error"])
        empty = "empty"  # the collector's kind for an empty password field (never a value)
        in_shadow = {name for name, kind in accounts["shadow"].items() if kind == empty}
        bad = sorted(in_shadow | {a["name"] for a in passwd if a["password"] == empty})
        return _listing(bad, "accounts with an empty password: ", "no empty password field")
    if rule == "no_legacy_plus":
        return _listing(accounts["legacy_plus"], "legacy '+' entries in: ", "no legacy '+' entries")
    if rule == "shadowed_passwords":
        shadowed = "x"  # passwd's marker for "the password is in /etc/shadow"
        bad = [a["name"] for a in passwd if a["password"] != shadowed]
        return _listing(bad, "accounts not using /etc/shadow: ", "every password field is 'x'")
    if rule == "no_duplicate_uids":
        counts = Counter(a["uid"] for a in passwd)
        bad = [f"{a['name']}({a['uid']})" for a in passwd if counts[a["uid"]] > 1]
        return _listing(bad, "accounts sharing a UID: ", "every UID unique")
    counts = Counter(a["name"] for a in passwd)
    return _listing(sorted({n for n, c in counts.items() if c > 1}), "duplicate names: ", "every name unique")


def _listing(bad: list[str], prefix: str, expected: str) -> Outcome:
    if bad:
        return Outcome(FAIL, prefix + ", ".join(bad), expected)
    return Outcome(PASS, "none", expected)


def check_nft_policy(check: dict[str, Any], ctx: CheckContext) -> Outcome:
    """A default policy on the base chains of a hook, for both IPv4 and IPv6.

    With ``policy: drop`` it passes when IPv4 and IPv6 traffic each meet a
    base chain whose policy is drop (an ``inet`` chain covers both): a packet
    not accepted by that chain is dropped whatever other chains say.
    """
    nft = ctx.section("nft")
    hook, policy = check["hook"], check["policy"]
    expected = f"{hook} policy {policy} for IPv4 and IPv6"
    if not nft.get("ok"):
        if nft.get("installed") is False:
            return Outcome(FAIL, "nftables is not installed (no firewall ruleset)", expected)
        raise MissingEvidence(nft.get("error") or "nft list ruleset failed")
    items = nft["ruleset"].get("nftables", [])
    chains = [item["chain"] for item in items if "chain" in item and item["chain"].get("hook") == hook]
    # netdev / bridge / arp chains never see the host's IP input
    chains = [chain for chain in chains if chain.get("family") in ("inet", "ip", "ip6")]
    found = ", ".join(f"{c['family']} {c['table']}/{c['name']} policy {c.get('policy', 'accept')}" for c in chains)
    if not chains:
        return Outcome(FAIL if policy == "drop" else PASS, f"no {hook} base chain (everything accepted)", expected)
    if policy == "accept":
        ok = all(c.get("policy", "accept") == "accept" for c in chains)
        return Outcome(PASS if ok else FAIL, found, expected)
    dropping = {c["family"] for c in chains if c.get("policy") == "drop"}
    ok = "inet" in dropping or {"ip", "ip6"} <= dropping
    return Outcome(PASS if ok else FAIL, found, expected)


def check_kernel_module(check: dict[str, Any], ctx: CheckContext) -> Outcome:
    """A kernel module is not loaded and cannot be loaded (install rule to true/false, or absent)."""
    info = ctx.section("modules").get(check["name"])
    if info is None:
        raise MissingEvidence(f"evidence has no state of module {check['name']}")
    expected = "not loaded and not loadable"
    if info["loaded"]:
        return Outcome(FAIL, f"{check['name']} is loaded", expected)
    rule = info.get("install_rule")
    if rule and rule["command"].split()[0] in DISABLED_INSTALL:
        return Outcome(PASS, f"install {rule['command']} ({rule['path']})", expected)
    probe = info.get("modprobe")
    if probe is None:
        return Outcome(FAIL, "no install rule disabling it (modprobe not available to check)", expected)
    first = probe["stdout"].splitlines()[0] if probe["stdout"] else ""
    words = first.split()
    if words[:1] == ["install"] and len(words) > 1 and words[1] in DISABLED_INSTALL:
        return Outcome(PASS, first, expected)
    if probe["exit_code"] != 0 and "not found" in probe["stderr"]:
        return Outcome(PASS, "module not available in this kernel", expected)
    return Outcome(FAIL, f"loadable: {first or probe['stderr'] or 'modprobe -n -v succeeded'}", expected)


def check_mount_option(check: dict[str, Any], ctx: CheckContext) -> Outcome:
    """A mount point is a separate mount with the given options (the topmost mount counts)."""
    mounts = [m for m in ctx.section("mounts")["mounts"] if m["mountpoint"] == check["mountpoint"]]
    expected = f"{check['mountpoint']} mounted with " + ",".join(check["options"])
    if not mounts:
        return _missing(check, FAIL, f"{check['mountpoint']} is not a separate mount", expected)
    options = mounts[-1]["options"]
    lacking = [option for option in check["options"] if option not in options]
    found = f"{check['mountpoint']} {mounts[-1]['fstype']} " + ",".join(options)
    return Outcome(FAIL if lacking else PASS, found, expected, "missing " + ",".join(lacking) if lacking else "")


def check_file_contains(check: dict[str, Any], ctx: CheckContext) -> Outcome:
    """A regex (multiline) is present in, or absent from, a file or the files of a glob."""
    files = ctx.texts(check["path"])
    present = check.get("present", True)
    expected = f"{'a line matching' if present else 'no line matching'} /{check['pattern']}/ in {check['path']}"
    if not files:
        return _missing(check, FAIL, f"{check['path']} does not exist", expected)
    pattern = re.compile(check["pattern"], re.MULTILINE)
    hits = [f"{f['path']}: {m.group(0).strip()}" for f in files for m in pattern.finditer(f["text"])]
    found = "; ".join(hits[:3]) if hits else "no match in " + ", ".join(f["path"] for f in files)
    return Outcome(PASS if bool(hits) == present else FAIL, found, expected)


def check_command(check: dict[str, Any], ctx: CheckContext) -> Outcome:
    """Last resort: a command's exit code (default 0) and, optionally, its output."""
    result = ctx.section("commands").get(json.dumps(check["argv"]))
    if result is None or result["exit_code"] is None:
        raise MissingEvidence((result or {}).get("stderr") or f"command {check['argv'][0]} was not run")
    want = check.get("exit_code", 0)
    expected = f"exit {want}" + (f", output {describe(check['stdout'])}" if "stdout" in check else "")
    output = result["stdout"].strip()
    ok = result["exit_code"] == want and ("stdout" not in check or satisfies(output, check["stdout"]))
    return Outcome(PASS if ok else FAIL, f"exit {result['exit_code']}: {output[:200]}", expected)


def _timestamp(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, datetime):
        return value.timestamp()
    try:
        return datetime.fromisoformat(str(value)).timestamp()
    except ValueError:
        return None


def check_store(check: dict[str, Any], ctx: CheckContext) -> Outcome:
    """A fact from the control plane's own data (e.g. the time of the last successful backup)."""
    if ctx.store is None:
        raise MissingEvidence("no control-plane data was given for this host")
    fact = check["fact"]
    if "max_age_seconds" in check:
        expected = f"{fact} within the last {check['max_age_seconds'] // 3600} h"
    else:
        expected = describe(check["expect"]) if "expect" in check else "set"
    value = ctx.store.get(fact)
    if value is None:
        return _missing(check, FAIL, f"{fact}: none recorded", expected)
    if "max_age_seconds" in check:
        stamp = _timestamp(value)
        if stamp is None:
            raise MissingEvidence(f"{fact} is not a time: {value!r}")
        age = ctx.now.timestamp() - stamp
        ok = age <= check["max_age_seconds"]
        return Outcome(PASS if ok else FAIL, f"{fact} {age / 3600:.1f} h ago", expected)
    ok = satisfies(value, check["expect"]) if "expect" in check else True
    return Outcome(PASS if ok else FAIL, f"{fact} {value}", expected)


def check_any_of(check: dict[str, Any], ctx: CheckContext) -> Outcome:
    """Passes when one nested check passes; not-applicable children are ignored."""
    outcomes = [run_check(child, ctx) for child in check["checks"]]
    return _combine(outcomes, "any", " or ")


def check_all_of(check: dict[str, Any], ctx: CheckContext) -> Outcome:
    """Passes when every nested check passes; a failure outweighs an error."""
    outcomes = [run_check(child, ctx) for child in check["checks"]]
    return _combine(outcomes, "all", " and ")


def _combine(outcomes: list[Outcome], mode: str, joiner: str) -> Outcome:
    relevant = [o for o in outcomes if o.status != NOT_APPLICABLE]
    found = " | ".join(o.found for o in relevant)
    expected = joiner.join(f"({o.expected})" for o in relevant)
    statuses = {o.status for o in relevant}
    messages = "; ".join(o.message for o in relevant if o.message)
    if not relevant:
        return Outcome(NOT_APPLICABLE, "", "", "no nested check applies")
    if mode == "any":
        status = PASS if PASS in statuses else ERROR if ERROR in statuses else FAIL
    else:
        status = FAIL if FAIL in statuses else ERROR if ERROR in statuses else PASS
    return Outcome(status, found, expected, messages)


def check_ssh_certificate(check: dict[str, Any], ctx: CheckContext) -> Outcome:
    """An OpenSSH certificate file (see :mod:`controlplane.compliance.cert_checks`, imported when used)."""
    from controlplane.compliance.cert_checks import check_ssh_certificate as check_file

    return check_file(check, ctx)


def check_tls_certificate(check: dict[str, Any], ctx: CheckContext) -> Outcome:
    """The certificate a local TLS port serves (see :mod:`controlplane.compliance.cert_checks`)."""
    from controlplane.compliance.cert_checks import check_tls_certificate as check_port

    return check_port(check, ctx)


def check_nft_boundary(check: dict[str, Any], ctx: CheckContext) -> Outcome:
    """A gateway's boundary ruleset (see :mod:`controlplane.compliance.network_checks`, imported when used)."""
    from controlplane.compliance.network_checks import check_nft_boundary as check_table

    return check_table(check, ctx)


def check_network_verify(check: dict[str, Any], ctx: CheckContext) -> Outcome:
    """The newest network verify covering the host (see :mod:`controlplane.compliance.network_checks`)."""
    from controlplane.compliance.network_checks import check_network_verify as check_paths

    return check_paths(check, ctx)


def run_check(check: dict[str, Any], ctx: CheckContext) -> Outcome:
    """Evaluate one check mapping; missing evidence becomes an ``error`` outcome with the reason."""
    try:
        return CHECKS[check["type"]](check, ctx)
    except MissingEvidence as error:
        return Outcome(ERROR, "", "", str(error))


CHECKS: dict[str, Callable[[dict[str, Any], CheckContext], Outcome]] = {
    "sshd_effective": check_sshd_effective,
    "sysctl": check_sysctl,
    "file_mode": check_file_mode,
    "package": check_package,
    "service": check_service,
    "listening": check_listening,
    "login_defs": check_login_defs,
    "pam": check_pam,
    "pwquality": check_pwquality,
    "accounts": check_accounts,
    "nft_policy": check_nft_policy,
    "kernel_module": check_kernel_module,
    "mount_option": check_mount_option,
    "file_contains": check_file_contains,
    "command": check_command,
    "store": check_store,
    "ssh_certificate": check_ssh_certificate,
    "tls_certificate": check_tls_certificate,
    "nft_boundary": check_nft_boundary,
    "network_verify": check_network_verify,
    "any_of": check_any_of,
    "all_of": check_all_of,
}
