"""Fixtures every test directory may use, registered once for the whole session.

The browser fixtures (one Playwright driver, one served console) live in
``tests/browser/fixtures.py`` and are loaded here as a plugin rather than as
a directory conftest: tests outside ``tests/browser`` (the provision/harden
console test) use them too, and a second definition would start a second
Playwright driver inside the first one's event loop.
"""

import os

import pytest

pytest_plugins = ["tests.browser.fixtures"]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):  # type: ignore[no-untyped-def]
    """Under EGOV_REQUIRE_ALL_TESTS=1 (set by .ci/run), a skipped test is reported as failed.

    Lab, browser, PostgreSQL and Prometheus tests skip themselves on a
    machine without root or without those tools; in CI the set-up installs
    everything, so a skip there means a test silently stopped running.
    """
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("EGOV_REQUIRE_ALL_TESTS") == "1" and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped, but EGOV_REQUIRE_ALL_TESTS=1 wants every test to run: {reason}"
