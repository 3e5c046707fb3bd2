"""Which host keys the control plane accepts: keys pinned in known_hosts, and certificates of its own CA.

A host is accepted when

* it presents an OpenSSH host certificate that
  :func:`controlplane.pki.verify.check_host_certificate` accepts (signed by a
  CA line of ``STATE/pki/ssh_ca.pub``, valid now, naming the host's inventory
  name or address, neither its serial nor its key revoked), or
* it presents a plain key pinned for its address in ``ssh.known_hosts`` that
  is not revoked.

A host presenting a certificate that fails a check (forged, expired, wrong
principal, revoked) is refused with the failed check in the message, even
when its plain key is pinned: the certificate is what it chose to show, and
a certificate that does not hold is a reason for suspicion, not a fallback.
Only when the control plane trusts no CA at all (``ssh_ca.pub`` missing) is
a certified key judged by its pin, as before certificates existed.

The transport offers the ``*-cert-v01@openssh.com`` host key algorithms
first, so a host with ``HostCertificate`` shows its certificate and a host
without one its plain key. The same trust for OpenSSH clients (ansible) is
the ``@cert-authority`` file :func:`write_cert_authority_file` writes,
scoped to the inventory's names and addresses, and the KRL given to
``RevokedHostKeys``.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import os
import re
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from controlplane.errors import HostKeyError

if TYPE_CHECKING:
    import paramiko

    from controlplane.config import Config
    from controlplane.inventory import Host
    from controlplane.ssh import Target
    from controlplane.store import Store

CERT_SUFFIX = "-cert-v01@openssh.com"
# Names and addresses that may stand in an @cert-authority pattern list (no comma, space, '!' or wildcard).
PATTERN_WORD = re.compile(r"^[A-Za-z0-9._:-]{1,253}$")
Revoked = Callable[[int | None, str], bool]


def pki_dir(config: Config) -> Path:
    """``STATE/pki``: the CA's public files (A) and the @cert-authority file (this module)."""
    return Path(config.state_dir) / "pki"


def ca_file(config: Config) -> Path:
    """The trusted SSH CA lines, one per line (current first, then the previous one during a rotation)."""
    return pki_dir(config) / "ssh_ca.pub"


def krl_file(config: Config) -> Path:
    """The OpenSSH KRL of revoked certificates and keys (written by ``egov ca revoke``)."""
    return pki_dir(config) / "revoked.krl"


def cert_authority_file(config: Config) -> Path:
    """The ``@cert-authority`` known_hosts file for OpenSSH clients."""
    return pki_dir(config) / "known_hosts"


def fingerprint(blob: bytes) -> str:
    """``SHA256:...`` of a public key blob, as ``ssh-keygen -l`` prints it."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def read_ca_lines(path: Path) -> list[str]:
    """The non-empty, non-comment lines of a CA file ([] when it does not exist)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


_STORES: dict[str, Store] = {}
_STORES_LOCK = threading.Lock()


def _shared_store(database_url: str) -> Store:
    """One store per database for every pool of the process: pools come and go (one per scan), engines must not."""
    with _STORES_LOCK:
        store = _STORES.get(database_url)
        if store is None:
            from controlplane.store import Store, create_store_engine

            store = _STORES[database_url] = Store(create_store_engine(database_url))
        return store


class StoreRevocations:
    """``revoked(serial, fingerprint)`` answered by :func:`controlplane.pki.revocation.is_revoked`.

    The store is opened on first use (an SSH pool is built from the Config
    alone) and only once a KRL exists: before the CA exists a handshake
    costs no query; after, two indexed lookups. Safe to share between threads.
    """

    def __init__(self, config: Config) -> None:
        self.config = config

    def __call__(self, serial: int | None, key_fingerprint: str) -> bool:
        if not krl_file(self.config).exists():
            return False
        from controlplane.pki.revocation import is_revoked

        return is_revoked(_shared_store(self.config.database_url), serial=serial, fingerprint=key_fingerprint)


class HostTrust:
    """Decides whether one host key (plain or certificate) may be talked to; see the module docstring."""

    def __init__(
        self,
        known_hosts: Path,
        *,
        ca_path: Path | None = None,
        revoked: Revoked | None = None,
        now: Callable[[], dt.datetime] | None = None,
        prefer_pins: bool = False,
    ) -> None:
        self.known_hosts = known_hosts
        self.ca_path = ca_path
        # Certification's own connections: a host whose key is pinned is asked for its plain key and judged by
        # the pin, so an expired or broken certificate can be replaced over SSH (it is about to be anyway).
        self.prefer_pins = prefer_pins
        self.revoked: Revoked = revoked or (lambda _serial, _fingerprint: False)
        self.now = now or (lambda: dt.datetime.now(dt.UTC))

    @classmethod
    def from_config(cls, config: Config, *, prefer_pins: bool = False) -> HostTrust:
        """The site's trust: ``ssh.known_hosts``, ``STATE/pki/ssh_ca.pub`` and revocations in the store."""
        return cls(
            config.ssh_known_hosts, ca_path=ca_file(config), revoked=StoreRevocations(config), prefer_pins=prefer_pins
        )

    def ca_lines(self) -> list[str]:
        """The CA lines trusted now (read at every handshake: a rotation needs no restart)."""
        return read_ca_lines(self.ca_path) if self.ca_path is not None else []

    def ready(self, target: Target) -> None:
        """Refuse before connecting when nothing could ever vouch for a host key (no pins, no CA)."""
        if not self.known_hosts.exists() and not self.ca_lines():
            raise HostKeyError(f"no known_hosts file at {self.known_hosts}: refusing to connect to {target.name}")

    def transport_class(self, target: Target) -> type[paramiko.Transport]:
        """Certificates first, unless pins are preferred and this host has one (then paramiko's plain-first order)."""
        import paramiko

        if self.prefer_pins and self._pins().lookup(self._pin_name(target)) is not None:
            return paramiko.Transport
        return cert_first_transport()

    def _pins(self) -> paramiko.HostKeys:
        import paramiko

        return paramiko.HostKeys(str(self.known_hosts)) if self.known_hosts.exists() else paramiko.HostKeys()

    @staticmethod
    def _pin_name(target: Target) -> str:
        return target.address if target.port == 22 else f"[{target.address}]:{target.port}"

    def check(self, target: Target, key: paramiko.PKey) -> None:
        """Accept the key a host presented, or raise HostKeyError saying why not (the message names the host)."""
        blob = key.public_blob
        if blob is not None and blob.key_type.endswith(CERT_SUFFIX):
            lines = self.ca_lines()
            if lines:
                from controlplane.pki.verify import check_host_certificate

                check_host_certificate(
                    blob.key_blob,
                    host=target.name,
                    address=target.address,
                    trusted_ca_lines=lines,
                    revoked=self.revoked,
                    now=self.now(),
                )
                return
        self._check_pinned(target, key)

    def _check_pinned(self, target: Target, key: paramiko.PKey) -> None:
        entry = self._pins().lookup(self._pin_name(target))
        if entry is None:
            raise HostKeyError(f"host key of {target.where} is not pinned in {self.known_hosts}: refusing to connect")
        ours = entry.get(key.get_name())
        if ours is None or ours.asbytes() != key.asbytes():
            raise HostKeyError(
                f"host key of {target.where} has CHANGED since it was pinned in {self.known_hosts}: "
                "refusing to connect (possible man-in-the-middle; re-pin only after checking)"
            )
        key_fingerprint = fingerprint(key.asbytes())
        if self.revoked(None, key_fingerprint):
            raise HostKeyError(f"host key of {target.where} ({key_fingerprint}) is revoked: refusing to connect")

    def policy(self, target: Target) -> paramiko.MissingHostKeyPolicy:
        """A paramiko policy that judges every presented key with :meth:`check` (nothing is loaded as known)."""
        import paramiko

        trust = self

        class Judge(paramiko.MissingHostKeyPolicy):
            def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
                trust.check(target, key)

        return Judge()


@functools.cache
def cert_first_transport() -> type[paramiko.Transport]:
    """A paramiko Transport that asks for host certificates before plain keys.

    paramiko offers the certificate algorithms after the plain ones, and a
    server picks the first algorithm of the client's list it has, so a
    certified host would show its plain key. Built once, on first use.
    """
    import paramiko

    class CertFirstTransport(paramiko.Transport):
        @property
        def preferred_keys(self) -> tuple[str, ...]:
            plain = self._filter_algorithm("keys")
            return tuple(f"{name}{CERT_SUFFIX}" for name in plain) + tuple(plain)

    return CertFirstTransport


def host_patterns(hosts: Iterable[Host]) -> list[str]:
    """The names and addresses an ``@cert-authority`` line is scoped to (``[addr]:port`` off port 22).

    A word that could widen the pattern (``*``, ``?``, ``!``, a comma) is
    left out: the inventory refuses such names, this is the second lock.
    """
    words: list[str] = []
    for host in hosts:
        for word in (host.name, host.address):
            candidate = word if host.port == 22 else f"[{word}]:{host.port}"
            if PATTERN_WORD.match(word) and candidate not in words:
                words.append(candidate)
    return words


def cert_authority_text(hosts: Iterable[Host], ca_lines: Iterable[str]) -> str:
    """One ``@cert-authority <patterns> <ca line>`` per trusted CA line ("" when no host or no CA)."""
    patterns = ",".join(host_patterns(hosts))
    if not patterns:
        return ""
    return "".join(f"@cert-authority {patterns} {line.strip()}\n" for line in ca_lines if line.strip())


def write_cert_authority_file(config: Config, hosts: Iterable[Host]) -> Path | None:
    """Write ``STATE/pki/known_hosts`` for the inventory's hosts and the CA lines trusted now (0644, atomic).

    Returns the path, or None (and removes a stale file) when no CA is
    trusted. Cheap: one small file; called after every certification and
    whenever the trusted CA lines may have changed.
    """
    path = cert_authority_file(config)
    text = cert_authority_text(hosts, read_ca_lines(ca_file(config)))
    if not text:
        path.unlink(missing_ok=True)
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    partial.write_text(text)
    os.chmod(partial, 0o644)
    partial.replace(path)
    return path


def openssh_trust_files(config: Config) -> dict[str, Path | None]:
    """The CA and KRL files an OpenSSH client of the control plane passes, None for each that does not exist.

    Keys are the :class:`controlplane.automation.settings.RunSettings` field names.
    """
    authorities, krl = cert_authority_file(config), krl_file(config)
    return {
        "cert_authorities": authorities if authorities.exists() else None,
        "revoked_host_keys": krl if krl.exists() else None,
    }
