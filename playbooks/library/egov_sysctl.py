#!/usr/bin/python3
"""Ansible module: set kernel parameters now (and report which could not be set).

ansible-core has no sysctl module (it lives in ansible.posix), and one task
per key would cost a round trip each, so this module sets a group of keys in
one call. Persistent values belong in /etc/sysctl.d (templated by the role);
this module applies them to the running kernel.

A key that cannot be written because ``/proc/sys`` is read-only there (a
container or a lab host, where only ``net.*`` is per host) is reported in
``not_applied`` and fails the task only when ``strict`` is true, so a lab run
does not fail on kernel-wide settings it cannot own. Missing keys (an absent
module such as yama, IPv6 disabled) are reported in ``missing``.
"""

from __future__ import annotations

import errno
import os

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: egov_sysctl
short_description: Set a group of sysctl keys on the running kernel
options:
  values: {description: key -> value, type: dict, required: true}
  strict: {description: fail when a key cannot be written, type: bool, default: false}
"""


def key_path(key: str) -> str:
    if not key or "/" in key or ".." in key or key.startswith("."):
        raise ValueError(f"invalid sysctl key {key!r}")
    return "/proc/sys/" + key.replace(".", "/")


def normalise(text: str) -> str:
    return " ".join(str(text).split())


def main() -> None:
    module = AnsibleModule(
        argument_spec={"values": {"type": "dict", "required": True}, "strict": {"type": "bool", "default": False}},
        supports_check_mode=True,
    )
    changed, not_applied, missing, before = [], [], [], {}
    for key, wanted in module.params["values"].items():
        try:
            path = key_path(key)
        except ValueError as error:
            module.fail_json(msg=str(error))
        try:
            with open(path, encoding="ascii") as handle:
                current = normalise(handle.read())
        except FileNotFoundError:
            missing.append(key)
            continue
        except OSError as error:
            module.fail_json(msg=f"cannot read {key}: {error.strerror}")
        before[key] = current
        if current == normalise(wanted):
            continue
        if module.check_mode:
            # access() sees a read-only mount: such a key is not drift we could fix.
            (changed if os.access(path, os.W_OK) else not_applied).append(key)
            continue
        try:
            with open(path, "w", encoding="ascii") as handle:
                handle.write(str(wanted))
            changed.append(key)
        except OSError as error:
            if error.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
                not_applied.append(key)
            else:
                module.fail_json(msg=f"cannot write {key}: {error.strerror}")
    if not_applied and module.params["strict"]:
        module.fail_json(msg=f"read-only here: {', '.join(not_applied)}", not_applied=not_applied)
    msg = ""
    if not_applied:
        msg = f"not applied (read-only /proc/sys here; set in /etc/sysctl.d for boot): {', '.join(not_applied)}"
    module.exit_json(
        changed=bool(changed), changed_keys=changed, not_applied=not_applied, missing=missing, before=before,
        msg=msg, pid=os.getpid(),
    )


if __name__ == "__main__":
    main()
