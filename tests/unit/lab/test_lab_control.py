"""The control protocol between the manager and a host's init, over a real Unix socket."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

from controlplane.lab import control


def test_encode_decode_round_trip() -> None:
    line = control.encode({"op": "start", "service": "sshd"})
    assert line == b'{"op":"start","service":"sshd"}\n'
    assert control.decode(line.strip()) == {"op": "start", "service": "sshd"}
    with pytest.raises(ValueError):
        control.decode(b"[1, 2]")


def _serve_once(folder: Path, answer: bytes) -> threading.Thread:
    # Bound through the same short-path trick the init uses: lab folders can
    # be longer than the 108 bytes a socket path allows.
    import os

    fd = os.open(folder, os.O_PATH | os.O_DIRECTORY)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(control.short_path(fd))
    os.close(fd)
    server.listen(1)

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            control.read_line(conn)
            conn.sendall(answer)
        server.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread


def test_request_reaches_a_socket_in_a_long_folder(tmp_path: Path) -> None:
    folder = tmp_path / ("x" * 60) / ("y" * 60)
    folder.mkdir(parents=True)
    assert len(str(folder / control.SOCKET_NAME)) > 108
    thread = _serve_once(folder, b'{"ok": true, "services": {}}\n')
    assert control.request(folder, {"op": "status"}, timeout=5) == {"ok": True, "services": {}}
    thread.join(5)


def test_an_error_answer_raises(tmp_path: Path) -> None:
    thread = _serve_once(tmp_path, b'{"ok": false, "error": "no service"}\n')
    with pytest.raises(control.ControlError, match="no service"):
        control.request(tmp_path, {"op": "start", "service": "web"}, timeout=5)
    thread.join(5)


def test_nobody_listening_raises(tmp_path: Path) -> None:
    with pytest.raises(control.ControlError, match="did not answer"):
        control.request(tmp_path, {"op": "status"}, timeout=1)
    with pytest.raises(control.ControlError, match="no lab host folder"):
        control.request(tmp_path / "missing", {"op": "status"}, timeout=1)
