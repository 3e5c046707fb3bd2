"""What ansible-playbook's exit codes mean for a run: read here, and only here.

From ansible-core (``TaskQueueManager.RUN_*`` and ``ansible.cli.CLI.cli_executor``):
0 every host fine, 1 an error in ansible itself, 2 a host failed (also what
a play broken by ``any_errors_fatal`` ends with), 4 a host unreachable (or
a parse error: ansible gives both the same code), 5 bad options, 6 arguments
not UTF-8, 99 interrupted, 250 an unexpected exception. Signals come back
negative from :mod:`subprocess`.

Only 0, 2 and 4 leave the story to the per-host results
(:func:`controlplane.automation.events.run_status`): any other code means
ansible itself failed (syntax, missing file, bad option) whatever the hosts
said. :mod:`controlplane.execute` knows none of this; it returns the code.
"""

from __future__ import annotations

OK = 0
ERROR = 1
HOST_FAILED = 2
HOST_UNREACHABLE = 4
BAD_OPTIONS = 5
INTERRUPTED = 99
UNEXPECTED = 250

PER_HOST = frozenset({OK, HOST_FAILED, HOST_UNREACHABLE})


def ansible_failed(rc: int | None) -> bool:
    """Whether the code says ansible itself failed, not (only) some hosts.

    ``None`` (ansible-runner reported no code: it was cancelled or timed out
    before ansible ended) is not ansible's failure; the runner status says
    what happened.
    """
    return rc is not None and rc not in PER_HOST
