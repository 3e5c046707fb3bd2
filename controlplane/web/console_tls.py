"""The console's own HTTPS: which certificate ``egov serve`` uses, and the one it gets from the CA.

Three modes, decided once before the server starts (:func:`serving_files`):

* ``listen.tls_cert``/``tls_key`` in egov.yml: the operator's certificate, as before;
* ``listen.tls: auto`` (the default) and the control plane's CA exists: a certificate
  issued by the CA (:mod:`controlplane.pki`), kept in ``state/pki/console.pem`` with its
  key in ``state/pki/console.key`` *encrypted* (PKCS#8, a random password kept in the
  vault as ``pki.console.key_password``), so no private key lies on disk in clear. It
  is reused while it names every address the console answers on and less than
  ``pki.renew_at`` of its life has passed; otherwise a new one is issued (and audited by
  the CA as every issuance);
* ``listen.tls: off``, ``egov serve --plain-http``, or no CA yet: plain HTTP.

The password stays the same across renewals (only the key changes), so a running
server reloads a renewed pair from disk without asking the vault again
(:class:`TLSFiles.context` is cheap to call per connection: it reloads only when a
file changed).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import secrets
import socket
import ssl
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from controlplane.config import Config
    from controlplane.pki.authority import Authority
    from controlplane.store import Store
    from controlplane.vault import Vault

CERT_FILE = "console.pem"
KEY_FILE = "console.key"
PASSWORD_SECRET = "pki.console.key_password"  # noqa: S105 - the vault name of the password, not a password
RELOAD_CHECK_SECONDS = 5.0  # how often a serving process looks at the files' times


def pki_dir(config: Config) -> Path:
    """``state/pki``: the CA's public files and the console's certificate."""
    return config.state_dir / "pki"


@dataclass
class TLSFiles:
    """A certificate chain and key on disk, and the key's password (None: the key file is not encrypted).

    :meth:`context` builds the server context once and again only when a file
    changed (a renewal), checked at most every RELOAD_CHECK_SECONDS; a pair
    caught half written (the new certificate, the old key) keeps the old
    context until both match.
    """

    cert: Path
    key: Path
    password: bytes | None = field(default=None, repr=False)
    _context: ssl.SSLContext | None = field(default=None, init=False, repr=False)
    _stamp: tuple[float, float] | None = field(default=None, init=False, repr=False)
    _checked: float = field(default=0.0, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def load(self) -> ssl.SSLContext:
        """Build a server SSLContext (TLS 1.2+) from the files. Raises ssl.SSLError / OSError when they do not load."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        password = self.password
        context.load_cert_chain(certfile=str(self.cert), keyfile=str(self.key), password=lambda: password or b"")
        return context

    def _files_stamp(self) -> tuple[float, float]:
        return (self.cert.stat().st_mtime, self.key.stat().st_mtime)

    def context(self) -> ssl.SSLContext:
        """The current context, reloaded when the files changed. Raises ssl.SSLError/OSError on the first load only."""
        now = time.monotonic()
        with self._lock:
            if self._context is not None and now - self._checked < RELOAD_CHECK_SECONDS:
                return self._context
            self._checked = now
            try:
                stamp = self._files_stamp()
                if self._context is None or stamp != self._stamp:
                    self._context, self._stamp = self.load(), stamp
            except (OSError, ssl.SSLError):
                if self._context is None:
                    raise
            return self._context


def wanted_names(config: Config, bind_host: str, also: Sequence[str] = ()) -> tuple[list[str], list[str]]:
    """The DNS names and IP addresses the console's certificate must name.

    The listen host, localhost, 127.0.0.1 (and ::1), the machine's host name,
    public_url's host, and ``also``. A wildcard bind address (0.0.0.0, ::) is
    no name a client uses, so it is left out.
    """
    dns: list[str] = []
    ips: list[str] = []

    def add(name: str | None) -> None:
        if not name:
            return
        name = name.strip("[]")
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            if name.lower() not in dns:
                dns.append(name.lower())
            return
        if not address.is_unspecified and str(address) not in ips:
            ips.append(str(address))

    for name in (bind_host, "localhost", "127.0.0.1", "::1", socket.gethostname()):
        add(name)
    if config.public_url:
        add(urlsplit(config.public_url).hostname)
    for name in also:
        add(name)
    return dns, ips


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    """Write a file through a temporary beside it, then rename (a reader never sees half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


def ensure_console_certificate(
    config: Config,
    store: Store,
    bind_host: str,
    *,
    requester: str = "egov serve",
    now: dt.datetime | None = None,
    force: bool = False,
    also: Sequence[str] = (),
) -> tuple[TLSFiles, bool]:
    """Return the console's certificate files from the CA, issuing new ones when needed; and whether it issued.

    Reuses ``state/pki/console.pem`` while :func:`controlplane.tls_check.still_good`; otherwise issues
    one (validity ``pki.tls_validity``) and writes the chain (0644) and the key
    encrypted with the vault's ``pki.console.key_password`` (0600; made once).
    ``also``: more names to certify (the renewal job keeps the names in use).
    Raises CANotInitialisedError (no CA), VaultKeyError, OSError.
    """
    from controlplane.pki.authority import open_authority
    from controlplane.vault import open_vault

    authority, vault = open_authority(config, store), open_vault(config, store)
    # Two processes issuing at once (a second console starting) could leave one's key beside the other's certificate.
    with _console_lock(config):
        return _ensure_locked(config, authority, vault, bind_host, requester, now, force, also)


@contextlib.contextmanager
def _console_lock(config: Config) -> Iterator[None]:
    import fcntl

    pki_dir(config).mkdir(parents=True, exist_ok=True)
    with open(pki_dir(config) / ".console.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _ensure_locked(
    config: Config,
    authority: Authority,
    vault: Vault,
    bind_host: str,
    requester: str,
    now: dt.datetime | None,
    force: bool,
    also: Sequence[str],
) -> tuple[TLSFiles, bool]:
    from controlplane import tls_check
    from controlplane.pki.issue import encrypted_key_pem, issue_tls

    if not vault.exists(PASSWORD_SECRET):
        vault.set(PASSWORD_SECRET, secrets.token_urlsafe(32))
    files = TLSFiles(pki_dir(config) / CERT_FILE, pki_dir(config) / KEY_FILE, vault.get(PASSWORD_SECRET).encode())
    dns, ips = wanted_names(config, bind_host, also)
    now = now or dt.datetime.now(dt.UTC)
    if not force and files.cert.exists() and files.key.exists():
        chain = authority.x509_chain_pem()
        if tls_check.still_good(files.cert.read_bytes(), chain, dns, ips, config.pki.renew_at, now):
            try:
                files.load()
                return files, False
            except (OSError, ssl.SSLError):
                pass  # a key that does not open with the vault's password: issue a new pair
    issued = issue_tls(
        authority,
        common_name=dns[0] if dns else ips[0],
        dns_names=dns,
        ip_addresses=ips,
        validity=config.pki.tls_validity,
        requester=requester,
    )
    assert files.password is not None  # noqa: S101 - set above from the vault
    _write_atomically(files.key, encrypted_key_pem(issued.key_pem, files.password), 0o600)
    _write_atomically(files.cert, issued.certificate_pem + issued.chain_pem, 0o644)
    return files, True


def serving_files(config: Config, bind_host: str, plain_http: bool = False) -> tuple[TLSFiles | None, str]:
    """Decide how ``egov serve`` serves: (files, note). None means plain HTTP; ``note`` says why, for stderr.

    Opens (and closes) the store only in ``auto`` mode. Raises EgovError when the
    store or vault cannot be opened, ssl.SSLError/OSError when the operator's files
    do not load.
    """
    if plain_http:
        return None, "plain HTTP (--plain-http)"
    if config.tls_cert and config.tls_key:
        files = TLSFiles(config.tls_cert, config.tls_key)
        files.context()  # refuse to start on unreadable files, before anything forks
        return files, f"HTTPS with {config.tls_cert}"
    if config.listen_tls == "off":
        return None, "plain HTTP (listen.tls: off)"
    from controlplane.pki.authority import CANotInitialisedError
    from controlplane.store import open_store

    store = open_store(config)
    try:
        files, issued = ensure_console_certificate(config, store, bind_host)
    except CANotInitialisedError:
        return None, "plain HTTP: the control plane has no CA yet (`egov ca init`, then restart, for HTTPS)"
    finally:
        store.close()
    files.context()
    what = "a new certificate" if issued else "its certificate"
    return files, f"HTTPS with {what} from the control plane's CA ({files.cert}); trust it: egov ca export"
