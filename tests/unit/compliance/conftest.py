"""Fixtures of the compliance tests: the shipped catalog and the recorded evidence."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from controlplane.compliance.catalog import Catalog, load_catalog

EVIDENCE = Path(__file__).resolve().parent / "evidence"
# host.time of the recordings: scans in the tests happen "then"
SCAN_TIME = datetime.fromtimestamp(1795600000.0, UTC)


PKI = EVIDENCE / "pki"
# The control plane's CA as the certificate controls see it (control-plane facts; see evidence/pki/make.py)
PKI_FACTS = {
    "pki.ssh_ca": (PKI / "ssh_ca.pub").read_text(encoding="utf-8"),
    "pki.x509_chain": (PKI / "chain.pem").read_text(encoding="utf-8"),
}


def recorded(name: str) -> dict[str, Any]:
    """A fresh copy of a recorded evidence document (fresh_host, hardened_host, lab_host)."""
    return copy.deepcopy(json.loads((EVIDENCE / f"{name}.json").read_text(encoding="utf-8")))


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    """The shipped catalog (loaded once)."""
    return load_catalog()
