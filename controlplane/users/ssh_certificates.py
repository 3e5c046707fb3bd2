"""SSH user certificates for people: a short-lived certificate for the hosts of a console user's scope.

Why certificates and not keys in ``authorized_keys``: a certificate expires
on its own (default ``pki.user_validity``, 8 h; never more than
MAX_VALIDITY), names what it opens (principals ``site:<name>``, matched by
each host's ``/etc/ssh/egov_principals/root``, which lists the host's site
and its ancestors), and is issued only after a current TOTP code: a stolen
laptop key alone opens nothing tomorrow. That is the two-factor login to
servers MLPS 2.0 level 3 asks for (8.1.4.1 身份鉴别).

A user whose ``sites`` is empty (every site) gets ``site:<root>`` for each
root site of the inventory (``site:ministry`` in the lab); a user scoped to
``province-gd`` gets ``site:province-gd``, which a school of that province
lists as an ancestor and a ministry host does not.

Only roles holding ``ssh.certificate`` (:mod:`controlplane.permissions`)
get one: a certificate opens a root shell, which auditors and security
officers must not have (separation of duties). Wrong codes count against the
login throttle (the same budget as the console's login) and are audited as
``pki.issue`` with outcome ``failed`` and no code; a successful issuance is
audited by :func:`controlplane.pki.issue.sign_user_key`.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from controlplane.errors import BadInputError
from controlplane.permissions import PERMISSIONS
from controlplane.users.accounts import get_user
from controlplane.users.fields import USER_NAME
from controlplane.users.login import second_factor_failed
from controlplane.users.passwords import AuthError
from controlplane.users.throttle import locked_until, throttle_keys

if TYPE_CHECKING:
    from controlplane.config import Config
    from controlplane.inventory import Inventory
    from controlplane.pki.issue import IssuedSSH
    from controlplane.store import Store
    from controlplane.vault import Vault

PERMISSION = "ssh.certificate"
MAX_VALIDITY = dt.timedelta(hours=24)
MIN_VALIDITY = dt.timedelta(minutes=1)
MIN_RSA_BITS = 3072
# A public key line is a few hundred characters (RSA 16384: under 3 000); anything far longer is not one.
MAX_KEY_LINE = 8192
ECDSA_CURVES = {"ecdsa-sha2-nistp256": 256, "ecdsa-sha2-nistp384": 384, "ecdsa-sha2-nistp521": 521}
KEY_TYPES = ("ssh-ed25519", "ssh-rsa", *ECDSA_CURVES)
_DURATION = re.compile(r"(\d{1,5})([dhms])")
_UNIT = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_BASE64 = re.compile(r"^[A-Za-z0-9+/]+={0,2}$")


class CodeLockedError(AuthError):
    """The user's name or the client's address is locked by the login throttle: no code is looked at."""


@dataclass(frozen=True)
class UserCertificate:
    """An issued certificate and what it opens: hosts per site of the inventory."""

    user: str
    issued: IssuedSSH
    fingerprint: str
    hosts_per_site: dict[str, int]

    @property
    def host_count(self) -> int:
        """How many inventory hosts accept the certificate."""
        return sum(self.hosts_per_site.values())


def parse_validity(text: str) -> dt.timedelta:
    """``8h``, ``90m``, ``1h30m``, ``1d`` as a timedelta between MIN_VALIDITY and MAX_VALIDITY.

    Raises BadInputError for text that is not such a duration or lies outside those bounds.
    """
    value = (text or "").strip()
    parts = _DURATION.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        raise BadInputError("the validity must be a duration such as 8h, 90m or 1h30m")
    return check_validity(dt.timedelta(seconds=sum(int(n) * _UNIT[u] for n, u in parts)))


def check_validity(validity: dt.timedelta) -> dt.timedelta:
    """Return ``validity`` when it lies within MIN_VALIDITY..MAX_VALIDITY; raise BadInputError otherwise."""
    if validity > MAX_VALIDITY:
        raise BadInputError("a certificate for a person is valid at most 24h: ask again tomorrow")
    if validity < MIN_VALIDITY:
        raise BadInputError("the validity must be at least 1m")
    return validity


def check_public_key(text: str) -> str:
    """Return ``type base64`` of an OpenSSH public key line (the comment dropped), or raise BadInputError.

    Accepted: Ed25519, ECDSA (P-256/384/521) and RSA of at least 3072 bits.
    Refused with a message saying why: DSA and short RSA keys, certificates,
    security-key (``sk-``) types, private keys, several lines, anything that
    does not parse. The comment is dropped: it is free text a certificate
    does not need and a log should not carry.
    """
    lines = [line.strip() for line in (text or "").splitlines() if line.strip() and not line.startswith("#")]
    if not lines:
        raise BadInputError("no public key given (the contents of a .pub file, one line)")
    if "PRIVATE KEY" in text:
        raise BadInputError("that is a private key: give the public key (the .pub file), never the private one")
    if len(lines) > 1:
        raise BadInputError("give exactly one public key line")
    line = lines[0]
    if len(line) > MAX_KEY_LINE:
        raise BadInputError("the public key line is too long")
    fields = line.split()
    key_type, blob_text = fields[0], fields[1] if len(fields) > 1 else ""
    _check_key_type(key_type)
    if not _BASE64.match(blob_text):
        raise BadInputError("the public key line is not valid: it must read '<type> <base64> [comment]'")
    _check_key_material(key_type, blob_text)
    return f"{key_type} {blob_text}"


def _check_key_type(key_type: str) -> None:
    if key_type in KEY_TYPES:
        return
    shown = key_type if re.fullmatch(r"[A-Za-z0-9@._-]{1,64}", key_type) else "(unreadable)"
    if "-cert-" in key_type:
        reason = "that is a certificate: give the public key it was issued for"
    elif key_type == "ssh-dss":
        reason = "DSA keys are refused (too weak); make one with ssh-keygen -t ed25519"
    elif key_type.startswith("sk-"):
        reason = f"security-key type {shown} is not supported yet; use ssh-keygen -t ed25519"
    else:
        reason = f"key type {shown} is refused; use ed25519, ecdsa or rsa of at least {MIN_RSA_BITS} bits"
    raise BadInputError(reason)


def _check_key_material(key_type: str, blob_text: str) -> None:
    """Parse the key with ``cryptography`` (the text's type must match the blob's) and check its strength."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_ssh_public_key

    try:
        key = load_ssh_public_key(f"{key_type} {blob_text}".encode("ascii"))
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise BadInputError(f"the public key does not parse as {key_type}") from None
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < MIN_RSA_BITS:
        raise BadInputError(f"RSA keys need at least {MIN_RSA_BITS} bits (this one has {key.key_size})")
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.key_size != ECDSA_CURVES.get(key_type):
        raise BadInputError("the ECDSA key's curve does not match its type")
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
        raise BadInputError(f"key type {key_type} is refused")


def fingerprint(key_line: str) -> str:
    """The OpenSSH ``SHA256:...`` fingerprint of a checked public key line (as ``ssh-keygen -l`` prints it)."""
    blob = base64.b64decode(key_line.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii").rstrip("=")


def root_sites(inventory: Inventory) -> list[str]:
    """The inventory's top sites (no parent, or a parent the inventory does not define): ``ministry`` in the lab."""
    return sorted(s.name for s in inventory.sites.values() if s.parent is None or s.parent not in inventory.sites)


def principal_sites(user_sites: list[str] | None, inventory: Inventory) -> tuple[str, ...]:
    """The sites a certificate names for a user's scope: the root site(s) for everyone, else the user's sites.

    A site below another of the user's sites is left out (the higher one
    already opens it: hosts list their ancestors); sites the inventory no
    longer has are left out too. Raises BadInputError when nothing remains.
    """
    wanted = list(user_sites or []) or root_sites(inventory)
    known = [site for site in dict.fromkeys(wanted) if site in inventory.sites]
    kept = [s for s in known if not any(o != s and s in inventory.site_and_descendants(o) for o in known)]
    if not kept:
        raise BadInputError("none of the user's sites is in the inventory: the certificate would open nothing")
    return tuple(sorted(kept))


def hosts_per_site(sites: tuple[str, ...], inventory: Inventory) -> dict[str, int]:
    """How many inventory hosts each site holds among those a certificate for ``sites`` opens."""
    below: set[str] = set()
    for site in sites:
        below |= inventory.site_and_descendants(site)
    counts: dict[str, int] = {}
    for host in inventory.hosts:
        if host.site in below:
            counts[host.site] = counts.get(host.site, 0) + 1
    return dict(sorted(counts.items()))


def issue_user_certificate(
    config: Config,
    store: Store,
    vault: Vault,
    inventory: Inventory,
    *,
    user_name: str,
    public_key: str,
    code: str,
    validity: dt.timedelta | None = None,
    caller: str | None = None,
    client: str = "local",
    now: dt.datetime | None = None,
) -> UserCertificate:
    """Issue a certificate to ``user_name`` for ``public_key`` after checking a current TOTP code of theirs.

    ``caller`` is who asks (the user on the console, ``<os user>@cli`` on the
    command line; None: the user); ``client`` the address, for the throttle
    and the audit. Checks, in this order, so that a mistake in the request
    never spends a code: the user exists, is active, holds ``ssh.certificate``
    and has TOTP; the key and validity are acceptable; the CA is open; the
    name and address are not locked by the throttle; then the code (valid
    now, never used before). Raises BadInputError for the request (unknown
    user, bad key, validity over 24h, no TOTP), AuthError for a wrong or
    replayed code and CodeLockedError while the throttle holds (both
    audited), CANotInitialisedError without a CA. Costs one Ed25519
    signature and a few store writes.
    """
    if not isinstance(user_name, str) or not USER_NAME.match(user_name):
        raise BadInputError("not a user name")
    who = caller or user_name
    with store.session() as session:
        user = get_user(session, user_name)
        if user is not None:
            session.expunge(user)
    if user is None:
        raise BadInputError(f"no user named {user_name!r}")
    refusal = _refusal(user.role, user.disabled, user.totp_enabled)
    if refusal:
        _audit_refusal(store, who, user_name, client, refusal, user.sites)
        raise BadInputError(f"{user_name}: {refusal}")
    key_line = check_public_key(public_key)
    chosen = check_validity(validity) if validity is not None else check_validity(config.pki.user_validity)
    sites = principal_sites(user.sites, inventory)
    from controlplane.pki import issue, revocation
    from controlplane.pki.authority import open_authority

    authority = open_authority(config, store)
    key_fingerprint = fingerprint(key_line)
    if revocation.is_revoked(store, serial=None, fingerprint=key_fingerprint):
        _audit_refusal(store, who, user_name, client, "key revoked", user.sites, fingerprint=key_fingerprint)
        raise BadInputError(f"the key {key_fingerprint} is revoked: make a new key pair")
    _check_code(store, vault, user_name, who, code, client, user.sites, now)
    requester = user_name if who == user_name else f"{user_name} (asked by {who})"
    issued = issue.sign_user_key(
        authority,
        key_line,
        user=user_name,
        principals=[f"site:{site}" for site in sites],
        validity=chosen,
        requester=requester,
        site=_audit_site(user.sites),
    )
    return UserCertificate(user_name, issued, key_fingerprint, hosts_per_site(sites, inventory))


def _refusal(role: str, disabled: bool, totp_enabled: bool) -> str | None:
    """Why this account gets no certificate, or None."""
    if disabled:
        return "the account is disabled"
    if role not in PERMISSIONS[PERMISSION]:
        allowed = ", ".join(sorted(PERMISSIONS[PERMISSION]))
        return f"role {role} gets no SSH certificate (only {allowed})"
    if not totp_enabled:
        return "no second factor: enrol TOTP first (console: your profile, Set up the second factor)"
    return None


def _check_code(
    store: Store,
    vault: Vault,
    user_name: str,
    who: str,
    code: str,
    client: str,
    sites: list[str],
    now: dt.datetime | None,
) -> None:
    """Check the code against the throttle, the enrolled secret and the replay guard; audit and raise when wrong.

    The session's writes (the step used, a failure counted) commit before the
    audit record: on SQLite the audit chain's writer would otherwise wait for
    this session's lock.
    """
    from controlplane.totp import verify_totp

    keys = throttle_keys(user_name, client)
    newly_locked: tuple[str, ...] = ()
    with store.session() as session:
        locked = locked_until(session, keys, now)
        ok = False
        if locked is None:
            user = get_user(session, user_name)
            ok = user is not None and verify_totp(session, vault, user, code, now)
            if not ok:
                newly_locked = second_factor_failed(session, user_name, client, now).newly_locked
    if locked is not None:
        _audit_refusal(store, who, user_name, client, "locked", sites, outcome="locked")
        raise CodeLockedError(f"too many wrong attempts for {user_name}: try again after {locked:%H:%M} UTC")
    if not ok:
        _audit_refusal(store, who, user_name, client, "wrong or reused TOTP code", sites, outcome="failed")
        for key in newly_locked:
            _audit(store, who, "auth.lockout", key, client, "locked", {"via": "ssh-certificate"}, None)
        raise AuthError("the TOTP code is wrong or was already used: wait for the next code and try again")


def _audit_refusal(
    store: Store,
    who: str,
    user_name: str,
    client: str,
    reason: str,
    sites: list[str] | None,
    outcome: str = "refused",
    fingerprint: str | None = None,
) -> None:
    """Audit a refused issuance as ``pki.issue`` (kind ssh-user) with the reason and never the code."""
    details: dict[str, object] = {"kind": "ssh-user", "subject": user_name, "reason": reason}
    if fingerprint:
        details["fingerprint"] = fingerprint
    _audit(store, who, "pki.issue", f"ssh-user:{user_name}", client, outcome, details, _audit_site(sites))


def _audit_site(sites: list[str] | None) -> str | None:
    """The site a record about this user belongs to: their one site, else None (ministry level)."""
    scope = list(sites or [])
    return scope[0] if len(scope) == 1 else None


def _audit(
    store: Store,
    who: str,
    action: str,
    target: str,
    client: str,
    outcome: str,
    details: dict[str, object],
    site: str | None,
) -> None:
    from controlplane import audit

    audit.append(store, actor=who, action=action, target=target, outcome=outcome, client=client,
                 details=details, site=site)  # fmt: skip
