"""Fixtures for the browser tests: a real `egov serve`, users made with the CLI, Debian's chromium.

One console serves the whole browser session: a temp site made with
``egov init``, users added with ``egov users add`` (password on stdin), and
``egov serve --port 0`` bound to 127.0.0.1. Each test gets its own chromium
with a fresh user-data directory under its tmp_path, driven by Playwright
for Python through ``executable_path`` (``playwright install`` is never
used). The browser may reach loopback only: every other request is aborted.

Screenshots go to ``test-output/screenshots/`` at the repository root.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyotp
import pytest

from tests.conftest import REPO, egov, write_config

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SCREENSHOTS = REPO / "test-output" / "screenshots"
# Generous for a loaded two-core CI machine: every wait is for a condition, never a fixed time.
TIMEOUT_MS = 30_000
STARTUP_SECONDS = 90
# name -> (role, sites, interface language, password)
USERS: dict[str, tuple[str, list[str], str | None, str]] = {
    "admin1": ("admin", [], None, "admin password 1 long"),
    "ops1": ("operator", ["province-gd"], None, "operator password 1"),
    "auditor1": ("auditor", ["province-gd"], None, "auditor password 1"),
    "lang1": ("operator", ["province-gd"], None, "language password 1"),
}


@dataclass
class Console:
    """A running `egov serve`: its URL, site folder and the users' passwords."""

    url: str
    site: Path
    passwords: dict[str, str]
    process: subprocess.Popen[str]


def _start(site: Path) -> tuple[subprocess.Popen[str], str]:
    """Start `egov serve --host 127.0.0.1 --port 0 --plain-http`; return the process and the URL it printed."""
    env = {**os.environ, "EGOV_CONFIG": str(site / "egov.yml"), "PYTHONUNBUFFERED": "1"}
    env.pop("EGOV_MASTER_KEY_FILE", None)
    log = (site / "serve.log").open("w")
    process = subprocess.Popen(
        # Plain HTTP: these tests are about the pages; test_https_console.py serves HTTPS from the CA.
        [sys.executable, "-m", "controlplane", "serve", "--host", "127.0.0.1", "--port", "0", "--plain-http"],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env=env,
        cwd=site,
    )
    log.close()
    assert process.stdout is not None
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if line.startswith("console: "):
            return process, line.split(" ", 1)[1].strip()
        if not line and process.poll() is not None:
            break
    process.kill()
    process.wait(timeout=30)
    raise AssertionError(f"the console did not start:\n{(site / 'serve.log').read_text()}")


def _stop(process: subprocess.Popen[str]) -> int:
    """SIGTERM the console and wait for it (killed after 30 s)."""
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=30)
        raise


@pytest.fixture(scope="session")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """One `egov serve` for every browser test, on a fresh site with users added through the CLI."""
    site = tmp_path_factory.mktemp("browser-site")
    write_config(site)
    made = egov(site, "init")
    assert made.returncode == 0, made.stderr
    for name, (role, sites, language, password) in USERS.items():
        args = ["users", "add", name, "--role", role]
        for one in sites:
            args += ["--site", one]
        if language:
            args += ["--language", language]
        added = egov(site, *args, stdin=password)
        assert added.returncode == 0, added.stderr
    process, url = _start(site)
    assert url.startswith("http://127.0.0.1:"), url
    try:
        yield Console(url, site, {name: spec[3] for name, spec in USERS.items()}, process)
    finally:
        code = _stop(process)
        log = (site / "serve.log").read_text()
        assert code == 0, log
        assert "Traceback" not in log, log


@pytest.fixture(scope="session")
def playwright() -> Iterator[Any]:
    """The Playwright driver (its own node process; it downloads nothing)."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (scripts/setup.sh installs Debian's chromium)")
    with sync_playwright() as driver:
        yield driver


@dataclass
class Browser:
    """A fresh chromium profile for one test, and what its pages reported."""

    context: Any
    url: str
    console_errors: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)

    def page(self) -> Any:
        """The context's page (a persistent context opens with one)."""
        page = self.context.pages[0] if self.context.pages else self.context.new_page()
        page.on("console", lambda message: self._console(message))
        page.on("pageerror", lambda error: self.console_errors.append(f"pageerror: {error}"))
        return page

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)


def trusting_home(base: Path, root: Path | None) -> Path:
    """A HOME folder whose NSS database (chromium's trust store on Linux) trusts ``root`` as a server CA.

    Made with NSS's certutil (Debian's libnss3-tools); ``root`` None gives an
    empty database (nothing but the built-in roots). Returns ``base``.
    """
    nssdb = base / ".pki" / "nssdb"
    nssdb.mkdir(parents=True)
    subprocess.run(["certutil", "-N", "-d", f"sql:{nssdb}", "--empty-password"], check=True, capture_output=True)
    if root is not None:
        subprocess.run(["certutil", "-A", "-d", f"sql:{nssdb}", "-n", "EduGov control plane CA", "-t", "C,,",
                        "-i", str(root)], check=True, capture_output=True)  # fmt: skip
    return base


def launch(playwright: Any, profile: Path, url: str, locale: str, home: Path | None = None) -> Browser:
    """Launch Debian's chromium headless with a fresh user-data dir and the console's URL as base.

    ``home``: chromium's HOME (its NSS trust store, see :func:`trusting_home`) for an HTTPS console.
    """
    profile.mkdir(parents=True, exist_ok=False)  # a fresh profile, never one of an earlier run
    context = playwright.chromium.launch_persistent_context(
        str(profile),
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_ARGS,
        env={**os.environ, "HOME": str(home)} if home is not None else None,
        base_url=url,
        locale=locale,
        viewport={"width": 1280, "height": 800},
        timezone_id="Asia/Shanghai",
    )
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    browser = Browser(context, url)
    origin = url.rstrip("/")

    def only_loopback(route: Any) -> None:
        target = route.request.url
        if target.startswith((origin + "/", "data:", "about:")) or target == origin:
            route.continue_()
        else:
            browser.blocked.append(target)
            route.abort()

    context.route(re.compile(r".*"), only_loopback)
    return browser


@pytest.fixture
def open_browser(playwright: Any, console: Console, tmp_path: Path) -> Iterator[Callable[..., Browser]]:
    """A factory of chromium instances (each with its own fresh profile), closed after the test."""
    opened: list[Browser] = []

    def factory(locale: str = "en-US") -> Browser:
        browser = launch(playwright, tmp_path / f"profile-{len(opened)}", console.url, locale)
        opened.append(browser)
        return browser

    yield factory
    for browser in opened:
        browser.context.close()
    for browser in opened:
        assert not browser.blocked, f"the page tried to reach outside the console: {browser.blocked}"


def screenshot(page: Any, name: str) -> Path:
    """Save a full-page screenshot as test-output/screenshots/NAME.png and return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


class Authenticator:
    """An authenticator app for one TOTP secret that never offers a time step twice.

    The console refuses a code of a step it has accepted already (replay), so
    after enrolment the next login needs a later step: the next one is taken
    (the console accepts one step of drift), and only when even that was used
    does this wait for the clock.
    """

    def __init__(self, secret: str) -> None:
        self.totp = pyotp.TOTP(secret)
        self.last_step: int | None = None

    def code(self) -> str:
        """Return a code of the earliest acceptable step not used before."""
        deadline = time.monotonic() + 90
        while True:
            now = int(time.time()) // 30
            steps = [s for s in (now, now + 1) if self.last_step is None or s > self.last_step]
            if steps:
                self.last_step = steps[0]
                return str(self.totp.at(steps[0] * 30))
            if time.monotonic() > deadline:
                raise AssertionError("the clock did not move on to a fresh TOTP step")
            time.sleep(0.5)

    def wrong_code(self) -> str:
        """Return a 6-digit code that no step near now accepts (uses up nothing)."""
        now = int(time.time()) // 30
        valid = {self.totp.at(step * 30) for step in range(now - 2, now + 4)}
        return next(code for code in ("000000", "111111", "222222", "333333", "444444") if code not in valid)


def log_in(page: Any, name: str, password: str) -> None:
    """Fill and send the login form (whatever the interface language: fields are found by name)."""
    page.goto("/login")
    page.locator("input[name=name]").fill(name)
    page.locator("input[name=password]").fill(password)
    page.locator("form[action='/login'] button[type=submit]").click()
    page.wait_for_load_state()
