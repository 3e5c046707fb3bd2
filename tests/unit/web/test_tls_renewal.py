"""The scheduled TLS renewal: the console's certificate past renew_at, the web hosts', nothing without a CA."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from cryptography import x509

from controlplane.config import Config
from controlplane.store import Store
from controlplane.web import tls_renewal
from controlplane.web.console_tls import ensure_console_certificate


def _serial(path: Path) -> int:
    return x509.load_pem_x509_certificate(path.read_bytes()).serial_number


@pytest.fixture
def ca(config: Config, store: Store) -> Config:
    from controlplane.pki.authority import init_authority

    init_authority(config, store, "test")
    return config


def test_the_console_certificate_is_kept_while_young_and_renewed_past_renew_at_with_its_names(
    ca: Config, store: Store
) -> None:
    files, _ = ensure_console_certificate(ca, store, "192.0.2.9")  # as `egov serve --host 192.0.2.9` made it
    serial = _serial(files.cert)
    assert tls_renewal.renew_console(ca, store) is None
    assert _serial(files.cert) == serial
    due = dataclasses.replace(ca, pki=dataclasses.replace(ca.pki, renew_at=0.0))  # every certificate is due
    assert tls_renewal.renew_console(due, store) == "console certificate renewed"
    assert _serial(files.cert) != serial
    from controlplane import tls_check

    assert "192.0.2.9" in tls_check.names_in(files.cert.read_bytes())[1]  # the names in use are kept


def test_a_console_on_the_operator_s_certificate_or_plain_http_is_left_alone(ca: Config, store: Store) -> None:
    assert tls_renewal.renew_console(ca, store) is None  # never served from the CA: no console.pem
    assert not (ca.state_dir / "pki" / "console.pem").exists()


def test_the_job_does_nothing_without_a_ca(config: Config, store: Store) -> None:
    assert tls_renewal.scheduled_renewal(str(config.source), store) == {}


def test_the_job_renews_and_audits(ca: Config, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from controlplane import audit

    ensure_console_certificate(ca, store, "127.0.0.1")
    monkeypatch.setattr(tls_renewal, "renew_services", lambda _c, _s: {"issued": ["mn-oa-1"], "kept": [],
                                                                         "failed": [], "skipped": []})  # fmt: skip
    report = tls_renewal.scheduled_renewal(str(ca.source), store)
    assert report["issued"] == ["mn-oa-1"]
    assert any(r.action == "pki.tls_renewal" for r in audit.list_records(store))


def test_the_job_is_among_the_serve_schedules() -> None:
    from controlplane.web.schedules import JOB_SOURCES

    assert any(source.__name__ == "tls_renewal" for source in JOB_SOURCES)
