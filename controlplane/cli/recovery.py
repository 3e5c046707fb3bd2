"""``egov recovery kit|status|stop`` and ``egov recover``: the control plane's own disaster recovery.

Exit codes: 0 done; 1 the work failed (a center unreachable, a restore or a
check failed); 2 bad input, in one line: a mistyped or foreign share, too few
shares, a snapshot older than its RPO without ``--accept-stale``, a folder
that already holds a site. Shares come from stdin (one a line) or a hidden
prompt, never from argv.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from controlplane.cli import CliContext, pass_context
from controlplane.cli.common import open_store, open_vault, print_json
from controlplane.errors import BadInputError


@click.group()
def recovery() -> None:
    """The control plane's recovery kit: make it, check it is current."""


@recovery.command("kit")
@click.option("--custodians", required=True, help="Comma-separated names of the people who each keep one share.")
@click.option("--threshold", required=True, type=int, help="How many shares open the kit (at least 2).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Kit file (default: recovery-kit-ID.egovkit).")
@click.option("--shares-dir", type=click.Path(file_okay=False), help="Where the share sheets go (default: KIT.shares).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_context
def kit_command(
    context: CliContext, custodians: str, threshold: int, output: str | None, shares_dir: str | None, as_json: bool
) -> None:
    """Make a recovery kit: the sealed file and one share sheet (text and QR code) per custodian; audited.

    The previous kit's key is revoked on the backup centers. Hand each
    custodian their sheet, store the kit file apart from them, delete the
    sheets from this machine once printed.
    """
    from controlplane.cli.backup import backup_context
    from controlplane.recovery import make

    names = [name for name in custodians.split(",") if name.strip()]
    with backup_context(context) as ctx:
        made = make.build(ctx, names, threshold)
        kit_path = Path(output or f"recovery-kit-{made.header.kit_id}.egovkit")
        folder = Path(shares_dir) if shares_dir else kit_path.with_name(kit_path.name + ".shares")
        sheets = make.write(made, kit_path, folder)
        make.record(ctx, made, kit_path)
    if as_json:
        print_json({"kit_id": made.header.kit_id, "file": str(kit_path), "shares": [str(p) for p in sheets],
                    "threshold": threshold, "custodians": made.header.custodians})  # fmt: skip
        return
    click.echo(f"recovery kit {made.header.kit_id}: {kit_path} ({threshold} of {len(names)} shares open it)")
    for share, sheet in zip(made.shares, sheets, strict=True):
        click.echo(f"  share {share.index} for {made.header.custodian(share.index)}: {sheet} (+ .svg QR code)")
    click.echo("hand each custodian their sheet, then delete the sheets here; keep the kit file apart from them")


@recovery.command("status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_context
def status_command(context: CliContext, as_json: bool) -> None:
    """Say whether the newest kit is current, stale (and why) or used; exit 1 unless current."""
    from controlplane.recovery import standing
    from controlplane.recovery.status import kit_status

    store = open_store(context)
    try:
        result = kit_status(context.config, store, open_vault(context, store))
        restored = standing.read(store)
    finally:
        store.close()
    if as_json:
        print_json({**result.as_dict(), "standing": restored.as_dict() if restored else None})
    else:
        click.echo(result.sentence())
        if restored is not None:
            click.echo(f"this is a restored control plane: {restored.mode} ({restored.reason})")
    if not result.ok:
        raise SystemExit(1)


@recovery.command("stop")
@pass_context
def stop_command(context: CliContext) -> None:
    """Stop the console that `egov recover` started here (by the pid it recorded)."""
    from controlplane.recovery.recover import stop_console

    click.echo("stopped" if stop_console(context.config) else "no console of `egov recover` runs here")


def read_shares(threshold_hint: int | None) -> list[str]:
    """Share lines from stdin (piped), or a hidden prompt per share on a terminal."""
    if not sys.stdin.isatty():
        return sys.stdin.read().splitlines()
    lines = []
    wanted = threshold_hint or 2
    while len(lines) < wanted:
        text = click.prompt(f"share {len(lines) + 1} of {wanted}", hide_input=True, default="", show_default=False)
        if not text.strip():
            break
        lines.append(text)
    return lines


@click.command("recover")
@click.option("--kit", "kit_file", type=click.Path(dir_okay=False), help="The recovery kit file.")
@click.option("--into", type=click.Path(file_okay=False), default=".", show_default=True,
              help="Folder of the restored site (egov.yml and its state folder are made there).")  # fmt: skip
@click.option("--center", type=click.Choice(["primary", "secondary"]), help="Read only this center (default: both).")
@click.option("--accept-stale", is_flag=True, help="Restore a snapshot older than its RPO (audited).")
@click.option("--drill", is_flag=True, help="A drill's copy: stays passive whatever the lease says.")
@click.option("--host", help="Address the restored console listens on (default: egov.yml's).")
@click.option("--port", type=click.IntRange(1, 65535), help="Port of the restored console (default: egov.yml's).")
@click.option("--no-start", is_flag=True, help="Restore and verify, but do not start the console.")
@click.option("--activate", is_flag=True, help="Make this passive restored control plane the active one (audited).")
@click.option("--force", is_flag=True, help="With --activate: even though the original's lease still holds.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def recover(
    click_context: click.Context, kit_file: str | None, into: str, center: str | None, accept_stale: bool,
    drill: bool, host: str | None, port: int | None, no_start: bool, activate: bool, force: bool, as_json: bool,
) -> None:  # fmt: skip
    """Restore the control plane on this machine from the kit, K shares and a backup center; start it passive.

    Shares are read from stdin (one a line; `#` lines skipped, so share
    sheets can be piped) or asked for on a terminal. Prints the snapshots
    restored, what was verified, the RPO, and the RTO with its parts.
    With --activate (and --config of the restored site): make it active.
    """
    import re

    from controlplane.audit import cli_actor

    if host is not None and not re.fullmatch(r"[A-Za-z0-9.:-]{1,253}", host):
        raise BadInputError("--host must be an address or host name")
    if activate:
        _activate(click_context.obj, force, as_json)
        return
    if kit_file is None:
        raise BadInputError("give --kit FILE (the recovery kit), or --activate on a restored site")
    from controlplane.recovery import kitfile, shares
    from controlplane.recovery import recover as recovering

    try:
        text = Path(kit_file).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        said = getattr(error, "strerror", None) or error
        raise BadInputError(f"cannot read the kit file {kit_file}: {said}") from None
    header, _nonce, _sealed = kitfile.read_header(text)
    if sys.stdin.isatty():
        click.echo(f"kit {header.kit_id} of {header.site}: {header.threshold} of {len(header.custodians)} "
                   f"shares needed ({', '.join(header.custodians)})", err=True)  # fmt: skip
    given = shares.parse_many(read_shares(header.threshold))
    request = recovering.Request(
        kit_text=text, shares=given, into=Path(into), actor=cli_actor(), center=center, accept_stale=accept_stale,
        drill=drill, host=host, port=port, start=not no_start,
    )  # fmt: skip
    outcome = recovering.recover(request)
    if as_json:
        click.echo(recovering.json_text(outcome))
    else:
        for line in recovering.describe(outcome):
            click.echo(line)


def _activate(context: CliContext, force: bool, as_json: bool) -> None:
    import datetime as dt

    from controlplane.audit import cli_actor
    from controlplane.recovery import activation, standing, witness

    store = open_store(context)
    try:
        current = standing.read(store)
        if current is None or current.mode == "active":
            raise BadInputError("this control plane is already active")
        found, _notes = witness.read(context.config, store)
        state, newest = witness.verdict(found, dt.datetime.now(dt.UTC))
        if state == "held" and newest is not None and not force:
            raise BadInputError(
                f"the original's lease is held by {newest.holder} until {newest.expires_at:%H:%M:%S}Z (witnessed on "
                f"{newest.center}): it may be alive; stop it first, or give --force"
            )
        forced = " with --force while the original's lease held" if state == "held" else ""
        reason = f"activated by {cli_actor()}{forced}"
        standing.activate(store, actor=cli_actor(), reason=reason)
        notes = activation.after_activation(context.config, store)
    finally:
        store.close()
    if as_json:
        print_json({"mode": "active", "reason": reason, "notes": notes})
        return
    click.echo(f"active: {reason}")
    for note in notes:
        click.echo(f"  {note}")
    click.echo("a running console of this site starts its scheduler and monitor within seconds")
