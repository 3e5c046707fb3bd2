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

Worker processes (``--workers N`` or ``listen.workers``, plain HTTP only):
waitress serves from one process, so its threads share one interpreter lock
and one core. With N > 1 the main process binds the socket, then forks N - 1
workers *before* it builds anything (no thread, engine or connection exists
at the fork); each worker builds its own app on the inherited socket and the
kernel spreads connections among them. Workers never run the scheduler or
the monitor. Everything workers share lives in the store (runs
and their cancel flags, sessions, throttles), so any worker can serve any
request. A worker dies with the main process (PR_SET_PDEATHSIG) and is sent
SIGTERM when it stops.

One leader (:mod:`controlplane.leader`): the main process contends for the
store's leader lease and runs the scheduler and the monitor only while it
holds it (:class:`controlplane.web.duties.LeaderDuties`), so two ``egov serve`` processes on one
store (a second console, an overlapping restart) never both run a job or
probe. The others serve the console and take over when the holder dies.

SIGTERM or SIGINT stops the server, then the scheduler (waiting for a
running job) while the lease is still renewed, then releases the lease (a
waiting process takes over at once), then stops the harmless runs (marked
interrupted) and closes the store.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import ssl
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from types import FrameType

    from flask import Flask

    from controlplane.config import Config

CONNECTION_TIMEOUT = 60


class _Stop(SystemExit):
    """Raised by the signal handler to leave the server loop."""


def _stop_on_signal(signum: int, _frame: FrameType | None) -> None:
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


def make_waitress(
    app: Flask,
    host: str,
    port: int,
    threads: int,
    sock: socket.socket | None = None,
    proxy_headers: bool = False,
) -> tuple[Any, int, Callable[[], None]]:
    """Return (server, bound port, run function) for plain HTTP with waitress (on ``sock`` when given).

    ``proxy_headers`` (the site trusts proxies): waitress passes X-Forwarded-*
    through instead of clearing them, and the app decides whom to believe
    (:class:`controlplane.web.forwarded.TrustedProxies`, which also removes
    them from anyone else). Without it waitress clears them, as before.
    """
    from waitress import create_server

    where: dict[str, Any] = {"sockets": [sock]} if sock is not None else {"host": host, "port": port}
    server = create_server(
        app,
        **where,
        threads=threads,
        ident="egov",
        channel_timeout=120,
        connection_limit=200,
        clear_untrusted_proxy_headers=not proxy_headers,
    )
    return server, int(server.effective_port), server.run


def listening_socket(host: str, port: int) -> socket.socket:
    """Bind and listen on host:port (port 0: a free one); raises OSError when the address is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=1024)


def _die_with_parent() -> None:
    """Ask Linux to send this process SIGTERM when its parent dies (no orphan keeps the port)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _worker(config: Config, sock: socket.socket, threads: int) -> None:
    """Serve the console in a forked worker on the inherited socket until SIGTERM; never returns."""
    from controlplane.web import create_app, shutdown

    code = 0
    try:
        _die_with_parent()
        signal.signal(signal.SIGTERM, _stop_on_signal)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the main process, which stops us
        app = create_app(config, {"EGOV_STREAM_LIMIT": max(2, threads // 2)})
        try:
            server, _bound, run = make_waitress(app, "", 0, threads, sock, proxy_headers=config.trusted_proxies > 0)
            try:
                run()
            except _Stop:
                pass
            finally:
                server.close()
        finally:
            shutdown(app)
    except BaseException as error:
        if not isinstance(error, _Stop):
            click.echo(f"console worker {os.getpid()} failed: {error}", err=True)
            code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def start_workers(config: Config, sock: socket.socket, threads: int, count: int) -> list[int]:
    """Fork ``count`` worker processes serving on ``sock``; return their pids (call before any thread exists)."""
    pids = []
    for _ in range(count):
        pid = os.fork()
        if pid == 0:
            _worker(config, sock, threads)
        pids.append(pid)
    return pids


def stop_workers(pids: list[int], timeout: float = 30.0) -> None:
    """Send SIGTERM to the workers and wait for them (SIGKILL after ``timeout`` seconds)."""
    import time

    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    waiting = set(pids)
    while waiting and time.monotonic() < deadline:
        for pid in list(waiting):
            try:
                done, _status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                waiting.discard(pid)
        time.sleep(0.05)
    for pid in waiting:
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def make_tls(app: Flask, host: str, port: int, context: ssl.SSLContext) -> tuple[Any, int, Callable[[], None]]:
    """Return (server, bound port, run function) for HTTPS with werkzeug's threaded server."""
    from werkzeug.serving import WSGIRequestHandler, make_server

    class Handler(WSGIRequestHandler):
        timeout = CONNECTION_TIMEOUT  # bounds the handshake and idle keep-alive per connection

    server = make_server(host, port, app, threaded=True, request_handler=Handler)
    server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    server.ssl_context = context  # tells werkzeug the scheme is https
    return server, int(server.server_port), server.serve_forever


def default_workers(tls: bool) -> int:
    """Return how many console processes to run when neither --workers nor listen.workers says.

    Two on a machine with two or more cores (measured: one process misses a 150 ms p95 at 20 clients on
    1,000 hosts, two meet it); one with TLS, which the workers cannot serve.
    """
    return 1 if tls else min(2, os.cpu_count() or 1)


def serve(
    config: Config, host: str | None = None, port: int | None = None, threads: int = 8, workers: int | None = None
) -> None:
    """Run the console and the scheduler until SIGTERM/SIGINT.

    ``host``/``port`` override the bind address; ``workers`` is the number of
    processes (default ``listen.workers``, else :func:`default_workers`; more
    than one needs plain HTTP, as TLS is served by one process). Prints ``console:
    URL`` once listening. Raises EgovError when the store cannot be opened or
    workers are asked for with TLS, OSError when the address is taken.
    """
    from controlplane.errors import BadInputError
    from controlplane.web import create_app, shutdown

    bind_host = host or config.listen_host
    bind_port = config.listen_port if port is None else port
    tls = bool(config.tls_cert and config.tls_key)
    processes = workers or config.listen_workers or default_workers(tls)
    if processes > 1 and tls:
        raise BadInputError("worker processes need plain HTTP: serve TLS from a reverse proxy, or use one worker")
    sock = None
    if processes > 1:
        from controlplane.web import prepare_site

        prepare_site(config)  # migrations, dead runs, the session key: once, before workers race to do it
        sock = listening_socket(bind_host, bind_port)
    # Fork first: the workers must not inherit threads, database connections or the scheduler.
    children = start_workers(config, sock, threads, processes - 1) if sock is not None else []
    try:
        # Each live output stream holds a worker thread: let streams take at most half of them.
        app = create_app(config, {"EGOV_STREAM_LIMIT": max(2, threads // 2)})
    except BaseException:
        stop_workers(children)
        raise
    from controlplane.web.duties import LeaderDuties
    from controlplane.web.services.runbooks import alert_runner

    console = app.extensions["egov"]
    store, dispatcher = console.store, app.extensions["egov.dispatcher"]
    duties = LeaderDuties(config, store, dispatcher, alert_runner(console, dispatcher))
    background = None
    try:
        if tls:
            server, bound, run = make_tls(
                app, bind_host, bind_port, tls_context(str(config.tls_cert), str(config.tls_key))
            )
        else:
            server, bound, run = make_waitress(
                app, bind_host, bind_port, threads, sock, proxy_headers=config.trusted_proxies > 0
            )
        # A passive restored copy (issue 19) starts them only once it is active: controlplane/recovery/serving.py.
        from controlplane.recovery.serving import Background

        # The scheduler and the monitor run in the one process holding the leader lease (controlplane/leader.py):
        # this process contends for it (once active) and starts them when it wins.
        background = Background(config, store, lambda: duties.elector().start())
        if background.begin() != "started":
            click.echo(f"restored control plane, {background.describe()}: no schedules or probes run", err=True)
        signal.signal(signal.SIGTERM, _stop_on_signal)
        signal.signal(signal.SIGINT, _stop_on_signal)
        click.echo(f"console: {'https' if tls else 'http'}://{_display_host(bind_host)}:{bound}")
        if children:
            click.echo(f"console workers: {len(children) + 1} processes", err=True)
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
        stop_workers(children)
        if background is not None:
            elector = background.stop()
            if elector is not None:
                elector.stop()  # stops the duties while the lease is still renewed, then releases it
        shutdown(app)
        click.echo("console stopped", err=True)
