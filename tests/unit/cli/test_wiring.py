"""The composition root hands every room what it needs from another (controlplane.providers)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest

from controlplane import providers
from controlplane.cli.wiring import wire
from controlplane.retention import RetentionReport


def test_wiring_provides_every_hand_over() -> None:
    wire()
    given = providers.provided()
    missing = [f.name for f in dataclasses.fields(given) if getattr(given, f.name) in (None, ())]
    assert not missing, f"not provided by controlplane.cli.wiring.wire(): {missing}"


def test_the_histories_handed_to_retention_count_into_its_report() -> None:
    wire()
    histories = providers.provided().histories
    assert histories is not None
    fields = {f.name for f in dataclasses.fields(RetentionReport)}
    assert {history.field for history in histories()} == {"deliveries", "probe_results"} <= fields


def test_wiring_imports_no_engine_until_an_answer_is_asked_for() -> None:
    # A fresh interpreter: every egov command wires at start, so wiring must cost it no engine import.
    script = (
        "import sys\nfrom controlplane.cli.wiring import wire\nwire()\n"
        "print(sorted(m for m in sys.modules if m.startswith(('controlplane.backup', 'controlplane.monitoring',"
        " 'controlplane.compliance', 'controlplane.bootstrap', 'sqlalchemy'))))"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip() == "[]"


def test_with_nothing_provided_no_bootstrap_run_holds_the_scheduled_backups_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(providers, "_provided", providers.Provided())
    assert providers.bootstrap_run(object()) is None  # type: ignore[arg-type]
