"""``egov init``: create egov.yml, the state folder, the master key and the store."""

from __future__ import annotations

import os

import click

from controlplane.cli import CliContext, pass_context
from controlplane.cli.common import audit


@click.command()
@pass_context
def init(context: CliContext) -> None:
    """Create what a fresh site needs; safe to run again (changes nothing then).

    Writes egov.yml (from the schema's sample) when missing, creates the state
    folder (0700), the vault master key (0600) and the state store,
    applies pending migrations, and creates the control plane's CA (root,
    intermediate and SSH CA, keys in the vault: a few milliseconds) so that
    provision certifies hosts and the console serves HTTPS from the start.
    """
    from controlplane.audit import cli_actor
    from controlplane.config import find_config_path
    from controlplane.config_schema import sample_yaml
    from controlplane.pki.authority import authority_status, init_authority
    from controlplane.store import open_store
    from controlplane.vault import Vault, create_key_file

    path = find_config_path(context.config_path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(sample_yaml() + "\n", encoding="utf-8")
        click.echo(f"wrote {path}")
    config = context.config
    config.state_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(config.state_dir, 0o700)
    if not config.key_file.exists():
        create_key_file(config.key_file)
        click.echo(f"created master key {config.key_file} (mode 0600): back it up apart from the database")
    store = open_store(config)
    Vault(store, config.key_file, config.cipher)
    audit(store, "init", str(path), revision=store.current_revision())
    click.echo(f"state store ready ({store.current_revision()}): {_safe_url(config.database_url)}")
    if not authority_status(config, store).initialised:
        init_authority(config, store, requester=cli_actor())
        click.echo("created the control plane's CA (see egov ca status; for browsers: egov ca export)")
    store.close()


def _safe_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
