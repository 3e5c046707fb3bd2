"""The ansible-runner wrapper: playbook runs, events, cancel, per-host locks.

* :mod:`.settings` builds ansible's environment and runner arguments (pure);
* :mod:`.events` maps runner events to per-host task results (pure);
* :mod:`.locks` keeps one run per host;
* :mod:`.engine` runs a playbook as a run row;
* :mod:`.labservice` lets a playbook handler (re)start a lab host's service.

Importing the package registers its tables on the store's metadata (so
Alembic and ``Base.metadata`` see them); nothing heavy is imported here.
"""

from __future__ import annotations

from controlplane.automation import models as models
