"""``python -m tests.integration.monitoring.cli ARGS``: the egov CLI with the monitoring groups.

The groups ``monitor``, ``alerts`` and ``export`` are registered in the CLI
table by ``controlplane/cli/__init__.py``; until that lands, this entry point
adds them itself so the tests run the real commands either way.
"""

from __future__ import annotations

from controlplane.cli import COMMANDS, main

GROUPS = {
    "monitor": ("controlplane.cli.monitor", "monitor", "Run probes and the alert engine."),
    "alerts": ("controlplane.cli.alerts", "alerts", "List, acknowledge and silence alerts."),
    "export": ("controlplane.cli.monitor", "export", "Export configuration for other tools."),
}

if __name__ == "__main__":
    for name, entry in GROUPS.items():
        COMMANDS.setdefault(name, entry)
    main()
