"""``egov export slo``: OpenSLO v1 documents and Prometheus rules that ``promtool check rules`` accepts."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO


@pytest.fixture
def shipped(lab_inventory):  # type: ignore[no-untyped-def]
    from controlplane.monitoring.spec_loader import load_monitoring
    from controlplane.slo.spec import load_slo

    return load_slo(REPO / "monitoring", load_monitoring(REPO / "monitoring"), lab_inventory)


def test_the_rules_record_slices_and_ratios_and_alert_on_both_windows(shipped) -> None:  # type: ignore[no-untyped-def]
    from controlplane.slo.export import rules_document

    [group] = [g for g in rules_document(shipped)["groups"] if g["name"] == "egov-slo-portal"]
    assert group["interval"] == "10s"
    records = {r["record"]: r for r in group["rules"] if "record" in r}
    assert (
        records["egov:slo_slice_good:min"]["expr"] == 'min(egov_probe_success{check="portal-vip",host="mn-portal-1"})'
    )
    assert records["egov:slo_slice_good:min"]["labels"] == {"slo": "portal", "site": "ministry"}
    assert set(records) == {
        "egov:slo_slice_good:min",
        *(f"egov:slo_error_ratio:rate{w}" for w in ("5m", "30m", "1h", "6h")),
    }
    alerts = [r for r in group["rules"] if "alert" in r]
    assert [a["labels"]["window"] for a in alerts] == ["1h/5m", "6h/30m"]
    assert alerts[0]["expr"] == (
        'egov:slo_error_ratio:rate1h{slo="portal"} >= 0.0144 and egov:slo_error_ratio:rate5m{slo="portal"} >= 0.0144'
    )


def test_openslo_documents_name_the_service_its_timeslices_and_burn_rate_policy(shipped) -> None:  # type: ignore[no-untyped-def]
    from controlplane.slo.export import openslo_documents

    documents = openslo_documents(shipped)
    assert {d["apiVersion"] for d in documents} == {"openslo/v1"}
    [portal] = [d for d in documents if d["kind"] == "SLO" and d["metadata"]["name"] == "portal"]
    assert portal["spec"]["budgetingMethod"] == "Timeslices"
    assert portal["spec"]["objectives"][0]["target"] == 0.999
    assert portal["spec"]["objectives"][0]["timeSliceWindow"] == "10s"
    assert portal["spec"]["timeWindow"][0]["isRolling"] is False
    policy = next(d for d in documents if d["kind"] == "AlertPolicy" and d["metadata"]["name"] == "portal-burn-rate")
    assert [c["spec"]["condition"]["threshold"] for c in policy["spec"]["conditions"]] == [14.4, 6]


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool (Debian package prometheus) is not installed")
def test_promtool_accepts_the_exported_rules(tmp_path: Path) -> None:
    from tests.conftest import egov, write_config

    write_config(tmp_path)
    done = egov(tmp_path, "export", "slo", "-o", str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    rules = tmp_path / "out" / "egov-slo-rules.yml"
    checked = subprocess.run(["promtool", "check", "rules", str(rules)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout
    assert len(list(yaml.safe_load_all((tmp_path / "out" / "openslo.yaml").read_text()))) == 6 * 3
