"""Services of a lab host: definitions, registration, and the init starting and stopping them."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from controlplane.errors import BadInputError
from controlplane.lab import init, services


def _register(folder: Path, name: str, data: object) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(data), encoding="utf-8")


def test_a_definition_needs_an_absolute_argv() -> None:
    definition = services.parse_definition(
        "web", {"argv": ["/usr/bin/python3", "-m", "http.server"], "autostart": True}
    )
    assert definition.argv == ["/usr/bin/python3", "-m", "http.server"]
    assert definition.cwd == "/" and definition.autostart is True


@pytest.mark.parametrize(
    "data",
    [
        [],
        {"argv": "python3 -m http.server"},
        {"argv": []},
        {"argv": ["python3"]},
        {"argv": ["/bin/x", 3]},
        {"argv": ["/bin/x", "a\x00b"]},
        {"argv": ["/bin/x"], "cwd": "relative"},
        {"argv": ["/bin/x"], "env": {"A": 1}},
        {"argv": ["/bin/x"], "shell": True},
    ],
)
def test_malformed_definitions_are_refused(data: object) -> None:
    with pytest.raises(ValueError):
        services.parse_definition("web", data)


def test_sshd_is_built_in(tmp_path: Path) -> None:
    assert services.load_definition("sshd", tmp_path).argv == ["/usr/sbin/sshd", "-D", "-e"]


def test_an_unregistered_service_says_where_to_register_it(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"web\.json inside the host"):
        services.load_definition("web", tmp_path)


def test_a_hostile_service_name_never_reaches_the_filesystem(tmp_path: Path) -> None:
    with pytest.raises(BadInputError):
        services.load_definition("../../etc/passwd", tmp_path)


def test_registered_lists_valid_names_only(tmp_path: Path) -> None:
    for name in ("web", "db", "Bad", "a;b", "sshd"):
        _register(tmp_path, name, {"argv": ["/bin/true"]})
    assert services.registered(tmp_path) == ["db", "web"]


def test_supervisor_starts_stops_and_reports_a_service(tmp_path: Path) -> None:
    services, pids, logs = tmp_path / "services", tmp_path / "run", tmp_path / "log"
    _register(services, "sleeper", {"argv": ["/bin/sh", "-c", "echo hello; exec sleep 30"]})
    supervisor = init.Supervisor(None, services_dir=services, pid_dir=pids, log_dir=logs)
    answer = supervisor.handle({"op": "start", "service": "sleeper"})
    assert answer["ok"] and answer["changed"]
    pid = supervisor.running("sleeper")
    assert pid and (pids / "sleeper.pid").read_text(encoding="ascii") == f"{pid}\n"
    assert supervisor.handle({"op": "start", "service": "sleeper"})["changed"] is False
    status = supervisor.handle({"op": "status"})["services"]
    assert status["sleeper"] == {"running": True, "pid": pid}
    assert status["sshd"] == {"running": False, "pid": None}
    deadline = time.monotonic() + 5
    log = logs / "sleeper.log"
    while "hello" not in log.read_text(encoding="utf-8") and time.monotonic() < deadline:
        time.sleep(0.01)
    assert "hello" in log.read_text(encoding="utf-8")  # output goes to its log
    assert supervisor.handle({"op": "stop", "service": "sleeper"})["changed"] is True
    assert (
        not os.path.exists(f"/proc/{pid}")
        or "Z" in Path(f"/proc/{pid}/stat").read_text(encoding="ascii").split(")")[-1][:3]
    )
    assert not (pids / "sleeper.pid").exists()
    assert supervisor.handle({"op": "stop", "service": "sleeper"})["changed"] is False


def test_supervisor_refuses_unknown_ops_and_bad_names(tmp_path: Path) -> None:
    supervisor = init.Supervisor(None, services_dir=tmp_path)
    assert supervisor.handle({"op": "reboot"}) == {"ok": False, "error": "unknown op 'reboot'"}
    with pytest.raises(BadInputError):
        supervisor.handle({"op": "start", "service": "$(x)"})


def test_init_refuses_to_run_outside_a_lab_host() -> None:
    environment = dict(os.environ)
    try:
        assert init.main(["/nonexistent/init.json"]) == 2
    finally:
        os.environ.clear()
        os.environ.update(environment)
