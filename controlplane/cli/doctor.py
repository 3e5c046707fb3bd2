"""``egov doctor``: each external tool, its path, version and whether it is usable.

Exit 0 when every required tool is usable, 1 otherwise, so scripts and CI can
gate on it. It never reads ``egov.yml``: it is the first thing to run on a new
machine, before ``egov init``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import click
from rich.text import Text

from controlplane.cli.output import Column, console, show_table, styled, wide_option
from controlplane.doctor import ToolCheck, all_required_usable, report, run_checks

COLUMNS = (
    Column("TOOL", key=True),
    Column("PATH"),
    Column("VERSION", key=True),
    Column("USABLE"),
    Column("NEEDED", optional=1),
)


def _status(check: ToolCheck) -> Text:
    if check.usable:
        return styled("ok", "green")
    # A missing optional tool only disables one feature: yellow, not red.
    return styled(check.reason, "red" if check.required else "yellow")


def _needed_for(check: ToolCheck) -> str:
    need = "required" if check.required else "for"
    wanted = f", >= {check.minimum}" if check.minimum else ""
    return f"{need}: {check.purpose}{wanted}"


def table_rows(checks: Sequence[ToolCheck]) -> list[list[Any]]:
    """One row per checked tool: name, path, version, verdict, what it is needed for."""
    return [[c.name, c.path or None, c.version or None, _status(c), _needed_for(c)] for c in checks]


def recovery_kit(config_path: str | None) -> dict[str, Any] | None:
    """The recovery kit's status (issue 19) when a site is set up here; None before ``egov init``. Never raises.

    Here, in the face, and not in :mod:`controlplane.doctor`: the core checks
    tools and must not know the recovery engine; this command joins the two.

    Reads egov.yml only when one is found (doctor must still work before
    init), opens the store without migrating and the vault, and compares the
    newest kit with the site (:func:`controlplane.recovery.status.kit_status`,
    about a second with the inventory).
    """
    from pathlib import Path

    try:
        from controlplane.config import load_config
        from controlplane.recovery.status import kit_status
        from controlplane.store import open_store
        from controlplane.vault import open_vault

        config = load_config(config_path)
        if not Path(config.key_file).exists():
            return None
        store = open_store(config, upgrade=False, recover=False)
        try:
            return kit_status(config, store, open_vault(config, store)).as_dict()
        finally:
            store.close()
    except Exception as error:  # no site, or one that does not open: doctor reports tools regardless
        message = getattr(error, "message", str(error)).splitlines()[0] if str(error) else type(error).__name__
        return {"state": "unknown", "reasons": [message], "sentence": f"recovery kit: cannot tell ({message})"}


@click.command("doctor")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@wide_option
@click.pass_context
def doctor(ctx: click.Context, as_json: bool, wide: bool) -> None:
    """Show each external tool, its version and whether it is usable.

    Exits 0 when every required tool (restic >= 0.17, ssh, sshd, ssh-keygen,
    ip, nsenter, unshare) is usable, 1 otherwise.
    """
    verbose = bool(getattr(ctx.obj, "verbose", False))
    if not verbose:
        # A failing version command is a finding shown in the table, not a
        # warning to print twice.
        logging.getLogger("controlplane.execute").setLevel(logging.ERROR)
    checks = run_checks()
    ok = all_required_usable(checks)
    kit = recovery_kit(getattr(ctx.obj, "config_path", None))  # None before `egov init` (issue 19)
    if as_json:
        click.echo(json.dumps({**report(checks), **({"recovery_kit": kit} if kit else {})}, indent=2))
    else:
        out = console()
        show_table(COLUMNS, table_rows(checks), wide=wide, title="External tools", out=out)
        if ok:
            out.print("[green]every required tool is usable[/green]")
        else:
            broken = ", ".join(c.name for c in checks if c.required and not c.usable)
            out.print(styled(f"required tools not usable: {broken}", "red"))
        if kit is not None:
            out.print(styled(kit["sentence"], "green" if kit["state"] == "current" else "red"))
    if not ok:
        ctx.exit(1)
