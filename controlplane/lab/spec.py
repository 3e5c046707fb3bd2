"""What the lab should look like: hosts, addresses, folders, checked up front.

:func:`build_spec` turns the configuration and the inventory into a
:class:`LabSpec`. Every address must lie inside the lab subnet (a private
IPv4 network), so nothing the lab does can address anything else; every name
and folder is checked before it reaches a command line or a mount option.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controlplane.errors import BadInputError, ConfigError
from controlplane.lab import names
from controlplane.lab.plane import DataPlane, build_plane

if TYPE_CHECKING:
    from controlplane.config import Config
    from controlplane.inventory import Inventory
    from controlplane.network.model import NetworkModel

# Overlay mount options are comma-separated and use ':' between lower dirs;
# ssh options split on spaces and expand '%': lab paths avoid all of those.
_SAFE_PATH = re.compile(r"/[A-Za-z0-9._+@/-]*")
# Folders we never cover with an empty tmpfs inside a host, even if the
# state folder is configured there: the host would lose its system files.
_SYSTEM_FOLDERS = frozenset(
    {"/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/opt", "/proc", "/root",
     "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/var", "/var/lib", "/var/log"}  # noqa: S108
)  # fmt: skip
MAX_HOSTS = 250


@dataclass(frozen=True)
class HostSpec:
    """One lab host: inventory facts plus the names and folders the lab uses."""

    name: str
    address: str
    site: str
    role: str
    port: int
    offset: int
    netns: str
    veth: str
    folder: Path
    # A host that starts unmanaged (``all.vars.lab_unmanaged_hosts``): no management key, its key pinned
    # nowhere, root logs in with a password (``root_password_file``), for practising ``egov hosts enrol``.
    unmanaged: bool = False

    @property
    def upper(self) -> Path:
        """Overlay upper dir: every write the host makes lands here."""
        return self.folder / "upper"

    @property
    def work(self) -> Path:
        """Overlay work dir (same filesystem as the upper dir)."""
        return self.folder / "work"

    @property
    def root(self) -> Path:
        """Mount point of the host's overlay root (inside its own mount namespace)."""
        return self.folder / "root"

    @property
    def control_socket(self) -> Path:
        """Unix socket of the host's init (start, stop, status of services)."""
        return self.folder / "control.sock"

    @property
    def log_file(self) -> Path:
        """Output of the host's init and sshd, kept on the machine."""
        return self.folder / "init.log"

    @property
    def init_file(self) -> Path:
        """JSON the host's init reads at start."""
        return self.folder / "init.json"

    @property
    def root_password_file(self) -> Path:
        """An unmanaged host's root password (0600, in the 0700 host folder): what an operator reads to enrol it."""
        return self.folder / "root-password"


@dataclass(frozen=True)
class LabSpec:
    """The whole lab: network, folders and hosts in inventory order."""

    subnet: ipaddress.IPv4Network
    gateway: ipaddress.IPv4Address
    portal_vip: str | None
    bridge: str
    lab_dir: Path
    state_dir: Path
    key_file: Path
    known_hosts: Path
    hidden_paths: tuple[Path, ...]
    hosts: tuple[HostSpec, ...]
    # The zones of inventory/network.yml (bridges, legs, routes); None: the flat lab of one bridge.
    plane: DataPlane | None = None

    @property
    def gateway_cidr(self) -> str:
        """The gateway address with the subnet's prefix, e.g. ``10.198.0.1/24``."""
        return f"{self.gateway}/{self.subnet.prefixlen}"

    def cidr(self, host: HostSpec) -> str:
        """A host's address with the subnet's prefix."""
        return f"{host.address}/{self.subnet.prefixlen}"

    def host(self, name: str) -> HostSpec:
        """Return the named host; raise BadInputError when the name is invalid or unknown."""
        names.validate_host_name(name)
        for host in self.hosts:
            if host.name == name:
                return host
        raise BadInputError(f"unknown lab host {name!r}")


def check_path(path: Path, what: str) -> Path:
    """Check that a path can appear in mount options and ssh options.

    Returns the path unchanged, so a call can wrap an expression. Raises
    BadInputError when it has characters outside ``A-Za-z0-9._+@/-`` or a
    ``..`` component (``what`` names it in the message).
    """
    text = str(path)
    if not _SAFE_PATH.fullmatch(text) or "/../" in text + "/":
        raise BadInputError(
            f"{what} {text!r} must be an absolute path of letters, digits and ._+@/- only "
            "(it goes into mount and ssh options)"
        )
    return path


def _address(value: Any, key: str, source: str) -> ipaddress.IPv4Address:
    try:
        return ipaddress.IPv4Address(str(value))
    except ValueError:
        raise ConfigError(source, [(key, f"{value!r} is not an IPv4 address")]) from None


def _network(variables: dict[str, Any], source: str) -> ipaddress.IPv4Network:
    value = variables.get("lab_subnet")
    if not value:
        raise ConfigError(source, [("all.vars.lab_subnet", "the lab needs lab_subnet (e.g. 10.198.0.0/24)")])
    try:
        subnet = ipaddress.IPv4Network(str(value), strict=True)
    except ValueError as error:
        raise ConfigError(source, [("all.vars.lab_subnet", f"{value!r}: {error}")]) from None
    # Only private space, and not so large or small that it means a mistake.
    if not subnet.is_private or subnet.is_loopback or subnet.is_link_local or not 16 <= subnet.prefixlen <= 29:
        raise ConfigError(
            source, [("all.vars.lab_subnet", f"{subnet} must be a private IPv4 network between /16 and /29")]
        )
    return subnet


def hidden_paths(config: Config) -> tuple[Path, ...]:
    """Folders and files of the control plane that lab hosts must not read.

    The host's root is an overlay over the machine's ``/``, so without this a
    host's root could read the management key, the vault key and the other
    hosts' disks. Returns the state folder (covered by an empty tmpfs) and
    the key files that live outside it (covered by ``/dev/null``).
    """
    state_dir = Path(config.state_dir).resolve()
    paths = [] if str(state_dir) in _SYSTEM_FOLDERS else [state_dir]
    for extra in (config.ssh_key_file, getattr(config, "key_file", None)):
        if extra is None:
            continue
        resolved = Path(extra).resolve()
        if state_dir not in resolved.parents and str(resolved) not in _SYSTEM_FOLDERS:
            paths.append(resolved)
    return tuple(paths)


def _unmanaged_hosts(
    value: Any,
    subnet: ipaddress.IPv4Network,
    taken: set[ipaddress.IPv4Address | None],
    seen: dict[ipaddress.IPv4Address, str],
    managed: set[str],
    lab_dir: Path,
    problems: list[tuple[str, str]],
) -> list[HostSpec]:
    """The lab hosts of ``all.vars.lab_unmanaged_hosts`` (``NAME: {address: A, site: S, role: R}``).

    A name that is also an inventory host was enrolled meanwhile: it is
    managed now and built from the inventory like the others. Problems are
    added to ``problems`` with their key path.
    """
    if value is None:
        return []
    where = "all.vars.lab_unmanaged_hosts"
    if not isinstance(value, dict):
        problems.append((where, "must map host names to {address: ..., site: ..., role: ...}"))
        return []
    hosts = []
    for raw_name, body in value.items():
        key = f"{where}.{raw_name}"
        try:
            name = names.validate_host_name(str(raw_name))
        except BadInputError as error:
            problems.append((key, error.message))
            continue
        if name in managed:
            continue
        body = body if isinstance(body, dict) else {}
        try:
            address = ipaddress.IPv4Address(str(body.get("address")))
        except ValueError:
            problems.append((f"{key}.address", f"{body.get('address')!r} is not an IPv4 address"))
            continue
        port = body.get("port", 22)
        if address not in subnet or address in taken or address in seen:
            problems.append((f"{key}.address", f"{address} is not a free host address of {subnet}"))
            continue
        if not isinstance(port, int) or not 1 <= port <= 65535:
            problems.append((f"{key}.port", f"{port!r} is not a TCP port"))
            continue
        seen[address] = name
        offset = int(address) - int(subnet.network_address)
        hosts.append(
            HostSpec(
                name=name, address=str(address), site=str(body.get("site") or "unmanaged"),
                role=str(body.get("role") or "unmanaged"), port=port, offset=offset, netns=names.netns_name(name),
                veth=names.veth_name(offset), folder=lab_dir / "hosts" / name, unmanaged=True,
            )
        )  # fmt: skip
    return hosts


def build_spec(config: Config, inventory: Inventory, network: NetworkModel | None = None) -> LabSpec:
    """Check the inventory for the lab and return its LabSpec.

    Hosts of ``all.vars.lab_unmanaged_hosts`` come after the inventory's,
    marked ``unmanaged``. ``network`` (the loaded ``network.yml``) adds the
    data plane (:func:`controlplane.lab.plane.build_plane`); without it the
    lab is flat. Only reads: nothing is created or started. Raises ConfigError (exit 2)
    for a missing or public subnet, or, naming every bad host at once, an
    address outside it, a duplicate address or an invalid host name, or a
    network model the lab cannot cable safely;
    BadInputError for a lab folder that cannot go into mount options.
    """
    source = str(inventory.source)
    variables = dict(inventory.variables)
    subnet = _network(variables, source)
    gateway = _address(variables.get("lab_gateway") or subnet.network_address + 1, "all.vars.lab_gateway", source)
    reserved = {subnet.network_address, subnet.broadcast_address}
    problems: list[tuple[str, str]] = []
    if gateway not in subnet or gateway in reserved:
        problems.append(("all.vars.lab_gateway", f"{gateway} is not a usable address of {subnet}"))
    vip_value = variables.get("portal_vip")
    vip = _address(vip_value, "all.vars.portal_vip", source) if vip_value else None
    if vip is not None and (vip not in subnet or vip in reserved or vip == gateway):
        problems.append(("all.vars.portal_vip", f"{vip} is not a free address of {subnet}"))
    lab_dir = check_path(Path(config.lab_dir).resolve(), "lab folder")
    hosts: list[HostSpec] = []
    seen: dict[ipaddress.IPv4Address, str] = {}
    for host in inventory.hosts:
        where = f"hosts.{host.name}"
        try:
            name = names.validate_host_name(host.name)
        except BadInputError as error:
            problems.append((where, error.message))
            continue
        try:
            address = ipaddress.IPv4Address(host.address)
        except ValueError:
            problems.append((f"{where}.ansible_host", f"{host.address!r} is not an IPv4 address"))
            continue
        if address not in subnet or address in reserved or address in (gateway, vip):
            problems.append((f"{where}.ansible_host", f"{address} is not a free host address of {subnet}"))
            continue
        if address in seen:
            problems.append((f"{where}.ansible_host", f"{address} is also used by {seen[address]}"))
            continue
        seen[address] = name
        offset = int(address) - int(subnet.network_address)
        hosts.append(
            HostSpec(
                name=name,
                address=str(address),
                site=host.site,
                role=host.role,
                port=int(host.port),
                offset=offset,
                netns=names.netns_name(name),
                veth=names.veth_name(offset),
                folder=lab_dir / "hosts" / name,
            )
        )
    hosts += _unmanaged_hosts(variables.get("lab_unmanaged_hosts"), subnet, reserved | {gateway, vip}, seen,
                              {host.name for host in inventory.hosts}, lab_dir, problems)  # fmt: skip
    if len(hosts) > MAX_HOSTS:
        problems.append(("hosts", f"{len(hosts)} hosts: the lab runs at most {MAX_HOSTS}"))
    if problems:
        raise ConfigError(source, problems)
    plane = build_plane(network, hosts, subnet, str(network.source)) if network is not None else None
    return LabSpec(
        subnet=subnet,
        gateway=gateway,
        portal_vip=str(vip) if vip else None,
        bridge=names.BRIDGE,
        lab_dir=lab_dir,
        state_dir=Path(config.state_dir).resolve(),
        # Both go into ssh options, where spaces split and '%' expands.
        key_file=check_path(Path(config.ssh_key_file).absolute(), "ssh key file"),
        known_hosts=check_path(Path(config.ssh_known_hosts).absolute(), "known_hosts file"),
        hidden_paths=hidden_paths(config),
        hosts=tuple(hosts),
        plane=plane,
    )
