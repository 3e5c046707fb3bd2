"""The scope cut of the network view, below the page: evidence masking and what a scoped reader's view holds."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from tests.conftest import REPO
from tests.unit.web.network_fixtures import GD_OK, path


@pytest.fixture(scope="module")
def model(lab_inventory) -> Any:
    from controlplane.network.model import load_network

    return load_network(REPO / "inventory" / "network.yml", lab_inventory)


def report_of(*rows: tuple[Any, ...]) -> Any:
    from controlplane.network.results import VerifyReport

    now = dt.datetime(2026, 12, 8, tzinfo=dt.UTC)
    return VerifyReport(1, None, now, now, tuple(path(row) for row in rows), ())


def test_evidence_masks_every_out_of_scope_host_name_and_address_as_a_whole_token(model, lab_inventory) -> None:
    from controlplane.web.network_view import build_view

    rule = ("gd-gw-1 flow:school-gd-province +1 packets; hn-gw-1 isolate:hn-edu-1 drop 10.198.60.61, "
            "mn-gw-1; 10.198.0.4 10.198.0.41 gd-edu-1x")  # fmt: skip
    row = (*GD_OK[:-1], rule)
    view = build_view(model, report_of(row), lab_inventory, lambda site: site in {"province-gd", "school-gd-1"},
                      scoped=True)  # fmt: skip
    assert view.paths[0].rule == (
        "gd-gw-1 flow:school-gd-province +1 packets; … isolate:… drop …, …; … 10.198.0.41 gd-edu-1x"
    )


def test_a_ministry_reader_gets_the_evidence_as_recorded(model, lab_inventory) -> None:
    from controlplane.web.network_view import build_view

    view = build_view(model, report_of(GD_OK), lab_inventory, lambda site: True, scoped=False)
    assert view.paths[0].rule == GD_OK[-1] and view.report is not None and view.report.paths == 1
