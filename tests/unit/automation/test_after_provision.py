"""After a succeeded provision the automation engine runs what other engines hand it (the network verify, issue 16)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from controlplane import providers
from controlplane.automation import engine
from controlplane.automation.playbook import PlaybookOutcome
from controlplane.store.models import RunStatus


@pytest.fixture
def follow_ups() -> Iterator[list[tuple[int, str]]]:
    """A follow-up handed over as the composition root would (reset afterwards)."""
    calls: list[tuple[int, str]] = []

    def verify(config: Any, store: Any, run_id: int, actor: str) -> list[str]:
        calls.append((run_id, actor))
        return ["network verify 3 (run 8): 120 path(s), 1 violation(s), 0 breakage(s)", "  violation: a -> b"]

    providers.provide(after_provision=(verify,))
    yield calls
    providers.provide()


def provision_run(store: Any) -> int:
    from controlplane.runs import create_run

    with store.session() as session:
        return create_run(session, kind="provision", target="all", actor="alice@cli").id


def output(store: Any, run_id: int) -> list[str]:
    from controlplane.runs import read_output

    with store.session() as session:
        return [line.text for line in read_output(session, run_id)]


def test_a_succeeded_provision_is_followed_by_the_verify_whose_lines_join_its_output(config, store, follow_ups) -> None:
    run_id = provision_run(store)
    outcome = PlaybookOutcome(run_id, RunStatus.SUCCEEDED, {}, message="host certificates: 15 of 15 installed")
    engine._after_provision(config, store, run_id, outcome, "alice@cli")
    assert follow_ups == [(run_id, "alice@cli")]
    head = "network verify 3 (run 8): 120 path(s), 1 violation(s), 0 breakage(s)"
    assert output(store, run_id) == [head, "  violation: a -> b"]
    assert outcome.message.splitlines() == ["host certificates: 15 of 15 installed", head]


def test_a_failed_provision_is_not_followed_by_a_verify(config, store, follow_ups) -> None:
    run_id = provision_run(store)
    engine._after_provision(config, store, run_id, PlaybookOutcome(run_id, RunStatus.FAILED, {}), "alice@cli")
    assert follow_ups == [] and output(store, run_id) == []
