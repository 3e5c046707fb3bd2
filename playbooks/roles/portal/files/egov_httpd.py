#!/usr/bin/python3
"""EduGov role web service: static pages, /health and a small JSON API (stdlib only).

Managed by the EduGov control plane (provision.yml). Runs in the foreground
(the lab's init or systemd supervises it) as an unprivileged account.

    egov_httpd.py --port 80 --root /srv/portal --name portal
"""

from __future__ import annotations

import argparse
import http.server
import json
import socket
import time
from functools import partial

STARTED = time.time()


class Handler(http.server.SimpleHTTPRequestHandler):
    """Static files from --root, plus /health and /api/info as JSON."""

    server_version = "egov-httpd/1"
    sys_version = ""
    service_name = "web"

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
    args = parser.parse_args()
    Handler.service_name = args.name
    handler = partial(Handler, directory=args.root)
    server = http.server.ThreadingHTTPServer((args.bind, args.port), handler)
    server.daemon_threads = True
    print(f"{args.name} listening on {args.bind}:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
