"""Renewal of SSH host certificates at two thirds of their validity, and the job that does it."""

from __future__ import annotations

import datetime as dt

import pytest

from controlplane.automation import certify, host_renewal
from controlplane.inventory import load_inventory
from tests.conftest import REPO
from tests.unit.automation.test_certify import FakePool

INVENTORY = REPO / "inventory" / "lab.yml"


@pytest.fixture
def authority(config, store):  # type: ignore[no-untyped-def]
    from controlplane.pki.authority import init_authority

    return init_authority(config, store, requester="test")


def test_only_hosts_past_two_thirds_of_their_validity_are_renewed(config, store, authority) -> None:
    from controlplane.pki.records import latest_for

    inventory = load_inventory(INVENTORY)
    short, long = inventory.host("gd-school-1"), inventory.host("mn-portal-1")
    pool = FakePool()
    [first] = certify.certify_hosts(config, store, [short], requester="t", pool=pool, inventory=inventory,
                                    validity=dt.timedelta(minutes=3))  # type: ignore[arg-type]  # fmt: skip
    certify.certify_hosts(config, store, [long], requester="t", pool=pool, inventory=inventory,
                          validity=dt.timedelta(days=28))  # type: ignore[arg-type]  # fmt: skip
    record = latest_for(store, "ssh-host", short.name)
    assert record is not None
    early = record.renew_after(config.pki.renew_at) - dt.timedelta(seconds=5)
    assert host_renewal.renew_due(config, store, now=early, pool=pool) == []  # type: ignore[arg-type]
    late = record.renew_after(config.pki.renew_at) + dt.timedelta(seconds=1)
    [renewed] = host_renewal.renew_due(config, store, now=late, pool=pool, validity=dt.timedelta(minutes=3))  # type: ignore[arg-type]
    assert renewed.host == short.name and renewed.ok and renewed.serial != first.serial
    assert latest_for(store, "ssh-host", short.name).serial == renewed.serial  # type: ignore[union-attr]


def test_the_job_looks_often_enough_for_short_validities_and_hourly_for_weeks(config) -> None:
    from dataclasses import replace

    assert host_renewal.job_seconds(config) == 3600.0  # the default: 4 weeks
    short = replace(config, pki=replace(config.pki, host_validity=dt.timedelta(minutes=6)))
    assert host_renewal.job_seconds(short) == 30.0
    middle = replace(config, pki=replace(config.pki, host_validity=dt.timedelta(hours=3)))
    assert host_renewal.job_seconds(middle) == pytest.approx(3 * 3600 * (1 - config.pki.renew_at) / 4)


def test_egov_serves_scheduler_carries_the_renewal_job(config, store) -> None:
    from controlplane import scheduler
    from controlplane.web.schedules import JOB_SOURCES

    running = scheduler.start_scheduler(store, config, job_sources=JOB_SOURCES)
    try:
        job = running.get_job(host_renewal.JOB_ID)
        assert job is not None and job.args == (str(config.source),)
    finally:
        scheduler.stop_scheduler(running)


def test_the_job_without_a_ca_renews_nothing_and_does_not_fail(config, store) -> None:
    assert host_renewal.scheduled_renewal(str(config.source), store=store) == {"renewed": [], "failed": {}}
