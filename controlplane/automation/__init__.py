"""The ansible-runner wrapper: playbook runs, events, cancel, per-host locks.

* :mod:`.settings` builds ansible's environment and runner arguments (pure);
* :mod:`.events` maps runner events to per-host task results (pure);
* :mod:`.locks` keeps one run per host;
* :mod:`.playbook` is what a run is asked and how it ended (plain data);
* :mod:`.preflight` checks a request before a run exists;
* :mod:`.workspace` gives a run its private folder and cleans up after it;
* :mod:`.runner` drives ansible-runner and pumps its events into the store;
* :mod:`.engine` runs a playbook as a run row (its lifecycle).

A playbook handler (re)starts a lab host's service with
:mod:`controlplane.lab.servicectl` (a lab tool, not part of this engine).

Importing the package registers its tables on the store's metadata (so
Alembic and ``Base.metadata`` see them); nothing heavy is imported here.
"""

from __future__ import annotations

from controlplane.automation import models as models
