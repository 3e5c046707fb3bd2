"""Evidence digests: a scan's results and a handed-out report are digested with ``audit.hash`` (SM3 or SHA-256)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

import pytest
from sqlalchemy import update

from controlplane import audit
from controlplane.compliance.export import report_digest
from controlplane.compliance.history import load_scan, results_digest
from controlplane.compliance.models import ComplianceResult
from tests.unit.compliance.test_service import scan_once

pytestmark = pytest.mark.skipif(not audit.hash_available("sm3"), reason="this OpenSSL offers no SM3")


@pytest.fixture(scope="module")
def inventory() -> Any:
    from controlplane.inventory import load_inventory
    from tests.conftest import REPO

    return load_inventory(REPO / "inventory" / "lab.yml")


@pytest.fixture
def sm3_config(config: Any, store: Any) -> Any:
    changed = dataclasses.replace(config, audit_hash="sm3")
    store.config = changed
    return changed


def test_a_scans_audit_record_holds_the_sm3_digest_of_its_stored_results(sm3_config, store, inventory) -> None:
    outcome = scan_once(sm3_config, store, inventory)
    record = audit.list_records(store, limit=1)[0]
    digest = json.loads(record.details)["evidence_digest"]
    assert digest.startswith("sm3:") and len(digest) == 4 + 64
    with store.session() as session:
        stored = load_scan(session, outcome.scan_id)
    assert results_digest(stored.scan.results, "sm3") == digest
    assert audit.verify(store).ok


def test_a_stored_result_edited_after_the_scan_no_longer_matches_its_digest(sm3_config, store, inventory) -> None:
    outcome = scan_once(sm3_config, store, inventory)
    digest = json.loads(audit.list_records(store, limit=1)[0].details)["evidence_digest"]
    with store.session() as session:
        session.execute(
            update(ComplianceResult).where(ComplianceResult.scan_id == outcome.scan_id).values(status="pass")
        )
    with store.session() as session:
        stored = load_scan(session, outcome.scan_id)
    assert results_digest(stored.scan.results, "sm3") != digest


def test_the_default_digest_is_sha256_and_names_itself(config, store, inventory) -> None:
    scan_once(config, store, inventory)
    assert json.loads(audit.list_records(store, limit=1)[0].details)["evidence_digest"].startswith("sha256:")


def test_a_reports_digest_follows_the_setting(config) -> None:
    content = b'{"title": "EduGov compliance report"}'
    assert report_digest(config, content) == "sha256:" + hashlib.sha256(content).hexdigest()
    sm3 = report_digest(dataclasses.replace(config, audit_hash="sm3"), content)
    assert sm3 == "sm3:" + hashlib.new("sm3", content).hexdigest() and audit.check_evidence_digest(content, sm3)
