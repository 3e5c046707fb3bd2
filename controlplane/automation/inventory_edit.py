"""Adding a host to the inventory file by a text edit that keeps every comment and the layout.

Re-dumping the inventory with PyYAML would drop its comments and reorder it,
and no round-trip YAML library is installed. So the file is *composed* with
PyYAML (its nodes carry line and column marks) to find where the site group's
and the role group's ``hosts:`` end, and the new entries are inserted there in
the style the group already uses (``NAME: {ansible_host: A}`` in a block
mapping, ``, NAME: {}`` inside a flow mapping); every other byte stays as it
was. :func:`add_host` then proves the edit by loading the inventory again with
ansible, and puts the original bytes back when it does not parse or does not
hold the host.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from controlplane.errors import BadInputError, EgovError
from controlplane.inventory import Inventory, load_inventory


@dataclass(frozen=True)
class Group:
    """A group of the inventory file: which file, its key path in the document, its name and vars."""

    file: Path
    path: tuple[str, ...]
    name: str
    variables: dict[str, Any]


def inventory_files(source: Path) -> list[Path]:
    """The YAML files of an inventory source (the file itself, or a folder's ``*.yml``/``*.yaml``)."""
    if source.is_file():
        return [source]
    return sorted(p for p in source.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file())


def _groups_in(data: Any, file: Path, prefix: tuple[str, ...] = ()) -> Iterator[Group]:
    """Every group of an Ansible YAML inventory document, depth first, with its key path."""
    if not isinstance(data, dict):
        return
    for name, body in data.items():
        if not isinstance(name, str) or not isinstance(body, dict):
            continue
        path = (*prefix, name)
        variables = body.get("vars")
        yield Group(file, path, name, variables if isinstance(variables, dict) else {})
        children = body.get("children")
        if isinstance(children, dict):
            yield from _groups_in(children, file, (*path, "children"))


def find_groups(source: Path) -> list[Group]:
    """Every group of every YAML file of the inventory (files that do not parse are skipped: ansible reports them)."""
    found: list[Group] = []
    for file in inventory_files(source):
        try:
            data = yaml.safe_load(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        found.extend(_groups_in(data, file))
    return found


def group_of(groups: list[Group], key: str, value: str) -> Group | None:
    """The first group (in file order) whose vars set ``key`` (``site`` or ``role``) to ``value``."""
    matching = [g for g in groups if g.variables.get(key) == value]
    return matching[0] if matching else None


def yaml_scalar(text: str) -> str:
    """``text`` as the file's style writes it: plain when YAML reads it back as the same string, else double-quoted."""
    try:
        plain = yaml.safe_load(f"{{k: {text}}}") == {"k": text} and yaml.safe_load(f"{text}: x") == {text: "x"}
    except yaml.YAMLError:
        plain = False
    return text if plain else json.dumps(text)


def reads_as_string(text: str) -> bool:
    """Whether YAML reads ``text`` as that same string as a mapping key (not a boolean, number or null)."""
    try:
        return yaml.safe_load(f"{text}: x") == {text: "x"}
    except yaml.YAMLError:
        return False


# --- locating a group's hosts in the composed document -------------------------------------------


def _get(node: yaml.Node | None, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            return key_node, value_node
    return None


def _leaf_end(node: yaml.Node) -> int:
    """Index just after the last character a node really spans.

    A block collection's end mark points at the next token, past trailing
    comments and blank lines; scalars and flow collections end where they end.
    """
    if isinstance(node, yaml.MappingNode) and not node.flow_style and node.value:
        return max(max(_leaf_end(k), _leaf_end(v)) for k, v in node.value)
    if isinstance(node, yaml.SequenceNode) and not node.flow_style and node.value:
        return max(_leaf_end(item) for item in node.value)
    return node.end_mark.index


def _after_line(text: str, index: int) -> int:
    """The index of the start of the line after the one holding ``index - 1``."""
    newline = text.find("\n", max(0, index - 1))
    return len(text) if newline < 0 else newline + 1


def _value(value: str | int) -> str:
    return str(value) if isinstance(value, int) else yaml_scalar(value)


def _entry(name: str, values: dict[str, str | int]) -> str:
    inner = ", ".join(f"{key}: {_value(value)}" for key, value in values.items())
    return f"{yaml_scalar(name)}: {{{inner}}}"


def _block_lines(name: str, values: dict[str, str | int], indent: int, child: int, newline: str) -> str:
    if not values:
        return f"{' ' * indent}{yaml_scalar(name)}: {{}}{newline}"
    lines = [f"{' ' * indent}{yaml_scalar(name)}:"]
    lines += [f"{' ' * child}{key}: {_value(value)}" for key, value in values.items()]
    return newline.join(lines) + newline


def insert_host(text: str, group_path: tuple[str, ...], name: str, values: dict[str, str | int]) -> str:
    """Return ``text`` with ``name`` added under the ``hosts:`` of the group at ``group_path``.

    ``values`` are the host's variables there (``{}`` for a role group). The
    entry follows the group's style; a group without ``hosts:`` gets one.
    Raises EgovError when the group is not where ``group_path`` says or has a
    shape this edit does not handle (the operator then adds the host by hand).
    """
    newline = "\r\n" if "\r\n" in text else "\n"
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    group: yaml.Node | None = node
    parent_key: yaml.Node | None = None
    for key in group_path:
        found = _get(group, key)
        if found is None:
            raise EgovError(f"inventory: group {'.'.join(group_path)} not found where expected")
        parent_key, group = found
    where = ".".join(group_path)
    hosts = _get(group, "hosts")
    if hosts is None:
        if not isinstance(group, yaml.MappingNode) or group.flow_style or not group.value:
            raise EgovError(f"inventory: group {where} has no hosts: and is not a block mapping: add the host by hand")
        indent = group.value[0][0].start_mark.column
        at = _after_line(text, _leaf_end(group))
        step = max(2, indent - (parent_key.start_mark.column if parent_key is not None else 0))
        block = f"{' ' * indent}hosts:{newline}" + _block_lines(name, values, indent + step, indent + 2 * step, newline)
        return text[:at] + ("" if at == 0 or text[at - 1] == "\n" else newline) + block + text[at:]
    hosts_key, hosts_node = hosts
    if isinstance(hosts_node, yaml.ScalarNode) and hosts_node.value == "" and hosts_node.tag.endswith(":null"):
        indent = hosts_key.start_mark.column + 2
        at = _after_line(text, hosts_key.end_mark.index)
        prefix = "" if at == 0 or text[at - 1] == "\n" else newline
        return text[:at] + prefix + _block_lines(name, values, indent, indent + 2, newline) + text[at:]
    if not isinstance(hosts_node, yaml.MappingNode):
        raise EgovError(f"inventory: {where}.hosts is not a mapping: add the host by hand")
    if hosts_node.flow_style:
        if not hosts_node.value:
            at = hosts_node.end_mark.index - 1  # the closing brace
            return text[:at] + _entry(name, values) + text[at:]
        at = _leaf_end(hosts_node.value[-1][1])
        return text[:at] + ", " + _entry(name, values) + text[at:]
    last_value = hosts_node.value[-1][1]
    indent = hosts_node.value[0][0].start_mark.column
    at = _after_line(text, _leaf_end(hosts_node))
    prefix = "" if at == 0 or text[at - 1] == "\n" else newline
    if isinstance(last_value, yaml.MappingNode) and not last_value.flow_style and last_value.value:
        child = last_value.value[0][0].start_mark.column
        return text[:at] + prefix + _block_lines(name, values, indent, child, newline) + text[at:]
    return text[:at] + prefix + f"{' ' * indent}{_entry(name, values)}{newline}" + text[at:]


# --- the whole edit, proved and rolled back ------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """Where a new host goes: its site group and its role group (possibly the same)."""

    site: Group
    role: Group


def place(source: Path, site: str, role: str) -> tuple[Placement | None, list[str]]:
    """Find the groups of ``site`` and ``role``; return them, or None and every problem found."""
    groups = find_groups(source)
    site_group, role_group = group_of(groups, "site", site), group_of(groups, "role", role)
    problems = []
    if site_group is None:
        known = sorted({str(g.variables["site"]) for g in groups if "site" in g.variables})
        problems.append(f"--site: unknown site {site!r} (the inventory has: {', '.join(known) or 'none'})")
    if role_group is None:
        known = sorted({str(g.variables["role"]) for g in groups if "role" in g.variables})
        problems.append(f"--role: unknown role {role!r} (the inventory has: {', '.join(known) or 'none'})")
    if site_group is None or role_group is None:
        return None, problems
    return Placement(site_group, role_group), []


def _write(path: Path, data: bytes) -> None:
    """Replace a file's content atomically, keeping its mode."""
    mode = path.stat().st_mode & 0o7777
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    temporary.write_bytes(data)
    os.chmod(temporary, mode)
    os.replace(temporary, path)


@contextlib.contextmanager
def edit_lock(state_dir: Path) -> Iterator[None]:
    """Serialise inventory edits of this site (two enrolments at once would lose one)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / "inventory-edit.lock", "w", encoding="ascii") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def add_host(
    source: Path, placement: Placement, *, name: str, address: str, port: int = 22, state_dir: Path
) -> Inventory:
    """Add a host to the inventory files and prove it with a fresh load; return that Inventory.

    Writes ``NAME: {ansible_host: A}`` (plus ``ansible_port`` when not 22)
    under the site group and ``NAME: {}`` under the role group. When the
    reloaded inventory does not parse or does not have the host with that
    address, site and role, every file is put back byte for byte and
    EgovError (or the ConfigError of the load) is raised. Costs one ansible
    inventory load (about half a second).
    """
    values: dict[str, str | int] = {"ansible_host": address}
    if port != 22:
        values["ansible_port"] = port
    with edit_lock(state_dir):
        originals = {g.file: g.file.read_bytes() for g in (placement.site, placement.role)}
        texts = {file: data.decode("utf-8") for file, data in originals.items()}
        if placement.site.path == placement.role.path and placement.site.file == placement.role.file:
            texts[placement.site.file] = insert_host(texts[placement.site.file], placement.site.path, name, values)
        else:
            texts[placement.site.file] = insert_host(texts[placement.site.file], placement.site.path, name, values)
            texts[placement.role.file] = insert_host(texts[placement.role.file], placement.role.path, name, {})
        written: list[Path] = []
        try:
            for file, text in texts.items():
                _write(file, text.encode("utf-8"))
                written.append(file)
            loaded = load_inventory(source)
            host = next((h for h in loaded.hosts if h.name == name), None)
            site, role = placement.site.variables.get("site"), placement.role.variables.get("role")
            if host is None or host.address != address or host.site != site or host.role != role:
                raise EgovError(
                    f"inventory: after the edit {name} did not load as {address} in site {site}, role {role} "
                    f"({'missing' if host is None else f'{host.address}, {host.site}, {host.role}'}): rolled back"
                )
            return loaded
        except BaseException:
            for file in written:
                _write(file, originals[file])
            raise


def check_name_free(inventory: Inventory, groups: list[Group], name: str, address: str) -> list[str]:
    """Problems when ``name`` or ``address`` is already taken by a host, or ``name`` by a group."""
    problems = []
    for host in inventory.hosts:
        if host.name == name:
            enrolled = f"; it is enrolled: run `egov scan --limit {name}` for a scan" if host.address == address else ""
            problems.append(
                f"NAME: {name!r} is already in the inventory ({host.address}, site {host.site}, role {host.role})"
                + enrolled
            )
        elif host.address == address:
            problems.append(f"--address: {address} is already the address of {host.name}")
    if any(group.name == name for group in groups):
        problems.append(f"NAME: {name!r} is the name of an inventory group")
    return problems


def refuse(problems: list[str]) -> None:
    """Raise BadInputError listing every problem, when there is any."""
    if problems:
        raise BadInputError(f"enrolment refused, {len(problems)} problem(s):\n  " + "\n  ".join(problems))
