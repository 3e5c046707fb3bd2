"""``egov leader``: which process holds the leader lease (it alone runs the scheduler and the monitor).

Exit 0 while a process holds the lease, 1 when none does (no ``egov serve``
runs, or its holder stopped or died and nobody took over yet), so a script
or a check can tell that no schedule runs.
"""

from __future__ import annotations

import click

from controlplane.cli import CliContext, pass_context
from controlplane.cli.common import open_store, print_json
from controlplane.errors import EXIT_FAILED


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_context
def leader(context: CliContext, as_json: bool) -> None:
    """Show which process holds the leader lease (host, pid, term, last renewal); exit 1 when none does."""
    from controlplane.cli.output import lines
    from controlplane.leader import describe, read_lease

    state = read_lease(open_store(context))
    view = state.as_dict() if state is not None else {"name": "leader", "state": "none"}
    if as_json:
        print_json(view)
    else:
        click.echo(lines(describe(state)))
    if view["state"] != "held":
        raise SystemExit(EXIT_FAILED)
