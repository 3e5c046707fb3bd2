"""Backups with restic: policies, command builders, the engine, schedules, restores, drills, reports.

The pure core: policies are read and validated (:mod:`.policy`,
:mod:`.policy_rules`, :mod:`.schema`), each dataset's units are resolved
to their repositories on both centers, once (:mod:`.targets`), restic argv
lists are built (:mod:`.commands`), exit codes and
``--json`` output are interpreted (:mod:`.exitcodes`, :mod:`.jsonout`,
:mod:`.diagnose`), and restore-verification manifests are specified
(:mod:`.manifest`). Nothing there starts a process or opens a connection.

The engine on top (each module one concern):

* :mod:`.context`: config, store, vault, inventory, policy and SSH in one
  place; a unit's Repo as a host sees it, its executor and its vault password;
* :mod:`.executor`: argv on a managed host over SSH (streamed and masked by
  :meth:`controlplane.ssh.SSHPool.stream`) or on the control plane itself;
* :mod:`.operation`: the one skeleton around every operation (run, locks,
  outcome, records); :mod:`.operations`: the operations by name, the table
  the scheduler, the console, the runbook facade and the CLI use, and the
  queued run a dispatcher hands back (``run_id``);
* :mod:`.engine`: one backup, start to finish (init on first use, stale-lock
  unlock, a dump's exit-3 snapshot forgotten, manifest recorded);
* :mod:`.maintenance`: ``check --read-data-subset``, ``forget --prune``,
  snapshot listing; :mod:`.restore`: restores into allowed roots and drills;
  :mod:`.offsite`: copies to the secondary center;
* :mod:`.locks`: our per-repository lock; :mod:`.records`: runs, snapshots,
  drills and status rows (:mod:`.models`), audit;
* :mod:`.schedule`: APScheduler jobs; :mod:`.report`: readiness rows and the
  DR report; :mod:`.metrics`: the Prometheus collector;
* :mod:`.setup` with :mod:`.center_setup`: the per-site SFTP accounts and the
  hosts' backup keys (``egov backup setup``).

Repository layout (decision)
----------------------------
One restic repository **per site, host and dataset**, on the backup center,
reached over SFTP with one account **per site**::

    sftp:backup-<site>@<center address>:<root>/<site>/<host>/<dataset>

for example ``sftp:backup-school-gd-1@10.198.0.21:/srv/restic/school-gd-1/gd-school-1/oa-data``.

Why so fine-grained:

* **Locks never collide across datasets.** restic locks a whole repository;
  a long ``check`` or ``prune`` of the portal content must not block the
  hourly database dump of the same host. One repository per dataset and host
  makes "never check while a backup of that repository runs" a per-job rule.
* **Blast radius.** Each repository has its own password (vault secret
  ``restic:<site>:<host>:<dataset>``, see :func:`.targets.password_secret_name`),
  so a compromised school host can delete (through its site's SFTP account)
  but never *read* another host's data; and the site account, chrooted by the
  backup center's sshd to ``<root>/<site>`` (``chrooted: true``, as the lab
  ships and ``egov backup setup`` makes it; the path in the URL then becomes
  ``/<host>/<dataset>``), cannot reach another site at all. A drill target
  (the DR center) is authorised on the accounts of the sites it drills.
* **Retention and drills per dataset** map one-to-one on repositories, and a
  damaged repository loses one dataset of one host, not a site.

The price is deduplication across hosts and datasets, which for the lab's
data (web content, office files, database dumps) is small.

The control plane's own state is a dataset with ``local: true``: restic runs
on the control-plane machine itself and its repository uses the pseudo site
and host ``controlplane``. Its password must also be escrowed off-line: the
vault that holds it is inside the backup.
"""
