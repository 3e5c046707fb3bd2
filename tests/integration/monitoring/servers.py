"""Real receivers on loopback for tests: an HTTP sink (webhook, WeCom, DingTalk) and an SMTP server."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    """One request the sink got: path with query, headers, parsed JSON body."""

    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Sink:
    """An HTTP server on 127.0.0.1 that records JSON POSTs and answers like a robot."""

    received: list[Received] = field(default_factory=list)
    answer: dict[str, Any] = field(default_factory=lambda: {"errcode": 0, "errmsg": "ok"})
    status: int = 200
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self, port: int = 0) -> Sink:
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                sink.received.append(Received(self.path, dict(self.headers), json.loads(raw or b"null")))
                body = json.dumps(sink.answer).encode()
                self.send_response(sink.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: object) -> None:
                return

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def wait_for(self, predicate: Callable[[list[Received]], bool], timeout: float = 30.0) -> list[Received]:
        """Wait until ``predicate(received)`` holds; return the requests; fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(list(self.received)):
                return list(self.received)
            time.sleep(0.05)
        raise AssertionError(f"timed out; received {[r.body for r in self.received]}")


class Mailbox:
    """An aiosmtpd server on 127.0.0.1 keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.controller: Any = None

    def start(self) -> Mailbox:
        import socket

        from aiosmtpd.controller import Controller

        mailbox = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                from email import message_from_bytes, policy

                message = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
                mailbox.messages.append((envelope.mail_from, list(envelope.rcpt_tos), message))
                return "250 Message accepted for delivery"

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=port)
        self.controller.start()
        return self

    @property
    def port(self) -> int:
        return int(self.controller.port)

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
