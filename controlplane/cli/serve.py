"""``egov serve``: run the web console, the JSON API and the scheduler in one process."""

from __future__ import annotations

import click

from controlplane.cli import CliContext, pass_context


@click.command()
@click.option("--host", help="Address to bind (default: listen.host in egov.yml, 127.0.0.1).")
@click.option(
    "--port", type=click.IntRange(0, 65535), help="TCP port (default: listen.port, 8080; 0 picks a free port)."
)
@click.option("--threads", default=8, show_default=True, type=click.IntRange(2, 64), help="Threads per process.")
@click.option(
    "--workers",
    type=click.IntRange(1, 32),
    help="Processes serving the console, HTTP or HTTPS (default: listen.workers, else 2 on two or more cores).",
)
@click.option(
    "--plain-http",
    is_flag=True,
    help="Serve plain HTTP even when egov.yml names a certificate or the CA could issue one.",
)
@pass_context
def serve(
    context: CliContext, host: str | None, port: int | None, threads: int, workers: int | None, plain_http: bool
) -> None:
    """Run the console until SIGTERM or Ctrl-C: HTTPS by default, plain HTTP with --plain-http.

    The certificate is egov.yml's listen.tls_cert/tls_key, else one from the
    control plane's CA (listen.tls: auto, reused until it is due for renewal;
    `egov ca export` gives the CA certificate browsers must trust). Without a
    CA, or with listen.tls: off, it serves HTTP. Prints ``console: URL`` once
    it listens. Open the store first (applying migrations and marking runs of
    dead processes interrupted), then serve.
    """
    import re

    from controlplane.errors import BadInputError
    from controlplane.web.server import serve as run_console

    if host is not None and not re.fullmatch(r"[A-Za-z0-9.:-]{1,253}", host):
        raise BadInputError("--host must be an address or host name")
    run_console(context.config, host=host, port=port, threads=threads, workers=workers, plain_http=plain_http)
