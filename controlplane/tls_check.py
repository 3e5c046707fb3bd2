"""Whether a TLS server certificate the CA issued can be kept, or must be issued again.

Shared by the console's certificate (:mod:`controlplane.web.console_tls`) and
the lab services' (:mod:`controlplane.automation.tls_deploy`), so both renew by
the same rule: a certificate is kept while it is signed by the CA's current
intermediate, names every name it must, and less than ``pki.renew_at`` of its
validity has passed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable


def names_in(cert_pem: bytes) -> tuple[set[str], set[str]]:
    """The DNS names (lower case) and IP addresses a PEM certificate's subjectAltName lists.

    Raises ValueError when the PEM is not a certificate.
    """
    from cryptography import x509

    certificate = x509.load_pem_x509_certificate(cert_pem)
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set(), set()
    return (
        {n.lower() for n in names.get_values_for_type(x509.DNSName)},
        {str(a) for a in names.get_values_for_type(x509.IPAddress)},
    )


def not_after(cert_pem: bytes) -> dt.datetime | None:
    """When a PEM certificate expires (UTC), or None when it does not parse."""
    from cryptography import x509

    try:
        return x509.load_pem_x509_certificate(cert_pem).not_valid_after_utc
    except ValueError:
        return None


def still_good(
    cert_pem: bytes,
    issuer_pem: bytes,
    dns: Iterable[str],
    ips: Iterable[str],
    renew_at: float,
    now: dt.datetime,
) -> bool:
    """Whether ``cert_pem`` (its first certificate) can be kept.

    True when it is signed by the first certificate of ``issuer_pem`` (the
    CA's intermediate: a certificate of a replaced CA is renewed), its
    subjectAltName holds every name of ``dns`` and ``ips``, and ``now`` is
    before ``renew_at`` (a fraction, e.g. 0.667) of its validity. Costs one
    signature check; never raises.
    """
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature

    try:
        certificate = x509.load_pem_x509_certificate(cert_pem)
        certificate.verify_directly_issued_by(x509.load_pem_x509_certificate(issuer_pem))
        have_dns, have_ips = names_in(cert_pem)
    except (ValueError, TypeError, InvalidSignature):
        return False
    if not ({d.lower() for d in dns} <= have_dns and set(ips) <= have_ips):
        return False
    start, end = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    return now < start + (end - start) * renew_at
