"""``egov report``: every exportable report, one subcommand per feature.

``egov report compliance`` (security officers) and ``egov report dr`` (the
emergency support center's DR readiness) live with their features; this group
only gathers them under one name.
"""

from __future__ import annotations

import click

from controlplane.cli.backup import dr_report_command
from controlplane.cli.compliance import report as compliance_reports


@click.group()
def report() -> None:
    """Export reports: compliance (html|json|csv|oscal) and DR readiness (html|json)."""


for _name, _command in compliance_reports.commands.items():
    report.add_command(_command, _name)
report.add_command(dr_report_command, "dr")
from controlplane.cli.slo import availability_command  # noqa: E402 - service levels (issue 17)

report.add_command(availability_command, "availability")
