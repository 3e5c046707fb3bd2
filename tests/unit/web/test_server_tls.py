"""HTTPS from several processes' servers on one listening socket (what `egov serve --workers N` forks)."""

from __future__ import annotations

import http.client
import ssl
import threading

import pytest
from flask import Flask

from controlplane.config import Config
from controlplane.store import Store
from controlplane.web.console_tls import ensure_console_certificate
from controlplane.web.server import default_workers, listening_socket, make_tls


def _app(name: str) -> Flask:
    app = Flask(name)
    app.add_url_rule("/", "who", lambda: name)
    return app


def test_two_tls_servers_on_one_socket_both_answer_verified_requests(config: Config, store: Store) -> None:
    from controlplane.pki.authority import init_authority

    init_authority(config, store, "test")
    files, _ = ensure_console_certificate(config, store, "127.0.0.1")
    sock = listening_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    servers = [make_tls(_app(name), "127.0.0.1", 0, files, sock) for name in ("first", "second")]
    assert {bound for _server, bound, _run in servers} == {port}
    threads = [threading.Thread(target=run, daemon=True) for _server, _bound, run in servers]
    for thread in threads:
        thread.start()
    client = ssl.create_default_context(cafile=str(config.state_dir / "pki" / "root.pem"))
    seen = set()
    try:
        for _ in range(400):  # which server wins a connection is the kernel's choice: ask until both have
            connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=client)
            connection.request("GET", "/", headers={"Connection": "close"})
            seen.add(connection.getresponse().read().decode())
            connection.close()
            if len(seen) == 2:
                break
    finally:
        for server, _bound, _run in servers:
            server.shutdown()
            server.server_close()
        sock.close()
    assert seen == {"first", "second"}


def test_a_client_that_does_not_trust_the_ca_is_refused(config: Config, store: Store) -> None:
    from controlplane.pki.authority import init_authority

    init_authority(config, store, "test")
    files, _ = ensure_console_certificate(config, store, "127.0.0.1")
    server, port, run = make_tls(_app("only"), "127.0.0.1", 0, files)
    threading.Thread(target=run, daemon=True).start()
    try:
        connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=ssl.create_default_context())
        with pytest.raises(ssl.SSLCertVerificationError):
            connection.request("GET", "/")
    finally:
        server.shutdown()
        server.server_close()


def test_the_default_worker_count_no_longer_depends_on_tls() -> None:
    assert default_workers() >= 1
