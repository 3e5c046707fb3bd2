"""Fixtures for the console tests: a site in tmp_path, its store, the app, and users per role.

The store is migrated once per session into a template database, then
copied for each test (a copy takes a millisecond, a migration a tenth of a
second). Passwords are hashed once too: scrypt is slow on purpose.

Users: for every role R there is ``R-gd`` scoped to province-gd (which
covers school-gd-1 below it) and ``R-dr`` scoped to dr-center; ``root`` is a
ministry-level admin (every site). Admins have TOTP enrolled.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import REPO, write_config

PASSWORD = "correct horse battery staple"
ROLES = ("admin", "operator", "oncall", "security_officer", "auditor")
# A documentation address (TEST-NET-1): the test client never sends a packet, and
# it is not loopback, so /metrics needs authentication like any remote client.
REMOTE = "192.0.2.10"


@pytest.fixture(scope="session")
def lab_inventory() -> Any:
    """The lab inventory, loaded once (ansible is slow to import)."""
    from controlplane.inventory import load_inventory

    return load_inventory(REPO / "inventory" / "lab.yml")


@pytest.fixture(scope="session")
def password_hash() -> str:
    """The scrypt hash of PASSWORD, computed once."""
    from controlplane.users import hash_password

    return hash_password(PASSWORD)


@pytest.fixture(scope="session")
def template_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site folder whose store is migrated and whose vault has its canary."""
    from controlplane.config import load_config
    from controlplane.store import open_store
    from controlplane.vault import Vault, create_key_file

    folder = tmp_path_factory.mktemp("template-site")
    config = load_config(write_config(folder))
    create_key_file(config.key_file)
    store = open_store(config)
    Vault(store, config.key_file, config.cipher)
    store.close()
    return folder


def make_site(folder: Path, template: Path) -> Any:
    """Copy the template site's state into ``folder`` and return its Config."""
    from controlplane.config import load_config

    shutil.copytree(template / "var", folder / "var")
    return load_config(write_config(folder))


def make_app(config: Any, store: Any, vault: Any, inventory: Any, **settings: Any) -> Flask:
    """The console app on a test store, with fast harmless runs and a private metrics registry."""
    from prometheus_client import CollectorRegistry

    from controlplane.web import create_app

    return create_app(
        config,
        {
            "TESTING": True,
            "EGOV_STORE": store,
            "EGOV_INVENTORY": inventory,
            "EGOV_VAULT": vault,
            "EGOV_REGISTRY": CollectorRegistry(),
            "EGOV_RUN_INTERVAL": 0.01,
            "EGOV_STREAM_POLL": 0.01,
            "EGOV_STREAM_MAX_SECONDS": 5,
            **settings,
        },
    )


@pytest.fixture
def config(tmp_path: Path, template_site: Path) -> Any:
    """A Config for a site in tmp_path with a copy of the migrated template store."""
    return make_site(tmp_path, template_site)


@pytest.fixture
def store(config: Any) -> Iterator[Any]:
    """The open store of ``config``."""
    from controlplane.store import open_store

    opened = open_store(config)
    yield opened
    opened.close()


@pytest.fixture
def vault(config: Any, store: Any) -> Any:
    """The vault of ``config``."""
    from controlplane.vault import open_vault

    return open_vault(config, store)


@pytest.fixture
def app(config: Any, store: Any, vault: Any, lab_inventory: Any) -> Iterator[Flask]:
    """The console app on the test store."""
    from controlplane.web import shutdown

    application = make_app(config, store, vault, lab_inventory)
    yield application
    shutdown(application)


@dataclass
class Person:
    """A fixture user: the row's id, name, role, sites, and TOTP secret when enrolled."""

    id: int
    name: str
    role: str
    sites: list[str]
    totp_secret: str | None = None

    def code(self, offset: int = 0) -> str:
        """A valid TOTP code (``offset`` steps from now)."""
        assert self.totp_secret
        return pyotp.TOTP(self.totp_secret).at(time.time() + 30 * offset)


def add_person(
    store: Any, vault: Any, password_hash: str, name: str, role: str, sites: list[str], totp: bool = False
) -> Person:
    """Insert a user directly (pre-hashed password) and enrol TOTP when asked."""
    from controlplane.store.models import User, utcnow

    with store.session() as session:
        user = User(
            name=name,
            role=role,
            sites=sites,
            password_hash=password_hash,
            totp_enabled=False,
            disabled=False,
            created_at=utcnow(),
            password_changed_at=utcnow(),
        )
        session.add(user)
        session.flush()
        user_id = user.id
    secret = None
    if totp:
        secret = pyotp.random_base32()
        vault.set(f"user.{user_id}.totp", secret)
        with store.session() as session:
            session.get(User, user_id).totp_enabled = True
    return Person(user_id, name, role, sites, secret)


@pytest.fixture
def people(store: Any, vault: Any, password_hash: str) -> dict[str, Person]:
    """Users per role scoped to province-gd (``R-gd``) and to dr-center (``R-dr``), plus ``root``."""
    return make_people(store, vault, password_hash)


def make_people(store: Any, vault: Any, password_hash: str) -> dict[str, Person]:
    """Create the fixture users (see the module docstring) and return them by name."""
    result: dict[str, Person] = {}
    for role in ROLES:
        for suffix, site in (("gd", "province-gd"), ("dr", "dr-center")):
            name = f"{role.replace('_', '-')}-{suffix}"
            result[name] = add_person(store, vault, password_hash, name, role, [site], totp=role == "admin")
    result["root"] = add_person(store, vault, password_hash, "root", "admin", [], totp=True)
    return result


def login_as(client: FlaskClient, person: Person, stage: str = "full") -> str:
    """Put a logged-in session for ``person`` into the client's cookie; return its CSRF token."""
    from controlplane.store.models import User
    from controlplane.users import sessions

    app = client.application
    with app.extensions["egov"].store.session() as session:
        changed = session.get(User, person.id).password_changed_at.isoformat()
        key = sessions.begin(session, person.id, address="192.0.2.10", user_agent="test client")
    now = time.time()
    csrf = f"csrf-{person.name}"
    with client.session_transaction() as data:
        data.clear()
        data.update(uid=person.id, sid=key, stage=stage, pwd=changed, t0=now, seen=now, csrf=csrf)
    return csrf


def token_for(app: Flask, person: Person, name: str = "test") -> str:
    """Create an API token for ``person`` and return it."""
    from controlplane import users
    from controlplane.store.models import User

    with app.extensions["egov"].store.session() as session:
        _row, clear = users.create_token(session, session.get(User, person.id), name)
    return clear


def remote_client(app: Flask, address: str = REMOTE) -> FlaskClient:
    """A test client whose requests come from ``address``."""
    test_client = app.test_client()
    test_client.environ_base["REMOTE_ADDR"] = address
    return test_client


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A test client seen as a remote (non-loopback) address."""
    return remote_client(app)


def wait_for_run(store: Any, run_id: int, timeout: float = 15.0) -> Any:
    """Wait until a run is final and return it."""
    from controlplane.store.models import Run, RunStatus

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with store.session() as session:
            run = session.get(Run, run_id)
            if run.status in RunStatus.FINAL:
                return run
        time.sleep(0.02)
    raise AssertionError(f"run {run_id} did not finish in {timeout}s")


def audit_actions(store: Any) -> list[tuple[str, str, str]]:
    """Every audit record as (action, target, outcome), oldest first."""
    from controlplane import audit

    return [(r.action, r.target, r.outcome) for r in reversed(audit.list_records(store, limit=10000))]


class RecordingDispatcher:
    """A dispatcher for tests whose starts must not run real work: it claims each run and hands it to ``on_run``.

    Everything before the dispatcher (checks, scope, the queued run row) is
    the console's real code; only the execution is replaced.
    """

    def __init__(self, store: Any, on_run: Any) -> None:
        self.store, self.on_run = store, on_run
        self.submitted: list[int] = []
        self.status_when_submitted: dict[int, str] = {}

    def submit(self, run_id: int) -> None:
        from controlplane.runs import claim
        from controlplane.store.models import Run

        self.submitted.append(run_id)
        with self.store.session() as session:
            self.status_when_submitted[run_id] = session.get(Run, run_id).status
            run = claim(session, run_id)
            session.expunge(run)
        self.on_run(run)

    def close(self, timeout: float = 30.0) -> list[int]:
        return []


def record_starts(app: Flask, on_run: Any) -> RecordingDispatcher:
    """Replace the app's dispatcher with a RecordingDispatcher calling ``on_run`` (a claimed Run)."""
    recording = RecordingDispatcher(app.extensions["egov"].store, on_run)
    app.extensions["egov.dispatcher"] = recording
    return recording
