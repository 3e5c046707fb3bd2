"""A small SSH server on loopback (paramiko) standing in for a fresh Debian server in the enrolment tests.

It accepts root with one password and with any key in its ``authorized``
set, and answers the enrolment's one remote command the way the install
script does (the key line on stdin, ``added`` or ``present`` back), so the
flow runs over real SSH without touching this machine's files. Its host
key can be swapped between connections (a man in the middle).
"""

from __future__ import annotations

import socket
import threading

import paramiko


class FakeServer:
    """Listens on 127.0.0.1 on a free port until :meth:`close`."""

    def __init__(self, password: str) -> None:
        self.password = password
        self.host_key: paramiko.PKey = paramiko.ECDSAKey.generate()
        self.authorized: set[str] = set()
        self.commands: list[str] = []
        self.passwords_tried: list[str] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = int(self.sock.getsockname()[1])
        self.transports: list[paramiko.Transport] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            transport = paramiko.Transport(conn)
            transport.add_server_key(self.host_key)
            self.transports.append(transport)
            try:
                transport.start_server(server=_Interface(self))
            except (paramiko.SSHException, EOFError, OSError):
                continue

    def close(self) -> None:
        self.sock.close()
        for transport in self.transports:
            transport.close()


class _Interface(paramiko.ServerInterface):
    def __init__(self, server: FakeServer) -> None:
        self.server = server

    def get_allowed_auths(self, username: str) -> str:
        return "publickey,password"

    def check_auth_password(self, username: str, password: str) -> int:
        self.server.passwords_tried.append(password)
        ok = username == "root" and password == self.server.password
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        ok = username == "root" and f"{key.get_name()} {key.get_base64()}" in self.server.authorized
        return paramiko.AUTH_SUCCESSFUL if ok else paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        return paramiko.OPEN_SUCCEEDED if kind == "session" else paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED

    def check_channel_exec_request(self, channel: paramiko.Channel, command: bytes) -> bool:
        self.server.commands.append(command.decode())
        threading.Thread(target=self._install, args=(channel,), daemon=True).start()
        return True

    def _install(self, channel: paramiko.Channel) -> None:
        data = b""
        while True:
            chunk = channel.recv(4096)
            if not chunk:
                break
            data += chunk
        words = data.decode().split()
        line = f"{words[0]} {words[1]}"
        answer = "present" if line in self.server.authorized else "added"
        self.server.authorized.add(line)
        channel.sendall(f"{answer}\n".encode())
        channel.send_exit_status(0)
        channel.close()
