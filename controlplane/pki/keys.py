"""Key and certificate building blocks of the CA, all with ``cryptography`` (no key ever made by a subprocess).

Pure functions: make keys, serialise them, build the X.509 root and
intermediate, compute fingerprints, parse OpenSSH public key lines. Nothing
here touches the store, the vault or the disk.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
import secrets

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.x509.oid import NameOID

from controlplane.errors import BadInputError

ROOT_VALIDITY = dt.timedelta(days=3650)  # the root is touched only to sign intermediates
INTERMEDIATE_VALIDITY = dt.timedelta(days=730)  # rotated with `egov ca rotate` well before this
BACKDATE = dt.timedelta(minutes=5)  # tolerance for clocks a little behind ours
SSH_KEY_TYPES = frozenset(
    {"ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa"}
)
PUBLIC_LINE = re.compile(r"^([a-z0-9@.-]{1,64}) ([A-Za-z0-9+/]{16,16384}={0,2})(?: [^\x00-\x1f\x7f]{0,255})?$")
FINGERPRINT = re.compile(r"^SHA256:[A-Za-z0-9+/]{43}$")
MAX_SERIAL_BITS = 63  # fits a signed 64-bit column and OpenSSH's unsigned one


def new_serial() -> int:
    """A random, non-zero 63-bit serial (callers check it is unused in the register)."""
    while True:
        serial = secrets.randbits(MAX_SERIAL_BITS)
        if serial:
            return serial


def new_ecdsa_key() -> ec.EllipticCurvePrivateKey:
    """An ECDSA P-256 key: what every TLS client (chromium, OpenSSL, Python) accepts."""
    return ec.generate_private_key(ec.SECP256R1())


def new_ed25519_key() -> ed25519.Ed25519PrivateKey:
    """An Ed25519 key for the SSH CA."""
    return ed25519.Ed25519PrivateKey.generate()


def private_pem(key: PrivateKeyTypes) -> str:
    """Unencrypted PKCS#8 PEM, as text: only ever handed to the vault (encrypted there) or kept in memory."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def load_private_pem(text: str, password: bytes | None = None) -> PrivateKeyTypes:
    """Load a PKCS#8 PEM private key (raises ValueError or TypeError when it is not one or the password is wrong)."""
    return serialization.load_pem_private_key(text.encode("ascii"), password=password)


def ssh_public_line(key: ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey, comment: str = "") -> str:
    """The OpenSSH public key line of an Ed25519 key (``ssh-ed25519 AAAA... comment``)."""
    public = key.public_key() if isinstance(key, ed25519.Ed25519PrivateKey) else key
    line = public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode("ascii")
    return f"{line} {comment}" if comment else line


def split_public_line(line: str) -> tuple[str, bytes]:
    """Return (key type, wire blob) of an OpenSSH public key line; BadInputError when it is not one."""
    text = line.strip() if isinstance(line, str) else ""
    found = PUBLIC_LINE.fullmatch(text)
    if not found:
        raise BadInputError("not an OpenSSH public key line (such as 'ssh-ed25519 AAAA... comment')")
    try:
        blob = base64.b64decode(found.group(2), validate=True)
    except ValueError:
        raise BadInputError("the public key line's base64 does not decode") from None
    return found.group(1), blob


def ssh_fingerprint_of_blob(blob: bytes) -> str:
    """OpenSSH's fingerprint of a key's wire blob (``SHA256:...`` without padding, as `ssh-keygen -l` prints)."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii").rstrip("=")


def ssh_fingerprint(line: str) -> str:
    """The SHA256 fingerprint of an OpenSSH public key line."""
    return ssh_fingerprint_of_blob(split_public_line(line)[1])


def spki_fingerprint(public_key: ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey) -> str:
    """SHA256 of a public key's SubjectPublicKeyInfo, written like OpenSSH's (``SHA256:...``)."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return ssh_fingerprint_of_blob(der)


def cert_fingerprint(certificate: x509.Certificate) -> str:
    """The SHA-256 fingerprint of a certificate as browsers show it (hex pairs with colons)."""
    return certificate.fingerprint(hashes.SHA256()).hex(":").upper()


def _name(common_name: str, organisation: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation[:64] or "EduGov"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name[:64]),
        ]
    )


def _ca_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def make_root(key: ec.EllipticCurvePrivateKey, organisation: str, now: dt.datetime) -> x509.Certificate:
    """The self-signed root: CA:TRUE with pathlen 1 (it signs intermediates only), key usage, SKI/AKI."""
    name = _name(f"{organisation[:40]} Root CA", organisation)
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(new_serial())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + ROOT_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(_ca_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def make_intermediate(
    key: ec.EllipticCurvePrivateKey,
    root: x509.Certificate,
    root_key: ec.EllipticCurvePrivateKey,
    organisation: str,
    now: dt.datetime,
    serial: int,
) -> x509.Certificate:
    """The day-to-day signing CA: CA:TRUE pathlen 0, signed by the root, valid at most until the root's end."""
    public = key.public_key()
    not_after = min(now + INTERMEDIATE_VALIDITY, root.not_valid_after_utc)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(f"{organisation[:29]} Intermediate CA {now:%Y-%m-%d}", organisation))
        .issuer_name(root.subject)
        .public_key(public)
        .serial_number(serial)
        .not_valid_before(now - BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()),
            critical=False,
        )
        .sign(root_key, hashes.SHA256())
    )


def same_public_key(a: PrivateKeyTypes, certificate: x509.Certificate) -> bool:
    """True when private key ``a`` belongs to ``certificate``'s public key."""
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return a.public_key().public_bytes(*fmt) == certificate.public_key().public_bytes(*fmt)
