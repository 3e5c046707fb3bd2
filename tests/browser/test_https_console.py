"""The console on HTTPS from the control plane's CA, in Debian's chromium, with `egov serve --workers 2`.

The CA's root (`egov ca export`) goes into a fresh NSS database, the trust
store chromium reads on Linux ($HOME/.pki/nssdb), made with NSS's certutil:
no flag tells chromium to ignore certificate errors. A chromium without it
must refuse the same page, so the trust really comes from the CA.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from tests.browser.fixtures import Browser, _stop, launch, log_in, screenshot, trusting_home
from tests.conftest import egov, write_config
from tests.integration.web.test_serve_workers import _children, _start

pytestmark = pytest.mark.browser

PASSWORD = "operator password 1"


@pytest.fixture(scope="module")
def https_console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """`egov serve --workers 2` on HTTPS with the CA's certificate; yields (URL, the exported root)."""
    if shutil.which("certutil") is None:
        pytest.skip("certutil is missing (scripts/setup.sh installs libnss3-tools)")
    site = tmp_path_factory.mktemp("https-site")
    write_config(site)
    for args in (("init",), ("ca", "init"), ("ca", "export", "--out", str(site / "egov-root.crt"))):
        done = egov(site, *args)
        assert done.returncode == 0, done.stderr
    added = egov(site, "users", "add", "ops1", "--role", "operator", "--site", "province-gd", stdin=PASSWORD)
    assert added.returncode == 0, added.stderr
    process, url = _start(site, "--host", "127.0.0.1", "--workers", "2")
    try:
        assert url.startswith("https://127.0.0.1:"), url
        assert len(_children(process.pid)) == 1
        yield url, site / "egov-root.crt"
    finally:
        assert _stop(process) == 0


def _chromium(playwright: Any, base: Path, url: str, root: Path | None) -> Browser:
    return launch(playwright, base / "profile", url, "en-US", home=trusting_home(base, root))


def test_chromium_trusting_the_ca_opens_the_https_console_of_two_workers_without_certificate_errors(
    playwright: Any, https_console: tuple[str, Path], tmp_path: Path
) -> None:
    url, root = https_console
    browser = _chromium(playwright, tmp_path / "trusting", url, root)
    context = browser.context
    try:
        page = browser.page()
        response = page.goto("/login")
        assert response is not None and response.ok
        details = response.security_details()
        assert details is not None and details.get("protocol", "").startswith("TLS")
        assert "Intermediate CA" in (details.get("issuer") or ""), details
        log_in(page, "ops1", PASSWORD)
        expect(page).not_to_have_url(re.compile(r"/login"))
        # Several pages, each on fresh connections too: the two processes share the socket.
        for path in ("/", "/hosts", "/runs", "/hosts/gd-school-1", "/"):
            other = context.new_page()
            answer = other.goto(path)
            assert answer is not None and answer.ok, path
            other.close()
        screenshot(page, "https-console")
        assert not browser.console_errors and not browser.blocked, (browser.console_errors, browser.blocked)
    finally:
        context.close()


def test_chromium_without_the_ca_refuses_the_same_console(
    playwright: Any, https_console: tuple[str, Path], tmp_path: Path
) -> None:
    url, _root = https_console
    browser = _chromium(playwright, tmp_path / "untrusting", url, None)
    context = browser.context
    try:
        page = browser.page()
        with pytest.raises(PlaywrightError, match="ERR_CERT_AUTHORITY_INVALID"):
            page.goto("/login")
    finally:
        context.close()
