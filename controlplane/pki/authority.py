"""The control plane's CA: an X.509 root and intermediate (ECDSA P-256) and an SSH CA (Ed25519).

Private keys live only in the vault (:data:`ROOT_KEY`, :data:`INTERMEDIATE_KEY`,
:data:`SSH_CA_KEY`), encrypted like every secret. The public parts are kept in
the store's ``settings`` (so every process and machine on one store agrees on
them) and published as files under ``STATE/pki`` (0644): ``root.pem``,
``intermediate.pem``, ``chain.pem``, ``ssh_ca.pub`` (trusted SSH CA lines,
current first, then the previous one after a rotation) and ``revoked.krl``.

The root signs only intermediates, so it can be taken offline
(:mod:`.offline`): day-to-day issuance needs only the intermediate and the SSH
CA. Init, rotation and the root's moves hold a file lock under ``STATE/pki``
so two commands on one machine do not interleave.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from sqlalchemy import func, select

from controlplane import audit
from controlplane.errors import BadInputError, EgovError
from controlplane.store.models import utcnow
from controlplane.vault import open_vault

from . import keys, records
from .custody import STAGED, load_key, promote
from .published import (
    INTERMEDIATE_PEM,
    ROOT_PEM,
    SSH_LINES,
    ca_lock,
    pki_dir,
    publish_files,
    read_public,
    write_public,
)

if TYPE_CHECKING:
    from controlplane.config import Config
    from controlplane.store import Store
    from controlplane.vault import Vault

log = logging.getLogger(__name__)
ROOT_KEY = "pki.root.key"
INTERMEDIATE_KEY = "pki.intermediate.key"
SSH_CA_KEY = "pki.ssh_ca.key"


class CANotInitialisedError(BadInputError):
    """The CA does not exist yet: run `egov ca init` (exit 2)."""

    def __init__(self, message: str = "the control plane's CA is not initialised: run `egov ca init`") -> None:
        super().__init__(message)


class RootOfflineError(BadInputError):
    """The work needs the root key, which was exported with `egov ca root-offline` (exit 2)."""


@dataclass(frozen=True)
class AuthorityStatus:
    """What `egov ca status` shows: fingerprints, ends of validity, whether the root is online, counts."""

    initialised: bool
    root_fingerprint: str = ""
    root_not_after: dt.datetime | None = None
    root_online: bool = False
    intermediate_fingerprint: str = ""
    intermediate_not_after: dt.datetime | None = None
    ssh_ca_fingerprints: tuple[str, ...] = ()  # current first, then the previous one still trusted
    issued: dict[str, int] = field(default_factory=dict)  # by kind
    revoked: int = 0
    pki_dir: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-safe view for `egov ca status --json`."""
        return {
            "initialised": self.initialised,
            "root": {
                "fingerprint_sha256": self.root_fingerprint,
                "not_after": self.root_not_after.isoformat() if self.root_not_after else None,
                "online": self.root_online,
            },
            "intermediate": {
                "fingerprint_sha256": self.intermediate_fingerprint,
                "not_after": self.intermediate_not_after.isoformat() if self.intermediate_not_after else None,
            },
            "ssh_ca": {"fingerprints": list(self.ssh_ca_fingerprints)},
            "issued": dict(self.issued),
            "revoked": self.revoked,
            "pki_dir": self.pki_dir,
        }


class Authority:
    """The control plane's CA. Private keys live only in the vault; public parts on disk and in the store.

    Built by :func:`open_authority`; short-lived (one command, one job): the
    signing keys are read from the vault once, on first use, and kept in memory
    for the life of the object.
    """

    def __init__(self, config: Config, store: Store, vault: Vault, public: dict[str, str]) -> None:
        self.config, self.store, self.vault = config, store, vault
        self.root = x509.load_pem_x509_certificate(public[ROOT_PEM].encode("ascii"))
        self.intermediate = x509.load_pem_x509_certificate(public[INTERMEDIATE_PEM].encode("ascii"))
        self._ssh_lines = [line for line in public[SSH_LINES].splitlines() if line.strip()]
        self._intermediate_key: ec.EllipticCurvePrivateKey | None = None
        self._ssh_key: ed25519.Ed25519PrivateKey | None = None

    # -- public parts ------------------------------------------------------
    def ssh_ca_public_lines(self) -> list[str]:
        """OpenSSH public key lines of the SSH CA(s) to trust: current first, then the previous one."""
        return list(self._ssh_lines)

    def x509_chain_pem(self) -> bytes:
        """Intermediate then root, PEM: what a TLS server sends after its own certificate."""
        return self.intermediate_pem() + self.root_pem()

    def root_pem(self) -> bytes:
        """The root certificate, PEM: what browsers and clients trust (`egov ca export`)."""
        return self.root.public_bytes(serialization.Encoding.PEM)

    def intermediate_pem(self) -> bytes:
        """The intermediate certificate, PEM."""
        return self.intermediate.public_bytes(serialization.Encoding.PEM)

    @property
    def pki_dir(self) -> Path:
        return pki_dir(self.config)

    def root_online(self) -> bool:
        """True when the root key is in the vault (False after `egov ca root-offline`)."""
        return self.vault.exists(ROOT_KEY)

    def status(self) -> AuthorityStatus:
        """Fingerprints, validity ends, the root's place and counts from the register (two small queries)."""
        with self.store.session() as session:
            issued = dict(
                session.execute(select(records.Certificate.kind, func.count()).group_by(records.Certificate.kind))
                .tuples()
                .all()
            )
            revoked = session.scalar(
                select(func.count()).select_from(records.Certificate).where(records.Certificate.revoked_at.is_not(None))
            )
        return AuthorityStatus(
            initialised=True,
            root_fingerprint=keys.cert_fingerprint(self.root),
            root_not_after=self.root.not_valid_after_utc,
            root_online=self.root_online(),
            intermediate_fingerprint=keys.cert_fingerprint(self.intermediate),
            intermediate_not_after=self.intermediate.not_valid_after_utc,
            ssh_ca_fingerprints=tuple(keys.ssh_fingerprint(line) for line in self._ssh_lines),
            issued=issued,
            revoked=int(revoked or 0),
            pki_dir=str(self.pki_dir),
        )

    # -- signing keys (for controlplane.pki.issue) ---------------------------
    def intermediate_key(self) -> ec.EllipticCurvePrivateKey:
        """The intermediate's private key (from the vault, once). Raises EgovError when it does not match."""
        if self._intermediate_key is None:
            key = load_key(self.vault, INTERMEDIATE_KEY, lambda k: keys.same_public_key(k, self.intermediate))
            if not isinstance(key, ec.EllipticCurvePrivateKey):
                raise EgovError(f"vault secret {INTERMEDIATE_KEY} is not an ECDSA key")
            self._intermediate_key = key
        return self._intermediate_key

    def ssh_ca_key(self) -> ed25519.Ed25519PrivateKey:
        """The current SSH CA's private key (from the vault, once). Raises EgovError when it does not match."""
        if self._ssh_key is None:
            current = keys.split_public_line(self._ssh_lines[0])[1]
            key = load_key(
                self.vault,
                SSH_CA_KEY,
                lambda k: (
                    isinstance(k, ed25519.Ed25519PrivateKey)
                    and keys.split_public_line(keys.ssh_public_line(k))[1] == current
                ),
            )
            if not isinstance(key, ed25519.Ed25519PrivateKey):
                raise EgovError(f"vault secret {SSH_CA_KEY} is not an Ed25519 key")
            self._ssh_key = key
        return self._ssh_key

    def root_key(self) -> ec.EllipticCurvePrivateKey:
        """The root's private key; RootOfflineError (exit 2) when it was taken offline."""
        if not self.root_online():
            raise RootOfflineError(
                "the root CA key is offline (exported with `egov ca root-offline`): bring it back with "
                "`egov ca root-online --in FILE` first, or rotate only the SSH CA with `--no-intermediate`"
            )
        key = load_key(self.vault, ROOT_KEY, lambda k: keys.same_public_key(k, self.root))
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise EgovError(f"vault secret {ROOT_KEY} is not an ECDSA key")
        return key


def open_authority(config: Config, store: Store) -> Authority:
    """The CA of this site, its public files brought up to date.

    Raises CANotInitialisedError (exit 2) before `egov ca init`. Costs one
    query, one vault open and a comparison of four small files.
    """
    public = read_public(store)
    if set(public) != {ROOT_PEM, INTERMEDIATE_PEM, SSH_LINES}:
        raise CANotInitialisedError()
    authority = Authority(config, store, open_vault(config, store), public)
    try:
        publish_files(authority)
    except OSError as error:  # a reader without write access to STATE/pki (another account) still gets the CA
        log.warning("cannot update the CA's public files in %s: %s", authority.pki_dir, error)
    return authority


def authority_status(config: Config, store: Store) -> AuthorityStatus:
    """The CA's status, or ``initialised=False`` before `egov ca init` (never raises for that)."""
    try:
        return open_authority(config, store).status()
    except CANotInitialisedError:
        return AuthorityStatus(initialised=False, pki_dir=str(pki_dir(config)))


def _new_intermediate(
    config: Config,
    store: Store,
    vault: Vault,
    root: x509.Certificate,
    root_key: ec.EllipticCurvePrivateKey,
    requester: str,
) -> str:
    """Make an intermediate, stage its key in the vault and register it; return its PEM (not yet published)."""
    key = keys.new_ecdsa_key()
    serial = records.free_serial(store)
    certificate = keys.make_intermediate(key, root, root_key, config.site_name, utcnow(), serial)
    vault.set(INTERMEDIATE_KEY + STAGED, keys.private_pem(key))
    records.add_ca(
        store,
        serial=serial,
        subject="intermediate",
        fingerprint=keys.spki_fingerprint(key.public_key()),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        requester=requester,
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _new_ssh_ca(store: Store, vault: Vault, requester: str) -> str:
    """Make an SSH CA key, stage it in the vault and register it; return its public line (not yet published)."""
    key = keys.new_ed25519_key()
    now = utcnow()
    line = keys.ssh_public_line(key, f"egov-ssh-ca-{now:%Y%m%d%H%M%S}")
    vault.set(SSH_CA_KEY + STAGED, keys.private_pem(key))
    records.add_ca(
        store,
        serial=records.free_serial(store),
        subject="ssh-ca",
        fingerprint=keys.ssh_fingerprint(line),
        not_before=now,
        not_after=now + keys.ROOT_VALIDITY,
        requester=requester,
    )
    return line


def init_authority(config: Config, store: Store, requester: str) -> Authority:
    """Create what is missing of the CA (root and intermediate, SSH CA); an existing CA is kept as it is.

    Audited (``pki.init``, with what was created and the fingerprints). Costs
    three key generations the first time (milliseconds) and one query after.
    """
    with ca_lock(config):
        vault = open_vault(config, store)
        public = read_public(store)
        created: list[str] = []
        if ROOT_PEM not in public or INTERMEDIATE_PEM not in public:
            root_key, now = keys.new_ecdsa_key(), utcnow()
            root = keys.make_root(root_key, config.site_name, now)
            vault.set(ROOT_KEY, keys.private_pem(root_key))
            records.add_ca(
                store,
                serial=root.serial_number,
                subject="root",
                fingerprint=keys.spki_fingerprint(root_key.public_key()),
                not_before=root.not_valid_before_utc,
                not_after=root.not_valid_after_utc,
                requester=requester,
            )
            intermediate = _new_intermediate(config, store, vault, root, root_key, requester)
            public[ROOT_PEM] = root.public_bytes(serialization.Encoding.PEM).decode("ascii")
            public[INTERMEDIATE_PEM] = intermediate
            created += ["root", "intermediate"]
        if SSH_LINES not in public:
            public[SSH_LINES] = _new_ssh_ca(store, vault, requester) + "\n"
            created.append("ssh-ca")
        if created:
            write_public(store, public)
            promote(vault, INTERMEDIATE_KEY)
            promote(vault, SSH_CA_KEY)
        authority = Authority(config, store, vault, public)
        publish_files(authority)
        from .revocation import write_krl

        if created or not (authority.pki_dir / "revoked.krl").exists():
            write_krl(config, store, authority)
        state = authority.status()
        audit.append(
            store,
            actor=requester,
            action="pki.init",
            target="ca",
            outcome="ok" if created else "unchanged",
            details={
                "created": created,
                "root": state.root_fingerprint,
                "intermediate": state.intermediate_fingerprint,
                "ssh_ca": list(state.ssh_ca_fingerprints),
            },
        )
        return authority


def rotate_authority(
    config: Config, store: Store, requester: str, *, ssh: bool = True, intermediate: bool = True
) -> Authority:
    """Make a new intermediate and/or SSH CA key; the root stays.

    The previous SSH CA's public line stays trusted (second line of
    ``ssh_ca.pub``) until the next rotation, so host and user certificates it
    signed keep working while they are renewed; its private key is dropped at
    once (nothing signs with it any more). Raises CANotInitialisedError before
    init, RootOfflineError (exit 2) for a new intermediate while the root is
    offline, BadInputError when nothing is asked. Audited (``pki.rotate``).
    """
    if not ssh and not intermediate:
        raise BadInputError("nothing to rotate: leave --ssh or --intermediate on")
    with ca_lock(config):
        current = open_authority(config, store)
        root_key = current.root_key() if intermediate else None  # refuse before changing anything
        vault, public = current.vault, read_public(store)
        if intermediate and root_key is not None:
            public[INTERMEDIATE_PEM] = _new_intermediate(config, store, vault, current.root, root_key, requester)
        if ssh:
            previous = current.ssh_ca_public_lines()[0]
            public[SSH_LINES] = _new_ssh_ca(store, vault, requester) + "\n" + previous + "\n"
        write_public(store, public)
        promote(vault, INTERMEDIATE_KEY)
        promote(vault, SSH_CA_KEY)
        authority = Authority(config, store, vault, public)
        publish_files(authority)
        from .revocation import write_krl

        write_krl(config, store, authority)
        state = authority.status()
        audit.append(
            store,
            actor=requester,
            action="pki.rotate",
            target="ca",
            details={
                "ssh": ssh,
                "intermediate": intermediate,
                "intermediate_fingerprint": state.intermediate_fingerprint,
                "ssh_ca": list(state.ssh_ca_fingerprints),
            },
        )
        return authority
