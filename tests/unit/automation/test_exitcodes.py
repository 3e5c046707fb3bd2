"""ansible-playbook's exit codes, read by the automation engine alone."""

from __future__ import annotations

import pytest

from controlplane.automation import exitcodes
from controlplane.automation.events import run_status
from controlplane.store.models import RunStatus


@pytest.mark.parametrize("rc", [0, 2, 4, None])
def test_ok_a_failed_host_and_an_unreachable_host_leave_the_story_to_the_hosts(rc: int | None) -> None:
    assert not exitcodes.ansible_failed(rc)


@pytest.mark.parametrize("rc", [1, 5, 8, 99, 250, -9])
def test_any_other_code_means_ansible_itself_failed(rc: int) -> None:
    assert exitcodes.ansible_failed(rc)


def test_a_run_without_hosts_whose_ansible_failed_is_failed() -> None:
    assert run_status({}, "failed", exitcodes.ERROR) == RunStatus.FAILED
    assert run_status({}, "successful", exitcodes.OK) == RunStatus.SUCCEEDED
