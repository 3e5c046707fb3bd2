"""Revoking certificates (by serial) and keys (by SHA256 fingerprint); the OpenSSH KRL that carries it to sshd.

The register (``certificates.revoked_at``) is the truth for certificates; a
revoked key is a ``settings`` row ``pki.revoked_key.SHA256:...`` (a key can be
revoked though the CA never certified it, such as a host key pinned before
the CA existed). ``STATE/pki/revoked.krl`` is rebuilt from both after every
change by `ssh-keygen -k` (run through :mod:`controlplane.execute`): it
holds serials and fingerprints only, never key material, so a subprocess
making it is fine. Serials are listed under the current and the previous SSH
CA (serials are unique across the register, so listing them under both
revokes nothing else).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select

from controlplane import audit
from controlplane.errors import BadInputError, EgovError
from controlplane.execute import run
from controlplane.store.models import Setting, utcnow

from . import keys, records
from .published import ca_lock, pki_dir

if TYPE_CHECKING:
    from controlplane.config import Config
    from controlplane.store import Store

    from .authority import Authority

REVOKED_KEY = "pki.revoked_key."
REASON = re.compile(r"^[^\x00-\x1f\x7f]{1,500}$")
SSH_KINDS = ("ssh-host", "ssh-user")
KRL_TIMEOUT = 60.0


def krl_path(config: Config) -> Path:
    """``STATE/pki/revoked.krl``: the OpenSSH KRL hosts use as ``RevokedKeys`` and the control plane reads."""
    return pki_dir(config) / "revoked.krl"


def revoked_keys(store: Store) -> set[str]:
    """Fingerprints of every revoked key."""
    with store.session() as session:
        names = session.scalars(select(Setting.key).where(Setting.key.startswith(REVOKED_KEY, autoescape=True)))
        return {name.removeprefix(REVOKED_KEY) for name in names}


def revoked_serials(store: Store, kinds: tuple[str, ...] | None = None) -> set[int]:
    """Serials of every revoked certificate (of ``kinds``, or all)."""
    query = select(records.Certificate.serial).where(records.Certificate.revoked_at.is_not(None))
    if kinds:
        query = query.where(records.Certificate.kind.in_(kinds))
    with store.session() as session:
        return set(session.scalars(query))


def is_revoked(store: Store, *, serial: int | None, fingerprint: str) -> bool:
    """True when the certificate ``serial`` is revoked or the key ``fingerprint`` is. Two indexed lookups."""
    with store.session() as session:
        if session.get(Setting, REVOKED_KEY + fingerprint) is not None:
            return True
        if serial is None:
            return False
        row = session.scalars(select(records.Certificate).where(records.Certificate.serial == serial)).first()
        return row is not None and row.revoked_at is not None


def revocation_checker(store: Store) -> Callable[[int, str], bool]:
    """A ``revoked(serial, fingerprint)`` test from one snapshot of the register, for checking many hosts."""
    serials, fingerprints = revoked_serials(store), revoked_keys(store)
    return lambda serial, fingerprint: serial in serials or fingerprint in fingerprints


def _check_reason(reason: str) -> str:
    if not isinstance(reason, str) or not REASON.fullmatch(reason.strip()):
        raise BadInputError("a revocation needs a reason: 1-500 characters, no control characters")
    return reason.strip()


def revoke(
    config: Config,
    store: Store,
    *,
    serial: int | None = None,
    fingerprint: str | None = None,
    reason: str,
    requester: str,
) -> list[int]:
    """Revoke a certificate by serial, or a key (and every certificate of it) by fingerprint; rewrite the KRL.

    Returns the serials newly marked revoked. Audited (``pki.revoke``).
    Raises BadInputError (exit 2) for neither or both selectors, an unknown
    serial, a CA serial (rotate instead), a malformed fingerprint or reason;
    CANotInitialisedError before init; EgovError when ssh-keygen fails.
    """
    from .authority import open_authority

    reason = _check_reason(reason)
    if (serial is None) == (fingerprint is None):
        raise BadInputError("revoke by --serial or by --fingerprint (one of them)")
    authority = open_authority(config, store)
    now = utcnow()
    newly: list[int] = []
    with store.session() as session:
        if serial is not None:
            row = session.scalars(select(records.Certificate).where(records.Certificate.serial == serial)).first()
            if row is None:
                raise BadInputError(f"no certificate with serial {serial} (see `egov ca list`)")
            if row.kind == "ca":
                raise BadInputError("a CA certificate is not revoked but replaced: use `egov ca rotate`")
            rows = [row]
        else:
            if not isinstance(fingerprint, str) or not keys.FINGERPRINT.fullmatch(fingerprint):
                raise BadInputError("a fingerprint looks like SHA256: and 43 base64 characters (ssh-keygen -l)")
            rows = list(
                session.scalars(select(records.Certificate).where(records.Certificate.fingerprint == fingerprint))
            )
            if any(row.kind == "ca" for row in rows):
                raise BadInputError("that is a key of the CA itself: use `egov ca rotate` to replace it")
            if session.get(Setting, REVOKED_KEY + fingerprint) is None:
                note = {"reason": reason, "at": now.isoformat(), "by": requester}
                session.add(Setting(key=REVOKED_KEY + fingerprint, value=json.dumps(note)))
        for row in rows:
            if row.revoked_at is None:
                row.revoked_at, row.revoked_reason = now, reason
                newly.append(row.serial)
    write_krl(config, store, authority)
    audit.append(
        store,
        actor=requester,
        action="pki.revoke",
        target=f"serial:{serial}" if serial is not None else f"key:{fingerprint}",
        details={"serials": newly, "serial": serial, "fingerprint": fingerprint, "reason": reason},
    )
    return newly


def write_krl(config: Config, store: Store, authority: Authority) -> Path:
    """Rebuild ``revoked.krl`` from the register with `ssh-keygen -k` and replace the file whole (0644).

    Costs one or two short ssh-keygen runs. Raises EgovError when ssh-keygen
    is missing or fails (the previous KRL then stays in place).
    """
    folder = pki_dir(config)
    folder.mkdir(parents=True, exist_ok=True)
    # Read and write under one lock: the last writer has read every revocation committed before it.
    with ca_lock(config, ".krl.lock"):
        serials = sorted(revoked_serials(store, SSH_KINDS))
        fingerprints = sorted(revoked_keys(store))
        target = krl_path(config)
        with tempfile.TemporaryDirectory(prefix=".krl-", dir=folder) as work:
            spec = Path(work) / "spec"
            spec.write_text(
                "".join(f"serial: {value}\n" for value in serials) + "".join(f"hash: {fp}\n" for fp in fingerprints),
                encoding="ascii",
            )
            output = Path(work) / "revoked.krl"
            for index, line in enumerate(authority.ssh_ca_public_lines()):
                ca_file = Path(work) / f"ca{index}.pub"
                ca_file.write_text(line + "\n", encoding="ascii")
                update = ["-u"] if index else []
                argv = ["ssh-keygen", "-k", *update, "-f", str(output), "-s", str(ca_file), str(spec)]
                try:
                    result = run(argv, timeout=KRL_TIMEOUT)
                except FileNotFoundError:
                    raise EgovError("ssh-keygen is not installed: it writes the revocation list (KRL)") from None
                if not result.ok:
                    raise EgovError(result.error_message("ssh-keygen -k (writing the KRL)"))
            os.chmod(output, 0o644)  # a revocation list is public: sshd and people read it
            os.replace(output, target)
    return target
