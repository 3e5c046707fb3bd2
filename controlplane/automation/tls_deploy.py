"""TLS certificates for the web services of managed hosts (portal, DR copy, office), from the control plane's CA.

The control plane issues each web host a certificate (:func:`controlplane.pki.issue.issue_tls`;
CN the inventory name, subjectAltName the name, the address and, on portal hosts,
the portal VIP) and writes it over SSH:

* ``/etc/egov/tls/server.crt``: the certificate and the CA chain, 0644;
* ``/etc/egov/tls/server.key``: the key, 0600, owned by the web service's account
  (``egov-web``, which serves HTTPS with it) once it exists, else by root (the
  portal role hands it over when it creates the account).

The key exists in clear only in this process's memory and on the host that uses
it; it travels on stdin of the SSH channel, never in an argv or a local file.
``egov_httpd.py`` (the portal role) serves HTTPS on 443 as soon as both files
exist and picks up a renewed pair without a restart.

A host whose certificate is still good (:func:`controlplane.tls_check.still_good`:
current CA, same names, less than ``pki.renew_at`` of its life passed) is left
alone, so this runs after every provision and from the renewal job at the cost
of one ``cat`` per host.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from controlplane import tls_check
from controlplane.errors import EgovError

if TYPE_CHECKING:
    from controlplane.config import Config
    from controlplane.inventory import Host
    from controlplane.pki.authority import Authority
    from controlplane.ssh import SSHPool
    from controlplane.store import Store

WEB_ROLES = frozenset({"portal", "dr", "office"})
REMOTE_DIR = "/etc/egov/tls"
CERT_PATH = f"{REMOTE_DIR}/server.crt"
KEY_PATH = f"{REMOTE_DIR}/server.key"
SERVICE_USER = "egov-web"
COMMAND_TIMEOUT = 30.0

# Written through a temporary file in the same folder, then renamed: the service never reads half a file.
_WRITE = (
    # The folder and its parent traversable (the web service's account reads the files), the files made private.
    'set -eu; umask 022; d="$1"; mkdir -p "$d"; chmod 0755 "$d" "${d%/*}"; umask 077; '
    't=$(mktemp "$d/.new.XXXXXX"); '
    'trap \'rm -f "$t"\' EXIT; cat >"$t"; '
    'if [ "$3" = key ] && id -u "$4" >/dev/null 2>&1; then chown "$4":root "$t"; fi; '
    'if [ "$3" = key ]; then chmod 0600 "$t"; else chmod 0644 "$t"; fi; mv -f "$t" "$2"; trap - EXIT'
)


@dataclass(frozen=True)
class TLSDeployment:
    """What happened on one host: issued and written, kept (still good), or the error."""

    host: str
    ok: bool
    action: str  # "issued" | "kept" | "failed"
    message: str
    serial: int | None = None
    not_after: dt.datetime | None = None


def serves_web(host: Host) -> bool:
    """Whether a host runs the web service the portal role installs (portal, DR copy, office)."""
    return host.role in WEB_ROLES


def host_names(host: Host) -> tuple[list[str], list[str]]:
    """The DNS names and IP addresses a host's certificate names: its name, address, and the VIP on portal hosts."""
    ips = [host.address]
    vip = host.variables.get("portal_vip")
    if host.role == "portal" and isinstance(vip, str) and vip and vip not in ips:
        ips.append(vip)
    return [host.name], ips


def _remote_certificate(pool: SSHPool, host: Host, user: str) -> bytes | None:
    from controlplane.ssh import Target

    answer = pool.run(Target.from_host(host, user), ["cat", CERT_PATH], timeout=COMMAND_TIMEOUT)
    return answer.stdout.encode() if answer.ok and "BEGIN CERTIFICATE" in answer.stdout else None


def _write(pool: SSHPool, host: Host, user: str, path: str, kind: str, data: bytes) -> None:
    """Write one file on the host; raises EgovError naming the host when the command fails."""
    from controlplane.ssh import Target

    text = data.decode("ascii")
    argv = ["sh", "-c", _WRITE, "egov-tls", REMOTE_DIR, path, kind, SERVICE_USER]
    answer = pool.run(Target.from_host(host, user), argv, input_text=text, secrets=[text], timeout=COMMAND_TIMEOUT)
    if not answer.ok:
        raise EgovError(f"{host.name}: writing {path} failed: {' '.join(answer.tail)[-300:]}")


def deploy_one(
    config: Config,
    authority: Authority,
    pool: SSHPool,
    host: Host,
    *,
    requester: str,
    force: bool = False,
    now: dt.datetime | None = None,
) -> TLSDeployment:
    """Keep or issue and write one host's certificate; never raises (the result says what failed)."""
    from controlplane.pki.issue import issue_tls

    now = now or dt.datetime.now(dt.UTC)
    dns, ips = host_names(host)
    try:
        current = None if force else _remote_certificate(pool, host, config.ssh_user)
        if current is not None and tls_check.still_good(
            current, authority.x509_chain_pem(), dns, ips, config.pki.renew_at, now
        ):
            return TLSDeployment(host.name, True, "kept", "certificate still good", None, tls_check.not_after(current))
        issued = issue_tls(
            authority,
            common_name=host.name,
            dns_names=dns,
            ip_addresses=ips,
            validity=config.pki.tls_validity,
            requester=requester,
        )
        # Key first: until the certificate follows, the service keeps its old pair (they do not match).
        _write(pool, host, config.ssh_user, KEY_PATH, "key", issued.key_pem)
        _write(pool, host, config.ssh_user, CERT_PATH, "cert", issued.certificate_pem + issued.chain_pem)
    except (EgovError, OSError, ValueError) as error:
        return TLSDeployment(host.name, False, "failed", str(error))
    return TLSDeployment(
        host.name, True, "issued", f"serial {issued.serial}, valid until {issued.not_after:%Y-%m-%d %H:%M} UTC",
        issued.serial, issued.not_after,
    )  # fmt: skip


def deploy_service_certificates(
    config: Config,
    store: Store,
    pool: SSHPool,
    hosts: Sequence[Host],
    *,
    requester: str,
    force: bool = False,
    now: dt.datetime | None = None,
) -> list[TLSDeployment]:
    """Give every web host among ``hosts`` a current certificate from the CA; return one result per web host.

    Hosts that serve no web service are skipped. Never raises for one host;
    raises CANotInitialisedError (exit 2) when the control plane has no CA.
    Costs one SSH command per host, three when it issues.
    """
    from controlplane.pki.authority import open_authority

    web = [host for host in hosts if serves_web(host)]
    if not web:
        return []
    authority = open_authority(config, store)
    return [deploy_one(config, authority, pool, host, requester=requester, force=force, now=now) for host in web]
