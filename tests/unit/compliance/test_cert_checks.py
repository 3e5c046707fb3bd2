"""The certificate controls (issue 15) on recorded evidence: a certified host passes, one without the files fails."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from controlplane.compliance.catalog import Catalog
from controlplane.compliance.checks import CheckContext, run_check
from controlplane.compliance.evaluate import HostContext, evaluate_control
from controlplane.compliance.facts import pki_facts
from tests.unit.compliance.conftest import PKI, PKI_FACTS, SCAN_TIME, recorded

CERT = "/etc/ssh/ssh_host_ed25519_key-cert.pub"
HOST_CERT = {"type": "ssh_certificate", "path": CERT, "kind": "host", "min_days_left": 7}
TLS = {"type": "tls_certificate", "port": 443, "min_days_left": 14}
VALID_TO = SCAN_TIME.replace(year=2028, month=1, day=1, hour=0, minute=0, second=0)  # evidence/pki/make.py
CONTROLS = ("ssh.host-certificate", "ssh.user-certificate-login", "tls.certificate-valid")


def ctx(evidence: dict[str, Any], facts: dict[str, Any] | None = None, now: datetime = SCAN_TIME) -> CheckContext:
    return CheckContext(evidence=evidence, store=PKI_FACTS if facts is None else facts, now=now)


def host(name: str, role: str = "portal", facts: dict[str, Any] | None = None) -> HostContext:
    return HostContext(name, "ministry", (role,), PKI_FACTS if facts is None else facts)


@pytest.mark.parametrize("control_id", CONTROLS)
def test_a_certified_host_passes_and_a_host_without_the_files_fails(catalog: Catalog, control_id: str) -> None:
    control = catalog.get(control_id)
    certified = evaluate_control(control, recorded("hardened_host"), host("mn-portal-1"), SCAN_TIME)
    assert certified.status == "pass", certified
    bare = evaluate_control(control, recorded("fresh_host"), host("mn-portal-1"), SCAN_TIME)
    assert bare.status == "fail", bare


def test_the_new_controls_map_to_mlps_and_nist_as_asked(catalog: Catalog) -> None:
    clauses = {ref["clause"] for cid in CONTROLS for ref in catalog.get(cid).references["mlps"]}
    nist = {ref for cid in CONTROLS for ref in catalog.get(cid).references["nist"]}
    assert clauses == {"8.1.4.1", "8.1.2.2"} and {"IA-2", "IA-5", "SC-8", "SC-17"} <= nist


def test_the_host_certificate_found_value_reads_like_ssh_keygen_l() -> None:
    outcome = run_check(HOST_CERT, ctx(recorded("hardened_host")))
    assert outcome.status == "pass"
    assert "host certificate serial 4242, valid 2026-01-01 00:00 UTC to 2028-01-01 00:00 UTC" in outcome.found
    assert "signed by the control plane's SSH CA" in outcome.found


def test_a_host_certificate_expiring_within_7_days_fails() -> None:
    outcome = run_check(HOST_CERT, ctx(recorded("hardened_host"), now=VALID_TO - timedelta(days=6)))
    assert outcome.status == "fail" and "within 7 days" in outcome.message
    expired = run_check(HOST_CERT, ctx(recorded("hardened_host"), now=VALID_TO + timedelta(seconds=1)))
    assert expired.status == "fail" and "expired" in expired.message


def test_a_certificate_from_another_ssh_ca_fails() -> None:
    other = {"pki.ssh_ca": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl other\n"}
    outcome = run_check(HOST_CERT, ctx(recorded("hardened_host"), other))
    assert outcome.status == "fail" and "not signed by the control plane's SSH CA" in outcome.message


def test_a_user_certificate_in_the_host_certificates_place_fails() -> None:
    evidence = recorded("hardened_host")
    evidence["texts"][CERT]["files"][0]["text"] = (PKI / "user-cert.pub").read_text(encoding="utf-8")
    outcome = run_check(HOST_CERT, ctx(evidence))
    assert outcome.status == "fail" and "user certificate" in outcome.message


def test_a_plain_public_key_is_not_a_certificate() -> None:
    evidence = recorded("hardened_host")
    evidence["texts"][CERT]["files"][0]["text"] = (PKI / "ssh_ca.pub").read_text(encoding="utf-8")
    assert "not a certificate" in run_check(HOST_CERT, ctx(evidence)).found


def test_without_the_control_planes_ssh_ca_the_validity_still_counts_and_says_the_ca_was_not_checked() -> None:
    outcome = run_check(HOST_CERT, ctx(recorded("hardened_host"), {}))
    assert outcome.status == "pass" and "signing CA not checked" in outcome.found


def test_sshd_not_presenting_the_host_certificate_fails_the_control(catalog: Catalog) -> None:
    evidence = recorded("hardened_host")
    del evidence["sshd"]["config"]["hostcertificate"]
    result = evaluate_control(catalog.get("ssh.host-certificate"), evidence, host("mn-portal-1"), SCAN_TIME)
    assert result.status == "fail" and "hostcertificate (not set)" in result.found


def test_sshd_without_trusted_user_ca_keys_fails_user_certificate_login(catalog: Catalog) -> None:
    evidence = recorded("hardened_host")
    evidence["sshd"]["config"]["trustedusercakeys"] = ["none"]
    result = evaluate_control(catalog.get("ssh.user-certificate-login"), evidence, host("mn-portal-1"), SCAN_TIME)
    assert result.status == "fail"


def test_the_tls_certificate_passes_with_its_days_left_and_fails_within_14_days() -> None:
    outcome = run_check(TLS, ctx(recorded("hardened_host")))
    assert outcome.status == "pass" and "CN=mn-portal-1, issued by CN=Test EduGov Intermediate CA" in outcome.found
    late = run_check(TLS, ctx(recorded("hardened_host"), now=VALID_TO - timedelta(days=13)))
    assert late.status == "fail" and "within 14 days" in late.message


def test_a_tls_certificate_with_the_right_names_from_another_key_fails() -> None:
    evidence = recorded("hardened_host")
    evidence["tls"]["443"]["der"] = (PKI / "forged.der.b64").read_text(encoding="utf-8").strip()
    outcome = run_check(TLS, ctx(evidence))
    assert outcome.status == "fail" and "not issued by the control plane's CA" in outcome.message


def test_a_port_without_tls_fails_and_no_ca_is_an_error_not_a_pass() -> None:
    assert run_check(TLS, ctx(recorded("fresh_host"))).status == "fail"
    outcome = run_check(TLS, ctx(recorded("hardened_host"), {}))
    assert outcome.status == "error" and "egov ca init" in outcome.message


def test_the_tls_control_applies_to_portal_and_office_hosts_only(catalog: Catalog) -> None:
    control = catalog.get("tls.certificate-valid")
    office = evaluate_control(control, recorded("hardened_host"), host("mn-office-1", "office"), SCAN_TIME)
    database = evaluate_control(control, recorded("hardened_host"), host("mn-db-1", "database"), SCAN_TIME)
    assert (office.status, database.status) == ("pass", "not_applicable")


def test_the_collector_is_asked_for_the_certificate_files_and_port_443(catalog: Catalog) -> None:
    from controlplane.compliance.collector import build_request

    request = build_request([catalog.get(cid) for cid in CONTROLS])
    assert request["tls"] == [443]
    assert {CERT, "/etc/ssh/egov_user_ca.pub"} <= set(request["texts"]) and request["sshd"] is True


def test_the_collector_fetches_a_served_certificate_and_reports_a_closed_port(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import base64
    import socket
    import ssl
    import threading

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from tests.unit.compliance.test_collector import run_collector

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "collector-test")])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(7).not_valid_before(SCAN_TIME).not_valid_after(SCAN_TIME + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "cert.pem", tmp_path / "key.pem")
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve_once() -> None:
        conn, _ = listener.accept()
        try:
            with context.wrap_socket(conn, server_side=True):
                pass
        except (OSError, ssl.SSLError):
            pass

    thread = threading.Thread(target=serve_once, daemon=True)
    thread.start()
    closed = socket.create_server(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    evidence = run_collector({"tls": [port, closed_port]})
    thread.join(5)
    listener.close()
    served = evidence["tls"][str(port)]
    assert served["ok"], served
    assert x509.load_der_x509_certificate(base64.b64decode(served["der"])).serial_number == 7
    assert not evidence["tls"][str(closed_port)]["ok"]
    assert "Refused" in evidence["tls"][str(closed_port)]["error"]


def test_the_ca_facts_come_from_the_control_planes_public_pki_files(config) -> None:  # type: ignore[no-untyped-def]
    assert pki_facts(config) == {}
    folder = config.state_dir / "pki"
    folder.mkdir(parents=True)
    (folder / "ssh_ca.pub").write_text(PKI_FACTS["pki.ssh_ca"], encoding="utf-8")
    (folder / "chain.pem").write_text(PKI_FACTS["pki.x509_chain"], encoding="utf-8")
    assert pki_facts(config) == PKI_FACTS
    assert json.dumps(pki_facts(config))  # plain text: safe to hand to the evaluator and keep with a scan
