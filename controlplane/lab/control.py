"""Talking to a host's init over its control socket.

The init listens on ``HOSTDIR/control.sock`` on the machine's filesystem
(bound before it changes root, so only the machine can reach it). One
request per connection: a JSON object on one line, answered by one JSON
line. Requests:

* ``{"op": "status"}`` -> ``{"ok": true, "services": {NAME: {"running": bool, "pid": int|null}}}``
* ``{"op": "start", "service": NAME}`` / ``{"op": "stop", "service": NAME}``
  -> ``{"ok": true, "changed": bool}`` or ``{"ok": false, "error": "..."}``

Socket paths are limited to 108 bytes, and lab folders can be long, so the
client connects through ``/proc/self/fd/N/control.sock`` with N an open
handle on the host folder.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

from controlplane.errors import EgovError

MAX_MESSAGE = 65536
SOCKET_NAME = "control.sock"


class ControlError(EgovError):
    """The host's init did not answer or refused the request."""


def encode(message: dict[str, Any]) -> bytes:
    """Return one protocol line for a message."""
    return json.dumps(message, separators=(",", ":")).encode("utf-8") + b"\n"


def decode(line: bytes) -> dict[str, Any]:
    """Parse one protocol line; raise ValueError unless it is a JSON object."""
    message = json.loads(line.decode("utf-8"))
    if not isinstance(message, dict):
        raise ValueError("a message must be a JSON object")
    return message


def read_line(conn: socket.socket) -> bytes:
    """Read up to the first newline (at most MAX_MESSAGE bytes) from a socket."""
    data = b""
    while b"\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
        if len(data) > MAX_MESSAGE:
            raise ValueError("message too long")
    return data.split(b"\n", 1)[0]


def short_path(dir_fd: int, name: str = SOCKET_NAME) -> str:
    """A socket path under 108 bytes reaching ``name`` in the folder open as ``dir_fd``."""
    return f"/proc/self/fd/{dir_fd}/{name}"


def request(folder: Path, message: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
    """Send one request to the init of the host whose folder is given.

    Returns the answer. Raises ControlError when nobody listens, the answer
    is not valid, or the init reports an error.
    """
    try:
        dir_fd = os.open(folder, os.O_PATH | os.O_DIRECTORY)
    except OSError as error:
        raise ControlError(f"no lab host folder {folder}: {error.strerror}") from None
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout)
            conn.connect(short_path(dir_fd))
            conn.sendall(encode(message))
            answer = decode(read_line(conn))
    except (OSError, ValueError) as error:
        raise ControlError(f"the init of {folder.name} did not answer: {error}") from None
    finally:
        os.close(dir_fd)
    if not answer.get("ok"):
        raise ControlError(f"{folder.name}: {answer.get('error', 'request refused')}")
    return answer
