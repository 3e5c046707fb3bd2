"""The local lab: real SSH hosts in namespaces on one Linux machine (needs root).

Each inventory host of the lab (``inventory/lab.yml``) becomes:

* a network namespace ``egovlab-NAME`` with ``eth0`` (its inventory address)
  joined by a veth pair (``egov-vN`` on the machine, N = the address's offset
  in the subnet) to the bridge ``egov-br0``, which carries ``lab_gateway``
  for the control plane. Hosts get no default route; a guard nftables table
  (``inet egov_lab``) drops anything routed between the bridge and any other
  interface;
* with ``network.yml`` next to the inventory (:mod:`controlplane.network.model`),
  a data plane as well (:mod:`controlplane.lab.plane`, :mod:`controlplane.lab.cabling`):
  a bridge ``egov-zI`` per zone (I = its position under ``zones:``) on which
  the machine has no address, a leg per host and zone (``egov-zI-N`` on the
  machine, ``eth1``, ``eth2``... inside) with its zone address, routes of the
  lab's address space via the zone's gateway (never a default route), and
  ``net.ipv4.ip_forward=1`` in the gateway hosts' namespaces only. The guard
  table also keeps the machine from routing between any lab bridge and any
  other interface. ``fault isolate`` cuts every leg of a host;
* a PID-1 init (:mod:`controlplane.lab.init`) in its own UTS, IPC, PID and
  mount namespaces, whose root is an overlayfs over the machine's ``/`` with
  the writes in ``LAB_DIR/hosts/NAME/upper``; ``/proc/sys`` read-only except
  ``net``; kernel-wide capabilities dropped (:mod:`controlplane.lab.caps`);
  the control plane's state folder covered;
* its own host name, ed25519 host key, ``/etc/hosts``, shadow without hashes,
  the management key (``ssh.key_file``, created if missing) in
  ``/root/.ssh/authorized_keys``, and sshd listening on its address.
  ``ssh.known_hosts`` pins every host key by address and name.

Services
--------
sshd is built in. Any other service is registered *inside the host* (for
example by a playbook) as ``/etc/egov-lab/services/NAME.json``::

    {"argv": ["/usr/bin/python3", "-m", "http.server", "8080"],
     "cwd": "/srv/portal", "env": {"LANG": "C.UTF-8"}, "autostart": true}

``argv[0]`` must be an absolute path and the program must stay in the
foreground (no daemonising: the init supervises it). NAME is lowercase
letters, digits, ``_``, ``.``, ``-``. The init starts it in its own session
with the host's reduced capabilities, logs its output to
``/var/log/egov-lab/NAME.log`` and writes ``/run/egov-lab/NAME.pid``;
``egov lab fault HOST up --service NAME`` starts it, ``down`` stops it
(SIGTERM to its process group, SIGKILL after 5 s), and ``autostart`` services
start whenever the host boots. A playbook handler asks the same of the init
with ``python -m controlplane.lab.servicectl`` (:mod:`controlplane.lab.servicectl`).
To run as another user, prefix argv with
``/usr/bin/setpriv --reuid=USER --regid=GROUP --init-groups``.

Python API (every function takes the loaded Config; root is required):

* ``up(config) -> list[LabHost]``, ``down(config, purge=False)``
* ``status(config) -> list[LabHost]``, ``report(config) -> dict`` (``lab status --json``)
* ``fault(config, host, action, service=None) -> LabHost`` with action in
  down, up, isolate, wedge (SIGSTOP its sshd), heal (the link, and SIGCONT)
* ``exec_in_host(config, host, argv, timeout=None, input_text=None) -> ProcessResult``
  and ``host_command(config, host, argv) -> list[str]`` (nsenter argv)
* ``ssh_command(config, host, argv=(), tty=False) -> list[str]``
* ``load_spec(config) -> LabSpec`` (pass it as ``spec=`` to skip re-reading
  the inventory in loops)

This package's ``__init__`` imports nothing heavy: the host's init runs as
``python -m controlplane.lab.init`` and must start fast.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "up": "controlplane.lab.manager",
    "down": "controlplane.lab.manager",
    "status": "controlplane.lab.manager",
    "report": "controlplane.lab.manager",
    "fault": "controlplane.lab.manager",
    "exec_in_host": "controlplane.lab.manager",
    "host_command": "controlplane.lab.manager",
    "ssh_command": "controlplane.lab.manager",
    "load_spec": "controlplane.lab.manager",
    "ACTIONS": "controlplane.lab.manager",
    "host_status": "controlplane.lab.manager",
    "owner_tag": "controlplane.lab.manager",
    "LabHost": "controlplane.lab.host_state",
    "STATES": "controlplane.lab.host_state",
    "LabSpec": "controlplane.lab.spec",
    "HostSpec": "controlplane.lab.spec",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import the public API on first use (PEP 562), keeping ``import`` cheap."""
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module_name), name)
