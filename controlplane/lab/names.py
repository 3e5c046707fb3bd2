"""Names the lab gives to things on the machine, and the checks on them.

A lab host's name ends up as a UTS host name, a network-namespace name and a
path component under the lab folder, so it is checked strictly here before
any of that happens. Interface names are limited to 15 bytes by the kernel,
so they come from the host's offset in the lab subnet, never from its name.
"""

from __future__ import annotations

import re

from controlplane.errors import BadInputError

# One DNS label or several separated by dots (RFC 1123), max 63 characters in
# all: safe as a host name, a file name and a netns name. ``fullmatch`` is used
# everywhere, because ``$`` would accept a trailing newline.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOST_NAME = re.compile(rf"(?=.{{1,63}}\Z){_LABEL}(?:\.{_LABEL})*")
# Service names become file names inside a lab host (NAME.json, NAME.pid).
SERVICE_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,62}")

BRIDGE = "egov-br0"
NETNS_PREFIX = "egovlab-"
VETH_PREFIX = "egov-v"
# The data plane (inventory/network.yml): bridge egov-zI per zone (I = its
# position under ``zones:``), leg egov-zI-N for the host at offset N on it.
ZONE_PREFIX = "egov-z"
ZONE_LINK = re.compile(r"egov-z(?P<zone>[0-9]{1,3})(?:-(?P<offset>[0-9]{1,5}))?")
MAX_ZONES = 1000
NFT_TABLE = "egov_lab"
IFNAMSIZ = 15  # usable bytes of a Linux interface name
DEFAULT_SERVICE = "sshd"


def validate_host_name(name: object) -> str:
    """Check a lab host name.

    Returns the name unchanged when it is one or more DNS labels (letters,
    digits, inner dashes, dots between labels, max 63): it goes into paths,
    interface names and commands. Raises BadInputError for anything else:
    shell syntax, slashes, dot-dot, whitespace, newlines, an empty or
    over-long name, or a value that is not a str.
    """
    if not isinstance(name, str) or not HOST_NAME.fullmatch(name):
        raise BadInputError(f"invalid lab host name {name!r}: use letters, digits, '-' and '.' between labels (max 63)")
    return name


def validate_service_name(name: object) -> str:
    """Check a service name (``sshd`` or one registered in the host).

    Returns the name unchanged when it is lowercase letters, digits, '_',
    '.', '-' starting with a letter or digit, without '..' (max 63); it
    becomes a file name in the host. Raises BadInputError otherwise.
    """
    if not isinstance(name, str) or not SERVICE_NAME.fullmatch(name) or ".." in name:
        raise BadInputError(f"invalid service name {name!r}: use a-z, 0-9, '_', '.', '-' (max 63)")
    return name


def netns_name(host_name: str) -> str:
    """Return the network namespace name of a lab host (``egovlab-NAME``)."""
    return NETNS_PREFIX + validate_host_name(host_name)


def veth_name(offset: int) -> str:
    """Return the machine-side veth name for the host at ``offset`` in the subnet.

    ``offset`` is the address minus the network address (1..65534); the
    name (e.g. ``egov-v11``) fits IFNAMSIZ by construction. Raises
    BadInputError when out of range.
    """
    if not isinstance(offset, int) or isinstance(offset, bool) or not 0 < offset < 65535:
        raise BadInputError(f"host offset {offset!r} out of range")
    name = f"{VETH_PREFIX}{offset}"
    assert len(name) <= IFNAMSIZ  # noqa: S101 - 6 + 5 digits, by construction
    return name


def zone_bridge_name(index: int) -> str:
    """Return the bridge name of the data-plane zone at ``index`` under ``zones:`` (``egov-z0``...).

    Raises BadInputError for an index outside 0..999 (the name must fit IFNAMSIZ
    together with a leg's offset).
    """
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < MAX_ZONES:
        raise BadInputError(f"zone index {index!r} out of range (at most {MAX_ZONES} zones)")
    return f"{ZONE_PREFIX}{index}"


def leg_name(index: int, offset: int) -> str:
    """Return the machine-side veth name of a host's leg in zone ``index`` (``egov-z3-41``).

    ``offset`` is the host's management offset, as for :func:`veth_name`, so a
    name says which zone and which host. At most 6 + 3 + 1 + 5 = 15 bytes.
    Raises BadInputError when either number is out of range.
    """
    bridge = zone_bridge_name(index)
    veth_name(offset)  # the same range check
    name = f"{bridge}-{offset}"
    assert len(name) <= IFNAMSIZ  # noqa: S101 - by construction
    return name


def is_zone_link(device: str) -> bool:
    """Whether a machine interface name is a lab zone bridge or zone leg (``egov-zI``, ``egov-zI-N``)."""
    return ZONE_LINK.fullmatch(device) is not None
