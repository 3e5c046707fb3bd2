"""The network controls in a stored scan: the network engine's facts reach the evaluation; every format shows them."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from controlplane import providers
from controlplane.compliance.export import load_report, render
from tests.unit.compliance.test_collector import LocalPool
from tests.unit.compliance.test_network_checks import NETWORK_CONTROLS, facts, gateway_nft
from tests.unit.compliance.test_oscal import SCHEMA, oscal_validator
from tests.unit.compliance.test_service import inventory, scan_once  # noqa: F401 - fixture

VIOLATION = "gd-school-1 -> mn-oa-1 10.198.11.13:443/tcp open (expected deny); gd-gw-1 flow:hand-made"


class GatewayPool(LocalPool):
    """Runs the collector locally; gd-gw-1 answers with the recorded boundary ruleset of a provisioned gateway."""

    def run(self, target, argv, *, timeout, input_text):  # type: ignore[no-untyped-def]
        result = super().run(target, argv, timeout=timeout, input_text=input_text)
        if target.name != "gd-gw-1":
            return result
        evidence = json.loads(result.stdout)
        evidence["nft"] = gateway_nft()
        result.stdout = json.dumps(evidence)
        return result


@pytest.fixture
def network_facts() -> Iterator[list[Any]]:
    """The network engine's answer, as the composition root would hand it over (reset afterwards)."""
    asked: list[Any] = []

    def answer(config: Any, store: Any, hosts: Any) -> dict[str, dict[str, Any]]:
        asked.append(hosts)
        recent = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
        return {"gd-gw-1": facts(finished_at=recent), "gd-school-1": facts(finished_at=recent, violations=[VIOLATION])}

    providers.provide(network_facts=answer, backed_up_hosts=lambda config, hosts: set())
    yield asked
    providers.provide()


def test_a_stored_scan_shows_the_network_controls_in_json_csv_html_and_oscal(
    config,
    store,
    inventory,  # noqa: F811
    network_facts,
) -> None:
    outcome = scan_once(config, store, inventory, limit="gd-gw-1,gd-school-1", pool=GatewayPool())
    assert network_facts, "the scan asked the network engine for its facts"
    results = {(r.host, r.control_id): r for r in outcome.scan.results}
    gateway = {cid: results[("gd-gw-1", cid)] for cid in NETWORK_CONTROLS}
    assert {cid: result.found for cid, result in gateway.items() if result.status != "pass"} == {}
    assert results[("gd-school-1", "network.no-violations")].status == "fail"
    assert results[("gd-school-1", "network.default-deny")].status == "not_applicable"

    data = load_report(config, store)
    document = json.loads(render(data, "json"))
    reported = {(r["host"], r["control_id"]) for r in document["results"]}
    assert {("gd-gw-1", cid) for cid in NETWORK_CONTROLS} <= reported
    rows = list(csv.DictReader(io.StringIO(render(data, "csv").decode("utf-8-sig"))))
    violation = next(r for r in rows if r["host"] == "gd-school-1" and r["control_id"] == "network.no-violations")
    assert violation["status"] == "fail" and "gd-school-1 -> mn-oa-1" in violation["found"]
    html = render(data, "html").decode()
    assert "安全区域边界—访问控制" in html and "安全区域边界—安全审计" in html and "安全通信网络—网络架构" in html
    assert "network.no-violations" in html
    oscal = json.loads(render(data, "oscal"))
    text = json.dumps(oscal, ensure_ascii=False)
    assert "network.default-deny" in text and "sc-7" in text.lower() and "ac-4" in text.lower()
    if SCHEMA.exists():
        assert not list(oscal_validator().iter_errors(oscal))
