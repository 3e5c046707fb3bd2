"""``egov bootstrap``: the first administrator, then a fresh lab brought to a working network (what ``make run`` does).

Exit codes: 0 every due step succeeded (or none was due, or there is no lab
of this site up), 1 a step failed or a lab host is not running (the message
says which and how to go on), 2 bad input or configuration (a policy, the
inventory, a control file).
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import click

from controlplane.bootstrap.steps import Reporter
from controlplane.cli import CliContext, pass_context
from controlplane.cli.common import audit, console, open_store, print_json
from controlplane.errors import EXIT_FAILED, BadInputError

if TYPE_CHECKING:
    from controlplane.automation.engine import Observer
    from controlplane.automation.events import TaskResult
    from controlplane.store import Store

ADMIN_HINT = "    egov users add admin --role admin   (password from a prompt; TOTP enrolment at the first login)"
PASSWORD_TRIES = 3
TICK_SECONDS = 15.0


class TickerObserver:
    """A playbook's progress as a line every :data:`TICK_SECONDS` (for output that is not a terminal)."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.say = say
        self.hosts: list[str] = []
        self.results = self.changed = self.failed = 0
        self.current = ""
        self.last = time.monotonic()

    def started(self, run_id: int, hosts: list[str]) -> None:
        self.hosts = hosts
        self.say(f"  run {run_id} started on {len(hosts)} hosts (live in the console: runs, run {run_id})")

    def task_started(self, host: str, task: str) -> None:
        self.current = f"{host}: {task.split(' [')[0]}"  # the task's name, without its control ids
        self._tick()

    def result(self, result: TaskResult) -> None:
        self.results += 1
        self.changed += result.status == "changed"
        self.failed += result.status in ("failed", "unreachable")
        self._tick()

    def line(self, text: str) -> None:
        """ansible's lines go to the run's output in the store."""

    def status(self, status: str) -> None:
        """The final status is in the step's line."""

    def _tick(self) -> None:
        if time.monotonic() - self.last >= TICK_SECONDS:
            self.last = time.monotonic()
            self.say(f"  {self.results} task results, {self.changed} changed, {self.failed} failed; now {self.current}")


class TerminalReporter(Reporter):
    """Prints the bootstrap's lines; a playbook's live table on a terminal, a line every few seconds otherwise."""

    def __init__(self) -> None:
        self.out = console()
        self.live = self.out.is_terminal

    def line(self, text: str) -> None:
        # Never cut into several lines: a log or a pipe gets each line whole.
        self.out.print(text, markup=False, highlight=False, soft_wrap=True)

    @contextmanager
    def playbook(self) -> Iterator[Observer | None]:
        from controlplane.cli.automation import LiveView

        if not self.live:
            yield TickerObserver(self.line)  # type: ignore[misc]
            return
        view = LiveView(self.out)
        try:
            yield view  # type: ignore[misc]
        finally:
            view.stop()


def offer_first_admin(store: Store) -> None:
    """With no console user yet: on a terminal, offer to create the first administrator; else say how."""
    from controlplane import users as accounts

    with store.session() as session:
        if accounts.list_users(session):
            return
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        click.echo("no console user yet: create the first administrator with")
        click.echo(ADMIN_HINT)
        return
    if not click.confirm("No console user yet. Create the first administrator now?", default=True):
        click.echo("later, with")
        click.echo(ADMIN_HINT)
        return
    name = accounts.check_name(str(click.prompt("user name", default="admin")).strip())
    for _attempt in range(PASSWORD_TRIES):
        password = str(click.prompt(f"password for {name} (12 characters or more)", hide_input=True,
                                    confirmation_prompt=True))  # fmt: skip
        try:
            with store.session() as session:
                accounts.create_user(session, name=name, role="admin", password=password)
        except BadInputError as error:
            click.echo(f"not accepted: {error.message}", err=True)
            continue
        audit(store, "user.create", name, role="admin", sites=[])
        click.echo(f"added {name} (admin, every site): log in to the console and enrol TOTP with an authenticator app")
        return
    click.echo("no administrator created; later, with")
    click.echo(ADMIN_HINT)


@click.command()
@click.option("--force", is_flag=True, help="Do every step again, also those already done on this lab.")
@click.option("--plan", "show_plan", is_flag=True, help="Only print the steps due on this lab (contacts no host).")
@click.option("--json", "as_json", is_flag=True, help="Print the outcome (or with --plan the steps due) as JSON.")
@pass_context
def bootstrap(context: CliContext, force: bool, show_plan: bool, as_json: bool) -> None:
    """Offer the first administrator, then provision, harden, back up, drill and scan a fresh lab (steps done once).

    Each step is the command named with it (egov provision, egov backup setup,
    egov harden, egov backup run|copy|drill, egov scan), done only when this
    lab has not had it yet; the whole is one run the console shows live.
    """
    from controlplane.audit import cli_actor
    from controlplane.bootstrap import bootstrap as run_bootstrap
    from controlplane.bootstrap import ledger, plan

    if not context.verbose:
        # Each step reports its own failures; a command's expected non-zero exit (restic's "no
        # repository yet" before the first backup) is no warning to the person watching.
        logging.getLogger("controlplane.execute").setLevel(logging.ERROR)
    config = context.config
    store = open_store(context)
    try:
        if not ledger.lab_is_up(config):
            if not (show_plan or as_json):
                offer_first_admin(store)
            _say(as_json, {"lab": False, "due": []}, "no lab of this site is up (egov lab up, as root): nothing to do")
            return
        if show_plan:
            _identity, due = plan(config, store, force)
            _say(as_json, {"lab": True, "due": due}, f"due on this lab: {', '.join(due) or 'nothing'}")
            return
        reporter = Reporter() if as_json else TerminalReporter()
        # The administrator is offered once the run and its maintenance window exist (or at once when
        # nothing is due), so the console can be watched from the first step.
        offer = None if as_json else (lambda: offer_first_admin(store))
        outcome = run_bootstrap(config, store, actor=cli_actor(), reporter=reporter, force=force, on_start=offer)
        if outcome.run_id is None and offer is not None:
            offer()
    finally:
        store.close()
    if as_json:
        print_json(outcome.as_dict())
    elif outcome.run_id is None:
        click.echo(f"lab already bootstrapped: {', '.join(outcome.skipped)} done (egov bootstrap --force redoes them)")
    if not outcome.ok:
        raise SystemExit(EXIT_FAILED)


def _say(as_json: bool, data: dict[str, Any], text: str) -> None:
    if as_json:
        print_json(data)
    else:
        click.echo(text)
