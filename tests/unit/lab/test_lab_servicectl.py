"""``python -m controlplane.lab.servicectl``: the playbook handler's way to a lab host's init."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from controlplane.lab import servicectl


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Path, dict[str, Any]]]:
    """The requests that would reach an init's control socket; each answers ``changed``."""
    seen: list[tuple[Path, dict[str, Any]]] = []

    def request(folder: Path, message: dict[str, Any]) -> dict[str, Any]:
        seen.append((folder, message))
        return {"ok": True, "changed": True}

    monkeypatch.setattr(servicectl.lab_control, "request", request)
    return seen


def test_a_restart_asks_the_host_init_to_stop_then_start_the_service(
    tmp_path: Path, asked: list[tuple[Path, dict[str, Any]]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert servicectl.main([str(tmp_path), "mn-portal-1", "restart", "portal"]) == 0
    assert asked == [
        (tmp_path / "mn-portal-1", {"op": "stop", "service": "portal"}),
        (tmp_path / "mn-portal-1", {"op": "start", "service": "portal"}),
    ]
    assert capsys.readouterr().out.strip() == "changed"


def test_wrong_arguments_exit_2_and_reach_no_init(tmp_path: Path, asked: list[tuple[Path, dict[str, Any]]]) -> None:
    assert servicectl.main([str(tmp_path), "mn-portal-1", "start"]) == 2
    assert servicectl.main([str(tmp_path), "mn-portal-1", "reload", "portal"]) == 2
    assert servicectl.main([str(tmp_path), "../etc", "start", "portal"]) == 2
    assert asked == []
