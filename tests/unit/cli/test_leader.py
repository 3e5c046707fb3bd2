"""`egov leader`: who holds the leader lease; exit 1 when nobody does, so a check can tell no schedule runs."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import egov, write_config


def test_egov_leader_names_the_holder_and_fails_when_there_is_none(tmp_path: Path) -> None:
    from controlplane.config import load_config
    from controlplane.lease import Identity, release, take
    from controlplane.store import open_store

    write_config(tmp_path)
    assert egov(tmp_path, "init").returncode == 0
    nobody = egov(tmp_path, "leader")
    assert nobody.returncode == 1 and "leader: none" in nobody.stdout and "Traceback" not in nobody.stderr
    store = open_store(load_config(tmp_path / "egov.yml"))
    holder = Identity(host="cp-1\x1b[31m", pid=4242, started="1", token="secret-token")
    try:
        take(store, holder, 15, None)
        shown = egov(tmp_path, "leader")
        assert shown.returncode == 0 and "cp-1" in shown.stdout and "pid 4242 (term 1)" in shown.stdout
        assert "\x1b" not in shown.stdout  # a host name is shown as text, never as a terminal sequence
        as_json = json.loads(egov(tmp_path, "leader", "--json").stdout)
        assert (as_json["state"], as_json["pid"], as_json["term"]) == ("held", 4242, 1)
        assert "secret-token" not in json.dumps(as_json)
        release(store, holder)
        released = egov(tmp_path, "leader", "--json")
        assert released.returncode == 1 and json.loads(released.stdout)["state"] == "released"
    finally:
        store.close()
