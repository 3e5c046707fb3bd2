"""TCP connect, HTTP(S) and SSH-banner probes: plain sockets, no shell, no proxy.

HTTP uses :mod:`http.client` directly rather than a higher-level client:
it never reads proxy variables from the environment (a probe must reach the
host it names, not a proxy), never follows redirects (a redirect is a status
to judge), and gives the peer certificate for the days-left check.

HTTPS is verified (chain and host name) against the probe's ``ca_file`` when
it names one, else against the system's roots *and* the control plane's own CA
(``state/pki/root.pem``, handed in by the monitor), so the lab's services,
whose certificates that CA issued, verify with no option at all.
"""

from __future__ import annotations

import datetime as dt
import http.client
import os
import re
import socket
import ssl
import time
from urllib.parse import urlsplit

from controlplane.monitoring.results import ProbeResult, Sample, clip
from controlplane.monitoring.spec import Check

BODY_LIMIT = 1024 * 1024


def _result(check: Check, started: float, success: bool, message: str, samples: list[Sample]) -> ProbeResult:
    return ProbeResult(
        check=check.probe.name,
        type=check.probe.type,
        host=check.host,
        site=check.site,
        role=check.role,
        success=success,
        duration=time.monotonic() - started,
        message=clip(message),
        samples=samples,
    )


def tcp_probe(check: Check) -> ProbeResult:
    """Connect to the host's address on ``port``; success when the handshake completes."""
    started = time.monotonic()
    port = int(check.probe.options["port"])
    try:
        with socket.create_connection((check.address, port), timeout=check.probe.timeout):
            pass
    except OSError as error:
        return _result(check, started, False, f"tcp {check.address}:{port}: {error.strerror or error}", [])
    return _result(check, started, True, f"tcp {check.address}:{port} open", [])


def ssh_probe(check: Check) -> ProbeResult:
    """Connect to sshd and read its banner (``SSH-2.0-...``) without logging in.

    Cheap enough to run every few seconds on every host, and independent of
    pooled connections, so it reports whether sshd accepts *new* connections.
    """
    started = time.monotonic()
    where = f"{check.address}:{check.port}"
    try:
        with socket.create_connection((check.address, check.port), timeout=check.probe.timeout) as sock:
            sock.settimeout(max(0.05, check.probe.timeout - (time.monotonic() - started)))
            banner = sock.recv(256).split(b"\n", 1)[0].strip().decode("ascii", "replace")
    except OSError as error:
        return _result(check, started, False, f"ssh {where}: {error.strerror or error}", [])
    if not banner.startswith("SSH-"):
        return _result(check, started, False, f"ssh {where}: no SSH banner (got {banner[:60]!r})", [])
    return _result(check, started, True, f"ssh {where}: {banner[:80]}", [])


def expand_url(template: str, check: Check) -> str:
    """Replace {address}, {host} and {site} in a URL template for one host."""
    return template.replace("{address}", check.address).replace("{host}", check.host).replace("{site}", check.site)


def _tls_context(options: dict[str, object], default_ca_file: str | None) -> ssl.SSLContext:
    """The client context of an HTTPS probe (see the module docstring for whom it trusts)."""
    ca_file = options.get("ca_file")
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    if not ca_file and default_ca_file and os.path.exists(default_ca_file):
        context.load_verify_locations(cafile=default_ca_file)
    if options.get("tls_verify", True) is False:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _cert_expiry_seconds(sock: ssl.SSLSocket) -> float | None:
    der = sock.getpeercert(binary_form=True)
    if not der:
        return None
    from cryptography import x509

    certificate = x509.load_der_x509_certificate(der)
    return (certificate.not_valid_after_utc - dt.datetime.now(dt.UTC)).total_seconds()


def http_probe(check: Check, default_ca_file: str | None = None) -> ProbeResult:
    """GET (or HEAD) a URL; judge status, body match, latency and TLS certificate.

    Samples: ``http_status_code``, ``http_latency_seconds`` and, over TLS,
    ``tls_cert_expiry_seconds`` and ``tls_cert_days_left`` (until the
    certificate expires; an alert rule on the latter warns ahead). A
    certificate that does not verify (unknown CA, wrong name, expired) fails
    the probe. ``default_ca_file``: the CA trusted beside the system's when
    the probe names no ``ca_file``.
    """
    options = check.probe.options
    started = time.monotonic()
    url = expand_url(options["url"], check)
    parts = urlsplit(url)
    timeout = check.probe.timeout
    samples: list[Sample] = []
    try:
        if parts.scheme == "https":
            context = _tls_context(options, default_ca_file)
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                parts.hostname or "", parts.port or 443, timeout=timeout, context=context
            )
        else:
            connection = http.client.HTTPConnection(parts.hostname or "", parts.port or 80, timeout=timeout)
        try:
            path = parts.path or "/"
            if parts.query:
                path += "?" + parts.query
            connection.connect()
            # Read the certificate now: http.client drops the socket once a closing response is read.
            if isinstance(connection.sock, ssl.SSLSocket):
                left = _cert_expiry_seconds(connection.sock)
                if left is not None:
                    samples.append(Sample("tls_cert_expiry_seconds", round(left, 0)))
                    samples.append(Sample("tls_cert_days_left", round(left / 86400, 2)))
            connection.request(options.get("method", "GET"), path, headers={"User-Agent": "egov-probe/1"})
            response = connection.getresponse()
            body = response.read(BODY_LIMIT)
            latency = time.monotonic() - started
        finally:
            connection.close()
    except (OSError, http.client.HTTPException, ssl.SSLError) as error:
        return _result(check, started, False, f"{url}: {getattr(error, 'strerror', None) or error}", samples)
    samples += [Sample("http_status_code", float(response.status)), Sample("http_latency_seconds", round(latency, 6))]
    problems = []
    expected = options.get("expect_status") or [200]
    if response.status not in expected:
        problems.append(f"status {response.status} (expected {', '.join(map(str, expected))})")
    pattern = options.get("body_match")
    if pattern and re.search(pattern, body.decode("utf-8", "replace")) is None:
        problems.append(f"body does not match {pattern!r}")
    max_latency = options.get("max_latency")
    if max_latency is not None:
        from controlplane.monitoring.labels import parse_duration

        if latency > parse_duration(max_latency):
            problems.append(f"latency {latency:.3f}s over {max_latency}")
    if problems:
        return _result(check, started, False, f"{url}: " + "; ".join(problems), samples)
    days = next((s.value for s in samples if s.name == "tls_cert_days_left"), None)
    validity = "" if days is None else f", certificate valid {days:.0f} more days"
    return _result(check, started, True, f"{url}: {response.status} in {latency * 1000:.0f} ms{validity}", samples)
