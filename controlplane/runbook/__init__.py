"""Coded runbooks for failover and recovery: API, engine, journal.

The operator's runbooks are Python files in the configured ``runbooks/``
folder (``folders.runbooks`` in egov.yml). Each defines ``RUNBOOK``, a
:class:`~controlplane.runbook.definition.Runbook` built from the API in
:mod:`controlplane.runbook.definition` (the Chaos Toolkit shape: a steady-state
hypothesis checked before and after, a method of steps, rollbacks, and a
final verification) and uses the helpers of
:class:`~controlplane.runbook.context.Context` (run argv on a host over SSH,
HTTP/TCP checks, wait-until, move a VIP with a gratuitous ARP, restore a
dataset, notify, confirm, run a playbook).

Trust: loading a runbook file executes it. ``runbooks/`` is trusted code,
like ``playbooks/``: it runs with the control plane's rights (its SSH key,
its vault). Review changes to it as you review changes to playbooks, and
keep the folder writable only by the people who may run them.

Modes (:mod:`controlplane.runbook.engine`):

* ``dry-run``: resolve parameters and targets and walk every probe and step
  with ``dry_run`` passed down to the helpers, which record what they would
  do and do nothing; the result is the plan, in the journal.
* ``drill``: runs for real on drill targets (hosts of a lab inventory, or in
  the inventory group ``drill``), is marked as a drill, measures the RTO and
  then undoes the method (the rollbacks, in reverse) so the steady state is
  restored and checked.
* ``run``: production; needs a confirmation, and a second approver for
  runbooks that ask for one (``approvals_required=2``).

Every execution is a run (kind ``runbook``); its journal
(:mod:`controlplane.runbook.journal`) is written as it goes and exports as
JSON, Markdown and HTML. Tables: :mod:`controlplane.runbook.models`.
"""
