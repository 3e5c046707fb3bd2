"""Serving the console: one process with the WSGI server, the scheduler and the harmless-run threads.

HTTPS is the default (:mod:`controlplane.web.console_tls` decides): the
operator's ``listen.tls_cert``/``tls_key``, else a certificate from the
control plane's CA (``listen.tls: auto``); plain HTTP with ``--plain-http``,
``listen.tls: off`` or before the CA exists.

Plain HTTP is served by waitress (a thread pool). Waitress has no TLS, and
wrapping its non-blocking sockets in ``ssl`` breaks on partial TLS records,
so with TLS the console is served by werkzeug's threaded WSGI server with an
``ssl.SSLContext`` (TLS 1.2 or newer). Each accepted connection is wrapped
with ``do_handshake_on_connect=False`` so the handshake happens in the
connection's own thread (a client that connects and stalls cannot block the
accept loop), every connection has a socket timeout, and the context is the
current one of :class:`~controlplane.web.console_tls.TLSFiles` (a renewed
certificate is picked up without a restart).

Worker processes (``--workers N`` or ``listen.workers``, HTTP or HTTPS):
one process's threads share one interpreter lock and one core. With N > 1
the main process binds the socket (and gets the certificate), then forks
N - 1 workers *before* it builds anything (no thread, engine or connection
exists at the fork); each worker builds its own app and its own TLS context
on the inherited socket and the kernel spreads connections among them. Workers never run the scheduler or
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
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from types import FrameType

    from flask import Flask

    from controlplane.config import Config
    from controlplane.web.console_tls import TLSFiles

CONNECTION_TIMEOUT = 60


class _Stop(SystemExit):
    """Raised by the signal handler to leave the server loop."""


def _stop_on_signal(signum: int, _frame: FrameType | None) -> None:
    # Ignore further signals while shutting down; a second SIGTERM must not
    # interrupt the clean-up half way.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise _Stop(0)


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


def _worker(config: Config, sock: socket.socket, threads: int, tls: TLSFiles | None) -> None:
    """Serve the console in a forked worker on the inherited socket until SIGTERM; never returns."""
    from controlplane.web import create_app, shutdown

    code = 0
    try:
        _die_with_parent()
        signal.signal(signal.SIGTERM, _stop_on_signal)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the main process, which stops us
        app = create_app(config, {"EGOV_STREAM_LIMIT": max(2, threads // 2), "EGOV_TLS": tls is not None})
        try:
            if tls is not None:
                server, _bound, run = make_tls(app, "", 0, tls, sock)
            else:
                server, _bound, run = make_waitress(app, "", 0, threads, sock, proxy_headers=config.trusted_proxies > 0)
            try:
                run()
            except _Stop:
                pass
            finally:
                _close(server, tls)
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


def start_workers(
    config: Config, sock: socket.socket, threads: int, count: int, tls: TLSFiles | None = None
) -> list[int]:
    """Fork ``count`` worker processes serving on ``sock`` (HTTPS with ``tls``); return their pids.

    Call before any thread exists.
    """
    pids = []
    for _ in range(count):
        pid = os.fork()
        if pid == 0:
            _worker(config, sock, threads, tls)
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


def make_tls(
    app: Flask, host: str, port: int, tls: TLSFiles, sock: socket.socket | None = None
) -> tuple[Any, int, Callable[[], None]]:
    """Return (server, bound port, run function) for HTTPS with werkzeug's threaded server (on ``sock`` when given).

    Raises ssl.SSLError/OSError when the certificate files do not load.
    """
    from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

    class Handler(WSGIRequestHandler):
        timeout = CONNECTION_TIMEOUT  # bounds the handshake and idle keep-alive per connection

    class Server(ThreadedWSGIServer):
        def get_request(self) -> tuple[socket.socket, Any]:
            raw, address = self.socket.accept()
            # The handshake runs in the connection's thread (first read), under the handler's timeout.
            return tls.context().wrap_socket(raw, server_side=True, do_handshake_on_connect=False), address

    context = tls.context()
    server = Server(host, port, app, Handler, fd=sock.fileno() if sock is not None else None)
    server.ssl_context = context  # tells werkzeug the scheme is https
    # Every process (and, in tests, every server) woken for one connection calls accept(); all but one
    # lose it. A blocking accept() would then park the loser until the next connection, deaf to
    # shutdown(): non-blocking, the loser's accept() fails with EAGAIN, which socketserver ignores.
    server.socket.setblocking(False)
    return server, int(server.port), server.serve_forever


def _close(server: Any, tls: TLSFiles | None) -> None:
    if tls is not None:
        server.server_close()
    else:
        server.close()


def default_workers() -> int:
    """Return how many console processes to run when neither --workers nor listen.workers says.

    Two on a machine with two or more cores (measured: one process misses a 150 ms p95 at 20 clients on
    1,000 hosts, two meet it), with HTTP or HTTPS alike.
    """
    return min(2, os.cpu_count() or 1)


def serve(
    config: Config,
    host: str | None = None,
    port: int | None = None,
    threads: int = 8,
    workers: int | None = None,
    plain_http: bool = False,
) -> None:
    """Run the console and the scheduler until SIGTERM/SIGINT.

    ``host``/``port`` override the bind address; ``workers`` is the number of
    processes (default ``listen.workers``, else :func:`default_workers`), each
    serving HTTPS or HTTP as :func:`controlplane.web.console_tls.serving_files`
    decides (``plain_http`` forces HTTP). Prints ``console: URL`` once
    listening, and how it serves on stderr. Raises EgovError when the store or
    the vault cannot be opened, OSError when the address is taken,
    ssl.SSLError when a certificate and key do not load.
    """
    from controlplane.web import create_app, shutdown
    from controlplane.web.console_tls import serving_files

    bind_host = host or config.listen_host
    bind_port = config.listen_port if port is None else port
    tls_files, how = serving_files(config, bind_host, plain_http)
    tls = tls_files is not None
    click.echo(f"serving {how}", err=True)  # not "console: ...": run.sh and tests read that line for the URL
    processes = workers or config.listen_workers or default_workers()
    sock = None
    if processes > 1:
        from controlplane.web import prepare_site

        prepare_site(config)  # migrations, dead runs, the session key: once, before workers race to do it
        sock = listening_socket(bind_host, bind_port)
    # Fork first: the workers must not inherit threads, database connections or the scheduler.
    children = start_workers(config, sock, threads, processes - 1, tls_files) if sock is not None else []
    try:
        # Each live output stream holds a worker thread: let streams take at most half of them.
        app = create_app(config, {"EGOV_STREAM_LIMIT": max(2, threads // 2), "EGOV_TLS": tls})
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
        if tls_files is not None:
            server, bound, run = make_tls(app, bind_host, bind_port, tls_files, sock)
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
            _close(server, tls_files)
    finally:
        stop_workers(children)
        if background is not None:
            elector = background.stop()
            if elector is not None:
                elector.stop()  # stops the duties while the lease is still renewed, then releases it
        shutdown(app)
        click.echo("console stopped", err=True)
