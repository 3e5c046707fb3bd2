"""Fixtures every test directory may use, registered once for the whole session.

The browser fixtures (one Playwright driver, one served console) live in
``tests/browser/fixtures.py`` and are loaded here as a plugin rather than as
a directory conftest: tests outside ``tests/browser`` (the provision/harden
console test) use them too, and a second definition would start a second
Playwright driver inside the first one's event loop.
"""

pytest_plugins = ["tests.browser.fixtures"]
