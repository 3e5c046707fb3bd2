"""Enrolment: from a Debian server the control plane has never seen to a managed, certified, scanned host.

``egov hosts enrol NAME --address A --site S --role R`` runs these steps in
order, each shown as it goes (``Steps.on_step``):

1. **check** the request: every problem at once (exit 2, nothing touched);
2. **first contact**: read the host key without trusting it and show its
   ``SHA256:`` fingerprint; go on only when it equals ``--fingerprint``
   (given out of band) or the operator confirms it, or when it is the key
   known_hosts already pins for this host (a retry);
3. **management key**: when the management key does not already open the
   host, read root's password once and log in with it, the host key pinned
   to the confirmed one, and add the key to root's ``authorized_keys``;
   then prove the key logs in;
4. **pin** the host key in ``ssh.known_hosts``;
5. **inventory**: add the host under its site and role groups (text edit,
   comments and layout kept, proved by a reload, rolled back otherwise);
6. **certify** the host key (the hook the composition root hands in);
7. **audit** the enrolment (never the password);
8. **first scan** (the hook the composition root hands in).

Every step is idempotent and checks what is already done, and the one edit
that is not (the inventory) is all-or-nothing, so a failed enrolment is
retried with the same command and continues where it stopped. The scan is
handed in because it belongs to the compliance engine.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controlplane.automation import first_contact, inventory_edit
from controlplane.errors import BadInputError, EgovError
from controlplane.inventory import HOST_NAME, load_inventory

if TYPE_CHECKING:
    from controlplane.automation.first_contact import HostKey
    from controlplane.config import Config
    from controlplane.inventory import Host
    from controlplane.store import Store

STEPS = ("check", "first contact", "management key", "pin host key", "inventory", "certify", "audit", "first scan")
_DNS_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


@dataclass(frozen=True)
class EnrolRequest:
    """What the operator asked for (``fingerprint`` as given, checked by :func:`check`)."""

    name: str
    address: str
    site: str
    role: str
    port: int = 22
    fingerprint: str | None = None


@dataclass
class Steps:
    """What the composition root hands the flow: the questions to the operator and the other engines' work.

    ``confirm_key(host_key, verified)`` asks whether the fingerprint is the
    host's (``verified``: it already equals ``--fingerprint`` or the pin, so
    only whether to go on); ``read_password()`` reads
    root's password once; ``certify(host)`` certifies the host key and
    returns a line for the operator (None: not available in this build);
    ``scan(host)`` runs the first scan and returns (assessed?, summary);
    ``on_step(step, state, detail)`` shows progress (state: start, ok,
    skipped, failed).
    """

    confirm_key: Callable[[HostKey, bool], bool]
    read_password: Callable[[], str]
    certify: Callable[[Host], str] | None = None
    scan: Callable[[Host], tuple[bool, str]] | None = None
    on_step: Callable[[str, str, str], None] = lambda step, state, detail: None


@dataclass
class EnrolOutcome:
    """How the enrolment went: the host, how its key was trusted, what each step did."""

    host: Host
    fingerprint: str
    trusted_by: str
    steps: dict[str, str] = field(default_factory=dict)
    scan_ok: bool | None = None

    @property
    def exit_code(self) -> int:
        """0 enrolled and scanned; 1 enrolled but the first scan could not assess the host."""
        return 0 if self.scan_ok in (True, None) else 1


@dataclass(frozen=True)
class Checked:
    """A request that passed :func:`check`, with what the next steps need."""

    request: EnrolRequest
    fingerprint: str | None
    placement: inventory_edit.Placement
    already_listed: bool
    public_line: str


def address_problem(address: str) -> str | None:
    """Why ``address`` cannot be a managed host's address (an IP literal or a DNS name), or None."""
    if not address or len(address) > 253 or address.startswith("-"):
        return f"--address: {address!r} is not an IP address or DNS name"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        labels = address.rstrip(".").split(".")
        if not all(_DNS_LABEL.fullmatch(label) for label in labels) or labels[-1].isdigit():
            return f"--address: {address!r} is not an IP address or DNS name"
        return None
    if ip.is_unspecified or ip.is_multicast or (ip.version == 4 and ip == ipaddress.IPv4Address("255.255.255.255")):
        return f"--address: {address} cannot be a host's address"
    return None


def check(config: Config, request: EnrolRequest) -> Checked:
    """Check the request against the inventory and the site; contacts no host.

    Raises BadInputError listing every problem at once: a name the inventory
    would refuse or YAML would read as something else, an address that is
    no IP address or DNS name, an unknown site or role, a name or address
    already in the inventory (unless it is this same host: a retry), a bad
    port or fingerprint, no management key.
    """
    problems: list[str] = []
    name, address = request.name, request.address
    if not HOST_NAME.fullmatch(name):
        problems.append(f"NAME: {name!r} must be letters, digits, '.', '-' or '_' (at most 63), starting alnum")
    elif not inventory_edit.reads_as_string(name):
        problems.append(f"NAME: {name!r} reads as a boolean, number or null in YAML: choose another name")
    problem = address_problem(address)
    if problem:
        problems.append(problem)
    if not 1 <= request.port <= 65535:
        problems.append(f"--port: {request.port} is not a TCP port")
    wanted = None
    if request.fingerprint is not None:
        wanted = first_contact.normalise_fingerprint(request.fingerprint)
        if wanted is None:
            problems.append(f"--fingerprint: {request.fingerprint!r} is not SHA256:<43 base64 characters>")
    inventory = load_inventory(Path(config.inventory))
    placement, place_problems = inventory_edit.place(Path(config.inventory), request.site, request.role)
    problems += place_problems
    listed = next((h for h in inventory.hosts if h.name == name), None)
    already = bool(
        listed and listed.address == address and listed.site == request.site
        and listed.role == request.role and listed.port == request.port
    )  # fmt: skip
    if not already:
        problems += inventory_edit.check_name_free(
            inventory, inventory_edit.find_groups(Path(config.inventory)), name, address
        )
    public_line = ""
    try:
        public_line = first_contact.management_public_line(Path(config.ssh_key_file))
    except BadInputError as error:
        problems.append(error.message)
    inventory_edit.refuse(problems)
    assert placement is not None  # noqa: S101 - refuse() raised otherwise
    return Checked(request, wanted, placement, already, public_line)


def _host(checked: Checked) -> Host:
    from controlplane.inventory import Host

    request = checked.request
    return Host(request.name, request.address, request.site, request.role, port=request.port)


def enrol(config: Config, store: Store, request: EnrolRequest, steps: Steps, *, actor: str) -> EnrolOutcome:
    """Run the enrolment (see the module docstring) and return its outcome.

    Raises BadInputError (exit 2) for a refused request or a fingerprint
    that does not match (nothing changed), EgovError (exit 1) naming the
    step that failed; a failure after the check is audited. Costs a few
    SSH logins and one inventory load, plus the certification and scan.
    """
    show = steps.on_step
    show("check", "start", f"{request.name} {request.address}:{request.port}, site {request.site}, role {request.role}")
    checked = check(config, request)
    outcome = EnrolOutcome(_host(checked), "", "")
    outcome.steps["check"] = "already in the inventory: continuing" if checked.already_listed else "ok"
    show("check", "ok", "" if outcome.steps["check"] == "ok" else outcome.steps["check"])
    try:
        _run(config, checked, steps, outcome)
        _audit(store, outcome, actor, "ok")
    except BaseException as error:
        failed = next((s for s in STEPS if s not in outcome.steps), "?")
        if outcome.fingerprint:  # the host was contacted: an officer wants the attempt on record
            _audit(store, outcome, actor, "failed", failed_step=failed, error=_error_text(error))
        show(failed, "failed", "")
        raise
    outcome.steps["audit"] = "recorded (hosts.enrol)"
    show("audit", "ok", outcome.steps["audit"])
    if steps.scan is None:
        show("first scan", "skipped", f"run `egov scan --limit {request.name}` when it suits")
        return outcome
    show("first scan", "start", f"egov scan --limit {request.name}")
    ok, summary = steps.scan(outcome.host)
    outcome.scan_ok = ok
    outcome.steps["first scan"] = summary
    show("first scan", "ok" if ok else "failed", summary)
    return outcome


def _error_text(error: BaseException) -> str:
    return error.message if isinstance(error, EgovError) else type(error).__name__


def _run(config: Config, checked: Checked, steps: Steps, outcome: EnrolOutcome) -> None:
    request, show, timeout = checked.request, steps.on_step, float(config.ssh_connect_timeout)
    name, address, port, known_hosts = request.name, request.address, request.port, Path(config.ssh_known_hosts)
    show("first contact", "start", f"{address}:{port}")
    host_key = first_contact.fetch_host_key(name, address, port, timeout)
    outcome.fingerprint = host_key.fingerprint
    conflict = first_contact.pin_conflict(known_hosts, name, address, port, host_key)
    if conflict:
        raise BadInputError(f"{host_key.key_type} {host_key.fingerprint}: {conflict}")
    if checked.fingerprint is not None:
        if checked.fingerprint != host_key.fingerprint:
            raise BadInputError(
                f"host key of {first_contact.where(name, address, port)} is {host_key.key_type} "
                f"{host_key.fingerprint}, not {checked.fingerprint} as given: refusing (nothing was changed)"
            )
        outcome.trusted_by = "fingerprint given out of band"
    elif host_key.line in first_contact.pinned_keys(known_hosts, name, address, port):
        outcome.trusted_by = "already pinned in known_hosts"
    else:
        outcome.trusted_by = "confirmed by the operator"
    if not steps.confirm_key(host_key, outcome.trusted_by != "confirmed by the operator"):
        raise BadInputError(f"host key {host_key.fingerprint} not confirmed: nothing was changed")
    outcome.steps["first contact"] = f"{host_key.key_type} {host_key.fingerprint} ({outcome.trusted_by})"
    show("first contact", "ok", outcome.steps["first contact"])

    key_file = Path(config.ssh_key_file)
    show("management key", "start", "")
    if first_contact.key_login_works(name, address, port, host_key, key_file, timeout):
        outcome.steps["management key"] = "already accepted"
    else:
        password = steps.read_password()
        client = first_contact.password_client(name, address, port, host_key, password, timeout)
        del password
        try:
            added = first_contact.install_management_key(client, checked.public_line, float(config.ssh_command_timeout))
        finally:
            client.close()
        if not first_contact.key_login_works(name, address, port, host_key, key_file, timeout):
            raise EgovError(f"{name}: the management key was installed but does not log in (check sshd's settings)")
        outcome.steps["management key"] = "installed" if added else "was present; logs in now"
    show("management key", "ok", outcome.steps["management key"])

    added = first_contact.pin_host_key(known_hosts, name, address, port, host_key)
    outcome.steps["pin host key"] = f"{'pinned in' if added else 'already in'} {known_hosts}"
    show("pin host key", "ok", outcome.steps["pin host key"])

    if checked.already_listed:
        outcome.steps["inventory"] = "already there"
    else:
        show("inventory", "start", "")
        inventory_edit.add_host(
            Path(config.inventory), checked.placement, name=name, address=address, port=port,
            state_dir=Path(config.state_dir),
        )  # fmt: skip
        groups = dict.fromkeys((checked.placement.site.name, checked.placement.role.name))
        outcome.steps["inventory"] = "added to " + " and ".join(groups)
    show("inventory", "ok", outcome.steps["inventory"])

    if steps.certify is None:
        outcome.steps["certify"] = "skipped: host certificates are not available in this build"
        show("certify", "skipped", outcome.steps["certify"])
    else:
        show("certify", "start", "")
        outcome.steps["certify"] = steps.certify(outcome.host)
        show("certify", "skipped" if outcome.steps["certify"].startswith("skipped") else "ok", outcome.steps["certify"])


def _audit(store: Store, outcome: EnrolOutcome, actor: str, result: str, **extra: Any) -> None:
    from controlplane import audit

    host = outcome.host
    details: dict[str, Any] = {
        "host": host.name, "address": host.address, "port": host.port, "site": host.site, "role": host.role,
        "host_key": outcome.fingerprint, "trusted_by": outcome.trusted_by,
        "steps": {k: v for k, v in outcome.steps.items() if k != "first scan"}, **extra,
    }  # fmt: skip
    audit.append(
        store, actor=actor, action="hosts.enrol", target=host.name, outcome=result, client="local",
        details=details, site=host.site,
    )  # fmt: skip


def certifier(config: Config, store: Store, requester: str) -> Callable[[Host], str]:
    """The certify step: sign the host's key with the site's SSH CA and install it (:mod:`.certify`).

    A site without a CA gets a line saying so, as provision does (the host
    is then trusted by its pin alone); a host that cannot be certified
    raises EgovError (the enrolment is retried with the same command).
    """

    def certify(host: Host) -> str:
        from controlplane.automation.certify import certify_hosts
        from controlplane.pki.authority import CANotInitialisedError

        try:
            [result] = certify_hosts(config, store, [host], requester=requester)
        except CANotInitialisedError as error:
            return f"skipped: {error.message}"
        if not result.ok:
            raise EgovError(f"certify: {result.message}")
        return result.message

    return certify
