#!/usr/bin/python3
"""EduGov role web service: static pages, /health and a small JSON API (stdlib only).

Managed by the EduGov control plane (provision.yml). Runs in the foreground
(the lab's init or systemd supervises it) as an unprivileged account.

    egov_httpd.py --port 80 --root /srv/portal --name portal \
        --tls-port 443 --tls-cert /etc/egov/tls/server.crt --tls-key /etc/egov/tls/server.key

With --tls-port it also serves the same pages over HTTPS (TLS 1.2+) with the
certificate the control plane's CA issued and delivered (the chain in
--tls-cert, the key, 0600, in --tls-key). Until both files exist HTTPS
connections are closed at once; a renewed pair is picked up within seconds,
without a restart.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import socket
import ssl
import threading
import time
from functools import partial

STARTED = time.time()
RELOAD_CHECK_SECONDS = 5.0
CONNECTION_TIMEOUT = 60  # a client that connects and stalls frees its thread after this


class TLSServer(http.server.ThreadingHTTPServer):
    """HTTPS on its own port: each connection wrapped with the current context of the certificate files."""

    def __init__(self, address: tuple[str, int], handler: object, cert: str, key: str) -> None:
        super().__init__(address, handler)
        self.cert, self.key = cert, key
        self._context: ssl.SSLContext | None = None
        self._stamp: tuple[float, float] | None = None
        self._checked = 0.0
        self._lock = threading.Lock()

    def current_context(self) -> ssl.SSLContext | None:
        """The context of the files as they are now (None until they exist and load); re-read when they change."""
        with self._lock:
            now = time.monotonic()
            if self._context is not None and now - self._checked < RELOAD_CHECK_SECONDS:
                return self._context
            self._checked = now
            try:
                stamp = (os.stat(self.cert).st_mtime, os.stat(self.key).st_mtime)
                if stamp != self._stamp:
                    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                    context.minimum_version = ssl.TLSVersion.TLSv1_2
                    context.load_cert_chain(self.cert, self.key)
                    self._context, self._stamp = context, stamp
                    print(f"TLS certificate loaded from {self.cert}", flush=True)
            except (OSError, ssl.SSLError) as error:
                if self._context is None:
                    print(f"no TLS certificate yet ({error}): HTTPS connections are closed", flush=True)
            return self._context

    def get_request(self) -> tuple[socket.socket, object]:
        raw, address = self.socket.accept()
        context = self.current_context()
        if context is None:
            raw.close()
            raise OSError("no TLS certificate")  # socketserver drops the connection and goes on
        raw.settimeout(CONNECTION_TIMEOUT)
        # The handshake runs in the connection's thread (first read), not in the accept loop.
        return context.wrap_socket(raw, server_side=True, do_handshake_on_connect=False), address


class Handler(http.server.SimpleHTTPRequestHandler):
    """Static files from --root, plus /health and /api/info as JSON."""

    server_version = "egov-httpd/1"
    sys_version = ""
    service_name = "web"
    timeout = CONNECTION_TIMEOUT

    def _json(self, status: int, body: dict) -> None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path in ("/health", "/healthz"):
            self._json(200, {"status": "ok", "service": self.service_name, "host": socket.gethostname(),
                             "uptime_seconds": round(time.time() - STARTED, 1)})
            return
        if self.path == "/api/info":
            self._json(200, {"service": self.service_name, "host": socket.gethostname()})
            return
        super().do_GET()

    def end_headers(self) -> None:
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("X-Frame-Options", "DENY")
        super().end_headers()

    def log_message(self, format: str, *args: object) -> None:
        print(f"{self.address_string()} {format % args}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--bind", default="0.0.0.0")  # noqa: S104 - a server; the firewall filters
    parser.add_argument("--root", default="/srv/portal")
    parser.add_argument("--name", default="web")
    parser.add_argument("--tls-port", type=int, default=0, help="also serve HTTPS here (0: no HTTPS)")
    parser.add_argument("--tls-cert", default="/etc/egov/tls/server.crt")
    parser.add_argument("--tls-key", default="/etc/egov/tls/server.key")
    args = parser.parse_args()
    Handler.service_name = args.name
    handler = partial(Handler, directory=args.root)
    server = http.server.ThreadingHTTPServer((args.bind, args.port), handler)
    server.daemon_threads = True
    if args.tls_port:
        secure = TLSServer((args.bind, args.tls_port), handler, args.tls_cert, args.tls_key)
        secure.daemon_threads = True
        secure.current_context()  # says at start whether a certificate is there
        threading.Thread(target=secure.serve_forever, name="https", daemon=True).start()
        print(f"{args.name} listening on {args.bind}:{args.tls_port} (HTTPS)", flush=True)
    print(f"{args.name} listening on {args.bind}:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
