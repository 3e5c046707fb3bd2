"""The application factory: builds from a Config alone, fast, with a kept session key."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

from tests.conftest import write_config


def test_create_app_from_a_config_opens_and_migrates_its_own_store(tmp_path: Path) -> None:
    from controlplane.config import load_config
    from controlplane.web import create_app, shutdown

    config = load_config(write_config(tmp_path))  # no master key yet: the session key goes to a 0600 file
    started = time.perf_counter()
    app = create_app(None, {"EGOV_CONFIG": config})
    elapsed = time.perf_counter() - started
    try:
        assert app.extensions["egov"].store.current_revision() == app.extensions["egov"].store.head_revision()
        key_file = Path(config.state_dir) / "console_session.key"
        assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
        assert app.config["SECRET_KEY"] == key_file.read_text().strip().encode()
        assert app.test_client().get("/login").status_code == 200
    finally:
        shutdown(app)
    again = create_app(config)
    try:
        assert again.config["SECRET_KEY"] == app.config["SECRET_KEY"]  # sessions survive a restart
    finally:
        shutdown(again)
    assert elapsed < 5, f"create_app took {elapsed:.2f}s"


def test_the_session_key_lives_in_the_vault_when_there_is_one(config, store, vault, lab_inventory) -> None:
    from tests.unit.web.conftest import make_app

    first = make_app(config, store, vault, lab_inventory)
    assert vault.exists("console.session_key")
    assert make_app(config, store, vault, lab_inventory).config["SECRET_KEY"] == first.config["SECRET_KEY"]
    assert not (Path(config.state_dir) / "console_session.key").exists()


def test_creating_an_app_on_an_open_store_is_fast(config, store, vault, lab_inventory) -> None:
    from tests.unit.web.conftest import make_app

    make_app(config, store, vault, lab_inventory)  # warm imports and translations
    started = time.perf_counter()
    for _ in range(5):
        make_app(config, store, vault, lab_inventory)
    assert (time.perf_counter() - started) / 5 < 0.5
