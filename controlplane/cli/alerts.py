"""``egov alerts``: list, acknowledge and silence alerts; the delivery log; the sites' intake tokens.

* ``egov alerts list|ack|silence|unsilence|silences|deliveries``.
* ``egov alerts intake-token create --site S [--name N] | list | revoke ID``: the
  per-site tokens sites' own Alertmanagers post with (the token is printed once).
"""

from __future__ import annotations

import datetime as dt

import click

from controlplane.cli import CliContext, pass_context
from controlplane.cli.common import open_store, print_json
from controlplane.cli.monitor import monitoring_spec
from controlplane.cli.output import Column, echo, moment, plain, show_table, styled, wide_option

STATE_STYLE = {"firing": "red", "pending": "yellow", "resolved": "green"}
ALERT_COLUMNS = (
    Column("FINGERPRINT", key=True),
    Column("STATE", key=True),
    Column("ALERT", key=True),
    Column("SEVERITY", key=True, optional=4),
    Column("HOST", key=True),
    Column("SITE", key=True, optional=3),
    Column("SINCE (UTC)", key=True, optional=1),
    Column("NOTES", optional=2),
)
SILENCE_COLUMNS = (
    Column("ID", key=True),
    Column("ACTIVE", key=True),
    Column("MATCHERS"),
    Column("UNTIL / WINDOW"),
    Column("AUTHOR", optional=2),
    Column("COMMENT", optional=1),
)
DELIVERY_COLUMNS = (
    Column("ID", key=True, justify="right"),
    Column("RECEIVER", key=True),
    Column("KIND", key=True, optional=2),
    Column("STATUS", key=True),
    Column("ALERTS", key=True, justify="right", optional=3),
    Column("TRIES", key=True, justify="right", optional=4),
    Column("CREATED (UTC)", key=True, optional=1),
    Column("ERROR"),
)
TOKEN_COLUMNS = (
    Column("ID", key=True, justify="right"),
    Column("SITE", key=True),
    Column("NAME"),
    Column("PREFIX", key=True, optional=2),
    Column("LAST USED (UTC)", key=True, optional=1),
    Column("ACCEPTED", key=True, justify="right"),
    Column("REFUSED", key=True, justify="right"),
)


@click.group()
def alerts() -> None:
    """List, acknowledge and silence alerts."""


def _actor() -> str:
    from controlplane.audit import cli_actor

    return cli_actor()


@alerts.command("list")
@click.option("--state", type=click.Choice(["pending", "firing", "resolved", "silenced", "inhibited"]))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@wide_option
@pass_context
def list_alerts(context: CliContext, state: str | None, as_json: bool, wide: bool) -> None:
    """Show alerts, firing first, with acks, silences and inhibitions."""
    from controlplane.monitoring.alert_actions import list_alerts as query

    rows = query(open_store(context), monitoring_spec(context), state=state)
    if as_json:
        print_json(rows)
        return
    table = []
    for row in rows:
        notes = []
        if row["acked_by"]:
            notes.append(f"acked by {row['acked_by']}")
        if row["silenced_by"]:
            notes.append("silenced " + ",".join(row["silenced_by"]))
        if row["inhibited_by"]:
            notes.append("inhibited")
        if row["flapping"]:
            notes.append("flapping")
        labels = row["labels"]
        table.append(
            [
                row["fingerprint"],
                styled(row["state"], STATE_STYLE.get(row["state"], "")),
                row["name"],
                labels.get("severity"),
                labels.get("host"),
                labels.get("site"),
                moment(row["fired_at"] or row["active_since"]),
                "; ".join(notes) or plain(row["annotations"].get("summary", ""))[:60],
            ]
        )
    show_table(ALERT_COLUMNS, table, wide=wide)


@alerts.command("ack")
@click.argument("fingerprint")
@click.option("-m", "--comment", default="", help="What you are doing about it.")
@pass_context
def ack(context: CliContext, fingerprint: str, comment: str) -> None:
    """Acknowledge a firing alert (stops repeats and escalation)."""
    from controlplane.monitoring.alert_actions import ack_alert

    row = ack_alert(open_store(context), fingerprint, _actor(), comment)
    echo(f"acknowledged {row['fingerprint']} {plain(row['name'])} as {plain(row['acked_by'])}")


def _parse_until(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    from controlplane.errors import BadInputError

    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadInputError(f"--until {text!r} is not an ISO 8601 time") from None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


@alerts.command("silence")
@click.argument("matchers", nargs=-1, required=True)
@click.option("-d", "--duration", help="How long, e.g. 2h or 30m.")
@click.option("--until", help="End time (ISO 8601, UTC unless a zone is given).")
@click.option("-m", "--comment", required=True, help="Why (shown to everyone on call).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_context
def silence(
    context: CliContext, matchers: tuple[str, ...], duration: str | None, until: str | None, comment: str, as_json: bool
) -> None:
    """Silence alerts matching all MATCHERS (host=mn-db-1 alertname=~Disk.*)."""
    from controlplane.errors import BadInputError
    from controlplane.monitoring.alert_actions import create_silence
    from controlplane.monitoring.labels import parse_duration

    try:
        seconds = parse_duration(duration) if duration else None
    except ValueError as error:
        raise BadInputError(str(error)) from None
    made = create_silence(
        open_store(context), list(matchers), author=_actor(), comment=comment, ends_at=_parse_until(until),
        duration=seconds,
    )  # fmt: skip
    if as_json:
        print_json(made)
    else:
        echo(f"silence {made['id']} until {moment(made['ends_at'])} UTC: {plain(' '.join(made['matchers']))}")


@alerts.command("unsilence")
@click.argument("silence_id")
@pass_context
def unsilence(context: CliContext, silence_id: str) -> None:
    """End a silence now."""
    from controlplane.monitoring.alert_actions import expire_silence

    expire_silence(open_store(context), silence_id, _actor())
    click.echo(f"silence {silence_id} ended")


@alerts.command("silences")
@click.option("--all", "include_expired", is_flag=True, help="Include ended silences.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@wide_option
@pass_context
def silences(context: CliContext, include_expired: bool, as_json: bool, wide: bool) -> None:
    """Show silences (from the store and from monitoring/silences.yml)."""
    from controlplane.monitoring.alert_actions import list_silences

    rows = list_silences(open_store(context), monitoring_spec(context), include_expired=include_expired)
    if as_json:
        print_json(rows)
        return
    table = []
    for row in rows:
        every = row["every"]
        span = (
            f"{','.join(every['days']) or 'daily'} {every['start']}-{every['end']} {every['timezone']}"
            if every
            else moment(row["ends_at"])
        )
        table.append([row["id"], "yes" if row["active"] else "no", " ".join(row["matchers"]), span, row["author"],
                      plain(row["comment"])[:60]])  # fmt: skip
    show_table(SILENCE_COLUMNS, table, wide=wide)


@alerts.command("deliveries")
@click.option("--limit", default=30, show_default=True, type=click.IntRange(1, 10000))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@wide_option
@pass_context
def deliveries(context: CliContext, limit: int, as_json: bool, wide: bool) -> None:
    """Show the delivery log (newest first)."""
    from controlplane.monitoring.delivery import delivery_log

    with open_store(context).session() as session:
        rows = delivery_log(session, limit)
    if as_json:
        print_json(rows)
        return
    table = [
        [row["id"], row["receiver"], f"{row['kind']}/{row['payload_status']}", row["status"], row["alerts"],
         row["attempts"], moment(row["created_at"]), row["last_error"]]
        for row in rows
    ]  # fmt: skip
    show_table(DELIVERY_COLUMNS, table, wide=wide)


@alerts.group("intake-token")
def intake_token() -> None:
    """Tokens the sites' own Alertmanagers post alerts with (each speaks for one site)."""


@intake_token.command("create")
@click.option("--site", required=True, help="The site (and the sites below it) the token may raise alerts for.")
@click.option("--name", help="A label for people (default: '<site> alertmanager').")
@pass_context
def intake_token_create(context: CliContext, site: str, name: str | None) -> None:
    """Make an intake token; it is printed once on stdout (only its hash is kept)."""
    from controlplane.cli.common import audit
    from controlplane.inventory import load_inventory
    from controlplane.monitoring.intake_tokens import create_token

    known = load_inventory(context.config.inventory).sites.keys()
    store = open_store(context)
    with store.session() as session:
        row, clear = create_token(session, site, name=name, created_by=_actor(), known_sites=known)
    audit(
        store, "alerts.intake_token.create", f"intake-token:{row.id}", site=row.site, name=row.name, prefix=row.prefix
    )
    click.echo(f"intake token {row.id} for {row.site} ({row.name}); shown once, put it in the Alertmanager's "
               "webhook http_config as a bearer token:", err=True)  # fmt: skip
    click.echo(clear)


@intake_token.command("list")
@click.option("--all", "include_revoked", is_flag=True, help="Include revoked tokens.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@wide_option
@pass_context
def intake_token_list(context: CliContext, include_revoked: bool, as_json: bool, wide: bool) -> None:
    """Show the intake tokens (never the tokens themselves) and whether the legacy site-wide one is set."""
    from controlplane.cli.common import open_vault
    from controlplane.monitoring import intake_tokens

    store = open_store(context)
    with store.session() as session:
        rows = [intake_tokens.summary(row) for row in intake_tokens.list_tokens(session, include_revoked)]
    legacy = intake_tokens.legacy_configured(open_vault(context, store))
    if as_json:
        print_json({"items": rows, "legacy_token_configured": legacy})
        return
    table = [
        [row["id"], row["site"], row["name"] + (" (revoked)" if row["revoked_at"] else ""), row["prefix"],
         moment(row["last_used_at"]), row["alerts_accepted"], row["alerts_refused"]]
        for row in rows
    ]  # fmt: skip
    show_table(TOKEN_COLUMNS, table, wide=wide)
    if legacy:
        click.echo(
            f"legacy site-wide token set (vault {intake_tokens.LEGACY_SECRET}, speaks for every site): replace it "
            f"with per-site tokens, then `egov secrets delete {intake_tokens.LEGACY_SECRET}`"
        )


@intake_token.command("revoke")
@click.argument("token_id", type=click.IntRange(1, 2**31 - 1))
@pass_context
def intake_token_revoke(context: CliContext, token_id: int) -> None:
    """Revoke an intake token: its Alertmanager's posts are refused from now on."""
    from controlplane.cli.common import audit
    from controlplane.monitoring.intake_tokens import revoke_token

    store = open_store(context)
    with store.session() as session:
        row = revoke_token(session, token_id)
        site, name = row.site, row.name
    audit(store, "alerts.intake_token.revoke", f"intake-token:{token_id}", site=site, name=name)
    click.echo(f"intake token {token_id} ({site}, {name}) revoked")
