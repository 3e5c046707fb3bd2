"""Serving the console: one process with the WSGI server, the scheduler and the harmless-run threads.

Plain HTTP is served by waitress (a thread pool; the default for a console
on loopback or behind a TLS-terminating reverse proxy).

TLS (``listen.tls_cert`` and ``listen.tls_key`` in egov.yml): waitress has
no TLS, and wrapping its non-blocking sockets in ``ssl`` breaks on partial
TLS records, so with TLS the console is served by werkzeug's threaded WSGI
server with an ``ssl.SSLContext`` (TLS 1.2 or newer). The listening socket
is wrapped with ``do_handshake_on_connect=False`` so the handshake happens
in the connection's own thread (a client that connects and stalls cannot
block the accept loop), and every connection has a socket timeout. A large
deployment puts a reverse proxy in front instead and serves plain HTTP on
loopback.

SIGTERM or SIGINT stops the server, then the scheduler (waiting for a
running job), then the harmless runs (marked interrupted), then closes the store.
"""

from __future__ import annotations

import signal
import ssl
import sys
from collections.abc import Callable
from typing import Any

import click

CONNECTION_TIMEOUT = 60


class _Stop(SystemExit):
    """Raised by the signal handler to leave the server loop."""


def start_monitor(config: Any, store: Any) -> tuple[Any, Any, Any] | None:
    """Start the probe and alert loop in a thread when the site has a monitoring folder.

    Given the Config and the open store; returns (monitor, thread, stop event),
    or None when there is no monitoring folder or it is invalid (the console
    still serves; the error is logged with its file and key).
    """
    import threading

    from controlplane.errors import EgovError

    if not config.monitoring.is_dir():
        return None
    from controlplane.monitoring.service import Monitor

    try:
        monitor = Monitor(config, store)
    except EgovError as error:
        click.echo(f"monitoring not started: {error.message}", err=True)
        return None
    stop = threading.Event()
    thread = threading.Thread(target=monitor.run_forever, args=(stop,), name="egov-monitor", daemon=True)
    thread.start()
    return monitor, thread, stop


def stop_monitor(running: tuple[Any, Any, Any] | None) -> None:
    """Stop the monitor thread started by :func:`start_monitor` and close its connections."""
    if not running:
        return
    monitor, thread, stop = running
    stop.set()
    thread.join(timeout=30)
    monitor.close()


def _stop_on_signal(signum: int, _frame: Any) -> None:
    # Ignore further signals while shutting down; a second SIGTERM must not
    # interrupt the clean-up half way.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise _Stop(0)


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    """Return a server SSLContext (TLS 1.2+) for a PEM certificate and key.

    Raises ssl.SSLError / OSError when the files are unreadable or do not match.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(certfile=cert, keyfile=key)
    return context


def _display_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def make_waitress(app: Any, host: str, port: int, threads: int) -> tuple[Any, int, Callable[[], None]]:
    """Return (server, bound port, run function) for plain HTTP with waitress."""
    from waitress import create_server

    server = create_server(
        app,
        host=host,
        port=port,
        threads=threads,
        ident="egov",
        channel_timeout=120,
        connection_limit=200,
        clear_untrusted_proxy_headers=True,
    )
    return server, int(server.effective_port), server.run


def make_tls(app: Any, host: str, port: int, context: ssl.SSLContext) -> tuple[Any, int, Callable[[], None]]:
    """Return (server, bound port, run function) for HTTPS with werkzeug's threaded server."""
    from werkzeug.serving import WSGIRequestHandler, make_server

    class Handler(WSGIRequestHandler):
        timeout = CONNECTION_TIMEOUT  # bounds the handshake and idle keep-alive per connection

    server = make_server(host, port, app, threaded=True, request_handler=Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    server.ssl_context = context  # tells werkzeug the scheme is https
    return server, int(server.server_port), server.serve_forever


def serve(config: Any, host: str | None = None, port: int | None = None, threads: int = 8) -> None:
    """Run the console and the scheduler until SIGTERM/SIGINT.

    Given the site Config and optional overrides of the bind address. Prints
    ``console: URL`` once listening. Raises EgovError when the store cannot
    be opened, OSError when the address is taken.
    """
    from controlplane.scheduler import start_scheduler, stop_scheduler
    from controlplane.web import create_app, shutdown

    bind_host = host or config.listen_host
    bind_port = config.listen_port if port is None else port
    # Each live output stream holds a worker thread: let streams take at most half of them.
    app = create_app(config, {"EGOV_STREAM_LIMIT": max(2, threads // 2)})
    store = app.extensions["egov"].store
    scheduler = None
    monitor = None
    try:
        tls = bool(config.tls_cert and config.tls_key)
        if tls:
            server, bound, run = make_tls(
                app, bind_host, bind_port, tls_context(str(config.tls_cert), str(config.tls_key))
            )
        else:
            server, bound, run = make_waitress(app, bind_host, bind_port, threads)
        scheduler = start_scheduler(store, config)
        monitor = start_monitor(config, store)
        signal.signal(signal.SIGTERM, _stop_on_signal)
        signal.signal(signal.SIGINT, _stop_on_signal)
        click.echo(f"console: {'https' if tls else 'http'}://{_display_host(bind_host)}:{bound}")
        sys.stdout.flush()
        try:
            run()
        except _Stop:
            pass
        finally:
            if tls:
                server.server_close()
            else:
                server.close()
    finally:
        stop_monitor(monitor)
        stop_scheduler(scheduler)
        shutdown(app)
        click.echo("console stopped", err=True)
