"""SSH host certificates installed on managed hosts, over the control plane's SSH pool.

For each host, in parallel: read ``/etc/ssh/ssh_host_ed25519_key.pub``, have
the CA sign it (:func:`controlplane.pki.issue.sign_host_key`; principals: the
inventory name and address; audited, recorded), then install in one remote
command the files sshd needs (:data:`CERT_PATH` and the others of
:func:`host_files`): user CA lines for people's certificates, the principals
file naming the host's site and its ancestors, the KRL and the drop-in that
points sshd at them. The remote side writes every file beside its target
first, swaps them in, runs ``sshd -t`` and puts the previous files back
when it fails (a broken configuration must never reach a reload: that
would lock the control plane out), then reloads sshd the way
``playbooks/roles/harden_ssh/tasks/reload.yml`` does (lab init: SIGHUP by
its pidfile; systemd: reload ``ssh``; otherwise ``service ssh reload``).

File contents travel on the command's stdin, base64 per file; the remote
script is a constant and its only argument is one of three fixed words, so
a host, site or key comment is data, never shell syntax. The management key
in root's ``authorized_keys`` is left alone: it is the break-glass path.

Costs per host: two SSH commands (read, install) on a pooled connection,
one Ed25519 signature and its audit record (signatures are serialised: the
audit chain is one sequence).
"""

from __future__ import annotations

import base64
import datetime as dt
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from controlplane.errors import EgovError
from controlplane.ssh.trust import write_cert_authority_file

if TYPE_CHECKING:
    from controlplane.automation.playbook import PlaybookOutcome
    from controlplane.config import Config
    from controlplane.inventory import Host, Inventory
    from controlplane.pki.authority import Authority
    from controlplane.ssh import SSHPool
    from controlplane.store import Store

HOST_KEY_PATH = "/etc/ssh/ssh_host_ed25519_key.pub"
CERT_PATH = "/etc/ssh/ssh_host_ed25519_key-cert.pub"
USER_CA_PATH = "/etc/ssh/egov_user_ca.pub"
PRINCIPALS_PATH = "/etc/ssh/egov_principals/root"
KRL_PATH = "/etc/ssh/egov_revoked.krl"
CONF_PATH = "/etc/ssh/sshd_config.d/20-egov-ca.conf"
INSTALLED = (CONF_PATH, CERT_PATH, USER_CA_PATH, PRINCIPALS_PATH, KRL_PATH)
SSHD_CONF = (
    "# Written by the EduGov control plane (egov provision / certify): host certificate and CA trust.\n"
    f"HostCertificate {CERT_PATH}\n"
    f"TrustedUserCAKeys {USER_CA_PATH}\n"
    "AuthorizedPrincipalsFile /etc/ssh/egov_principals/%u\n"
    f"RevokedKeys {KRL_PATH}\n"
)
COMMAND_TIMEOUT = 60.0
MAX_WORKERS = 32
# stdin: one line per file, "PATH MODE BASE64". $1: install (files, sshd -t, reload) | files (no reload:
# sshd reads RevokedKeys at each login) | remove (PATHs only; sshd -t, reload). Exit 3: a file could not
# be written (nothing changed), 4: sshd -t refused (previous files restored), 5: the reload failed.
REMOTE_SCRIPT = r"""set -u
umask 022
action="$1"
paths=""
fail() { for p in $paths; do rm -f "$p.egov-new"; done; echo "$1" >&2; exit 3; }
mkdir -p /etc/ssh/egov_principals /etc/ssh/sshd_config.d || fail "cannot create folders under /etc/ssh"
while IFS=' ' read -r path perm data; do
  [ -n "$path" ] || continue
  paths="$paths $path"
  [ "$action" = remove ] && continue
  { printf '%s' "$data" | base64 -d > "$path.egov-new" && chmod "$perm" "$path.egov-new"; } || fail "cannot write $path"
done
for p in $paths; do
  if [ -e "$p" ]; then cp -p "$p" "$p.egov-old"; else rm -f "$p.egov-old"; fi
  if [ "$action" = remove ]; then rm -f "$p"; else mv -f "$p.egov-new" "$p"; fi
done
if [ "$action" != files ] && ! out=$(/usr/sbin/sshd -t 2>&1); then
  for p in $paths; do if [ -e "$p.egov-old" ]; then mv -f "$p.egov-old" "$p"; else rm -f "$p"; fi; done
  echo "sshd -t refused the new configuration (previous files restored): $out" >&2
  exit 4
fi
for p in $paths; do rm -f "$p.egov-old"; done
[ "$action" = files ] && exit 0
if [ -e /etc/egov-lab/host.json ]; then pkill -HUP --pidfile /run/egov-lab/sshd.pid
elif [ -d /run/systemd/system ]; then systemctl reload ssh
else service ssh reload
fi || { echo "sshd did not reload" >&2; exit 5; }
"""


@dataclass(frozen=True)
class HostOutcome:
    """What certifying (or pushing to, or uncertifying) one host came to."""

    host: str
    ok: bool
    message: str
    seconds: float
    serial: int | None = None
    not_after: dt.datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "ok": self.ok,
            "message": self.message,
            "seconds": round(self.seconds, 3),
            "serial": self.serial,
            "not_after": self.not_after.isoformat() if self.not_after else None,
        }


def host_principals(host: Host) -> list[str]:
    """The principals of a host's certificate: its inventory name and address."""
    return list(dict.fromkeys([host.name, host.address]))


def site_principals(inventory: Inventory, site: str) -> list[str]:
    """``site:<name>`` for the site and each ancestor up to the root (a cycle stops the walk)."""
    names: list[str] = []
    current: str | None = site
    while current and current not in names:
        names.append(current)
        parent = inventory.sites.get(current)
        current = parent.parent if parent is not None else None
    return [f"site:{name}" for name in names]


def host_files(
    host: Host, inventory: Inventory, certificate_line: str, ca_lines: Sequence[str], krl: bytes
) -> list[tuple[str, int, bytes]]:
    """The (path, mode, content) of every file a certified host gets, the drop-in last."""
    principals = "".join(f"{word}\n" for word in site_principals(inventory, host.site))
    return [
        (CERT_PATH, 0o644, certificate_line.strip().encode() + b"\n"),
        (USER_CA_PATH, 0o644, "".join(f"{line.strip()}\n" for line in ca_lines).encode()),
        (PRINCIPALS_PATH, 0o644, principals.encode()),
        (KRL_PATH, 0o644, krl),
        (CONF_PATH, 0o644, SSHD_CONF.encode()),
    ]


def bundle(files: Iterable[tuple[str, int, bytes]]) -> str:
    """The remote script's stdin: ``PATH MODE BASE64`` per file (paths are this module's constants)."""
    return "".join(f"{path} {mode:o} {base64.b64encode(content).decode()}\n" for path, mode, content in files)


def remote_argv(action: str) -> list[str]:
    """The argv of the install/push/remove command (the script is a constant; ``action`` one of three words)."""
    if action not in ("install", "files", "remove"):
        raise ValueError(f"unknown action {action!r}")
    return ["sh", "-c", REMOTE_SCRIPT, "egov-certify", action]


def public_key_line(text: str, host: str) -> str:
    """``ssh-ed25519 BASE64`` from a host's .pub file (its comment dropped); EgovError when it is not one."""
    words = text.split()
    if len(words) < 2 or words[0] != "ssh-ed25519":
        raise EgovError(f"{host}: {HOST_KEY_PATH} does not hold an ed25519 public key")
    try:
        base64.b64decode(words[1], validate=True)
    except ValueError:
        raise EgovError(f"{host}: {HOST_KEY_PATH} holds a malformed public key") from None
    return f"{words[0]} {words[1]}"


def read_krl(config: Config) -> bytes:
    """The KRL's bytes, or empty (sshd reads an empty RevokedKeys file as "nothing revoked")."""
    from controlplane.pki.revocation import krl_path

    try:
        return krl_path(config).read_bytes()
    except FileNotFoundError:
        return b""


def _failed_text(result: Any) -> str:
    return (result.stderr.strip() or result.stdout.strip() or f"exit code {result.exit_code}").splitlines()[-1]


class _Certifier:
    """One certification pass: shared authority, pool and inventory; signatures one at a time."""

    def __init__(
        self, config: Config, authority: Authority, pool: SSHPool, inventory: Inventory, requester: str,
        validity: dt.timedelta,
    ) -> None:  # fmt: skip
        self.config, self.authority, self.pool, self.inventory = config, authority, pool, inventory
        self.requester, self.validity = requester, validity
        self.ca_lines = authority.ssh_ca_public_lines()
        self.krl = read_krl(config)
        self.signing = threading.Lock()

    def host(self, host: Host) -> HostOutcome:
        from controlplane.pki.issue import sign_host_key
        from controlplane.ssh import Target

        started = time.monotonic()
        target = Target.from_host(host, self.config.ssh_user)
        try:
            read = self.pool.run(target, ["cat", HOST_KEY_PATH], timeout=COMMAND_TIMEOUT)
            if not read.ok:
                raise EgovError(f"{host.name}: cannot read {HOST_KEY_PATH}: {_failed_text(read)}")
            line = public_key_line(read.stdout, host.name)
            with self.signing:
                issued = sign_host_key(
                    self.authority, line, host=host.name, principals=host_principals(host),
                    validity=self.validity, requester=self.requester, site=host.site,
                )  # fmt: skip
            files = host_files(host, self.inventory, issued.certificate_line, self.ca_lines, self.krl)
            result = self.pool.run(target, remote_argv("install"), input_text=bundle(files), timeout=COMMAND_TIMEOUT)
            if not result.ok:
                raise EgovError(f"{host.name}: installing the certificate failed: {_failed_text(result)}")
        except EgovError as error:
            return HostOutcome(host.name, False, error.message, time.monotonic() - started)
        message = f"certificate {issued.serial} valid until {issued.not_after:%Y-%m-%d %H:%M} UTC"
        return HostOutcome(host.name, True, message, time.monotonic() - started, issued.serial, issued.not_after)


def _in_parallel(hosts: Sequence[Host], work: Any) -> list[HostOutcome]:
    """``work(host)`` for every host on a thread each (at most MAX_WORKERS), in the hosts' order."""
    if not hosts:
        return []
    with ThreadPoolExecutor(max_workers=min(len(hosts), MAX_WORKERS), thread_name_prefix="certify") as workers:
        return list(workers.map(work, hosts))


def certify_pool(config: Config) -> SSHPool:
    """The site's SSH pool for certification: pinned hosts are judged by their pin, the others by certificate.

    A host whose certificate expired (or was replaced by a broken one) is
    refused by the ordinary pool; its pin still lets the control plane put a
    good certificate back. A host reached only by certificate needs a valid one.
    """
    from controlplane.ssh import SSHPool
    from controlplane.ssh.trust import HostTrust

    pool = SSHPool.from_config(config)
    pool.trust = HostTrust.from_config(config, prefer_pins=True)
    return pool


def _pool_and_inventory(config: Config, pool: SSHPool | None, inventory: Inventory | None) -> tuple[SSHPool, Inventory]:
    from controlplane.inventory import load_inventory

    return pool or certify_pool(config), inventory or load_inventory(config.inventory)


def certify_hosts(
    config: Config,
    store: Store,
    hosts: Sequence[Host],
    *,
    requester: str,
    pool: SSHPool | None = None,
    inventory: Inventory | None = None,
    validity: dt.timedelta | None = None,
) -> list[HostOutcome]:
    """Certify and install on every host in parallel; one HostOutcome per host, in order (never raises per host).

    ``validity`` defaults to ``pki.host_validity``. Afterwards the
    ``@cert-authority`` file for OpenSSH clients is rewritten. Raises
    CANotInitialisedError (exit 2) before any host is touched when there is
    no CA. A pool passed in stays open; one made here is closed.
    """
    from controlplane.pki.authority import open_authority

    authority = open_authority(config, store)
    own_pool = pool is None
    pool, inventory = _pool_and_inventory(config, pool, inventory)
    try:
        certifier = _Certifier(config, authority, pool, inventory, requester, validity or config.pki.host_validity)
        outcomes = _in_parallel(hosts, certifier.host)
    finally:
        if own_pool:
            pool.close()
    write_cert_authority_file(config, inventory.hosts)
    return outcomes


def push_krl(config: Config, store: Store, hosts: Sequence[Host], *, pool: SSHPool | None = None) -> list[HostOutcome]:
    """Copy the current KRL to every host's ``RevokedKeys`` file, in parallel (no reload needed).

    sshd reads the file at every login, so a revoked user certificate or key
    is refused from the next login on. ``store`` is unused today (the KRL
    file is the source) and kept so callers hand over what revoke had.
    """
    del store
    from controlplane.ssh import Target

    content = bundle([(KRL_PATH, 0o644, read_krl(config))])
    own_pool = pool is None
    pool, _inventory = _pool_and_inventory(config, pool, None)

    def push(host: Host) -> HostOutcome:
        started = time.monotonic()
        target = Target.from_host(host, config.ssh_user)
        try:
            result = pool.run(target, remote_argv("files"), input_text=content, timeout=COMMAND_TIMEOUT)
        except EgovError as error:
            return HostOutcome(host.name, False, error.message, time.monotonic() - started)
        ok = result.ok
        return HostOutcome(host.name, ok, "KRL installed" if ok else _failed_text(result), time.monotonic() - started)

    try:
        return _in_parallel(hosts, push)
    finally:
        if own_pool:
            pool.close()


def uncertify_hosts(config: Config, hosts: Sequence[Host], *, pool: SSHPool | None = None) -> list[HostOutcome]:
    """Remove the certificate, CA trust files and drop-in from hosts and reload sshd (a host back to plain keys).

    For taking a host out of certificate trust (and for tests that must
    leave the lab as they found it). The control plane reaches it again by
    its pinned key only.
    """
    from controlplane.ssh import Target

    content = "".join(f"{path} 644\n" for path in INSTALLED)
    own_pool = pool is None
    pool, _inventory = _pool_and_inventory(config, pool, None)

    def remove(host: Host) -> HostOutcome:
        started = time.monotonic()
        try:
            result = pool.run(Target.from_host(host, config.ssh_user), remote_argv("remove"), input_text=content,
                              timeout=COMMAND_TIMEOUT)  # fmt: skip
        except EgovError as error:
            return HostOutcome(host.name, False, error.message, time.monotonic() - started)
        text = "certificate removed" if result.ok else _failed_text(result)
        return HostOutcome(host.name, result.ok, text, time.monotonic() - started)

    try:
        return _in_parallel(hosts, remove)
    finally:
        if own_pool:
            pool.close()


def certify_provisioned(config: Config, store: Store, run_id: int, outcome: PlaybookOutcome, requester: str) -> None:
    """After a succeeded provision run: SSH host certificates, then the web hosts' TLS certificates (part D).

    Only hosts the run reached (ok or changed) are certified; a failed or
    unreachable one waits for the next run. The per-host lines go to the
    run's output and a summary to ``outcome.message``; a failure here does
    not fail the run (the hosts are provisioned; the pins still reach them).
    No CA yet is one line saying so. Never raises for a host.
    """
    from controlplane.automation.tls_deploy import deploy_service_certificates
    from controlplane.inventory import load_inventory
    from controlplane.pki.authority import CANotInitialisedError
    from controlplane.store.models import RunStatus

    if outcome.status != RunStatus.SUCCEEDED:
        return
    inventory = load_inventory(config.inventory)
    reached = [host for host in inventory.hosts if host.name in outcome.hosts
               and outcome.hosts[host.name].outcome in ("ok", "changed")]  # fmt: skip
    if not reached:
        return
    with certify_pool(config) as pool:
        try:
            results = certify_hosts(config, store, reached, requester=requester, pool=pool, inventory=inventory)
            deployed = deploy_service_certificates(config, store, pool, reached, requester=requester)
        except CANotInitialisedError as error:
            _report(store, run_id, outcome, [f"certificates: skipped: {error.message}"], [])
            return
    lines = [f"host certificate: {r.host}: {r.message}" for r in results]
    lines += [f"TLS certificate: {d.host}: {d.action}: {d.message}" for d in deployed]
    failed = [f"{r.host}: {r.message}" for r in results if not r.ok]
    failed += [f"{d.host} (TLS): {d.message}" for d in deployed if not d.ok]
    summary = f"host certificates: {sum(r.ok for r in results)} of {len(results)} installed"
    if deployed:
        summary += f"; TLS certificates: {sum(d.ok for d in deployed)} of {len(deployed)} in place"
    _report(store, run_id, outcome, lines, [summary + ("; failed: " + " | ".join(failed) if failed else "")])


def _report(store: Store, run_id: int, outcome: PlaybookOutcome, lines: list[str], summary: list[str]) -> None:
    """Append lines to a finished run's output and its summary to the outcome's message (what the CLI prints)."""
    from controlplane.runs import append_output
    from controlplane.store.models import Run

    with store.session() as session:
        run = session.get(Run, run_id)
        if run is not None:
            append_output(session, run, lines)
    text = "\n".join(summary or lines)
    outcome.message = f"{outcome.message}\n{text}" if outcome.message else text
