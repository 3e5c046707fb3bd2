"""Loading the site configuration ``egov.yml`` into typed settings.

The file is found by ``--config``, then ``$EGOV_CONFIG``, then ``./egov.yml``.
It is validated against :mod:`controlplane.config_schema` (every problem at
once, with file and key path, exit 2) before anything uses it. Paths in it
are relative to the file's own folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from controlplane.config_schema import SCHEMA, defaults
from controlplane.durations import parse_duration
from controlplane.errors import ConfigError
from controlplane.yamlfile import read_yaml, schema_problems

CONFIG_FILE_NAME = "egov.yml"


@dataclass(frozen=True)
class Receiver:
    """One alert receiver; secret fields hold references, never values."""

    name: str
    type: str
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PkiSettings:
    """Lifetimes of what the CA issues (``pki:`` in egov.yml) and when renewal starts."""

    host_validity: timedelta = timedelta(weeks=4)
    user_validity: timedelta = timedelta(hours=8)
    tls_validity: timedelta = timedelta(days=90)
    renew_at: float = 0.667  # fraction of the validity after which a certificate is renewed


@dataclass(frozen=True)
class Config:
    """The validated site configuration with absolute paths."""

    source: Path
    root: Path
    site_name: str
    inventory: Path
    playbooks: Path
    backup: Path
    monitoring: Path
    runbooks: Path
    controls: Path
    state_dir: Path
    database_url: str
    key_file: Path
    cipher: str
    listen_host: str
    listen_port: int
    tls_cert: Path | None
    tls_key: Path | None
    public_url: str | None
    ssh_user: str
    ssh_key_file: Path
    ssh_known_hosts: Path
    ssh_connect_timeout: float
    ssh_command_timeout: float
    receivers: tuple[Receiver, ...] = ()
    trusted_proxies: int = 0
    listen_workers: int | None = None  # None: chosen by `egov serve` (2 on two or more cores)
    listen_tls: str = "auto"  # auto: HTTPS with a certificate from the CA when no tls_cert/tls_key; off: plain HTTP
    token_default_days: int = 90
    token_max_days: int = 365
    retention_run_output_days: int = 90  # 0: keep forever (as the two below)
    retention_delivery_days: int = 30
    retention_probe_days: int = 14
    retention_audit_days: int = 365  # 0: every audit record stays in the database
    audit_archive_dir: Path | None = None  # None: STATE/audit/archive (parse_config fills it)
    ssh_keepalive_interval: float = 5.0  # seconds of silence before a keepalive round trip (0: none)
    ssh_keepalive_count_max: int = 3  # unanswered intervals before a connection counts as dead
    ssh_idle_timeout: float = 0.0  # a command silent this long is stopped (0: only its timeout)
    trusted_proxy_addresses: tuple[str, ...] = ("127.0.0.1", "::1")  # whose X-Forwarded-For trusted_proxies believes
    leader_lease_seconds: float = 15.0  # the scheduler/monitor lease (controlplane.leader)
    leader_renew_seconds: float = 5.0
    retention_slo_minute_days: int = 35  # service-level rollups per minute (controlplane/slo)
    retention_slo_hour_days: int = 400  # and per hour
    pki: PkiSettings = field(default_factory=PkiSettings)  # the CA's certificate lifetimes (controlplane/pki)
    audit_hash: str = "sha256"  # audit chain and evidence digests: sha256 | sm3 (controlplane.audit.chain)

    @property
    def lab_dir(self) -> Path:
        """Folder holding the lab's hosts, keys and state."""
        return self.state_dir / "lab"

    @property
    def runs_dir(self) -> Path:
        """Folder holding run artifacts that do not belong in the database."""
        return self.state_dir / "runs"


def find_config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """Return the configuration file to use (explicit, $EGOV_CONFIG or ./egov.yml)."""
    if explicit:
        return Path(explicit).expanduser().absolute()
    from_env = os.environ.get("EGOV_CONFIG")
    if from_env:
        return Path(from_env).expanduser().absolute()
    return Path.cwd() / CONFIG_FILE_NAME


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _semantic_problems(data: dict[str, Any]) -> list[tuple[str, str]]:
    """Checks JSON schema cannot express: unique names, paired TLS files."""
    problems: list[tuple[str, str]] = []
    seen: set[str] = set()
    for index, receiver in enumerate(data.get("receivers") or []):
        name = receiver.get("name") if isinstance(receiver, dict) else None
        if name in seen:
            problems.append((f"receivers[{index}].name", f"duplicate receiver name {name!r}"))
        if isinstance(name, str):
            seen.add(name)
        if isinstance(receiver, dict):
            kind = receiver.get("type")
            if kind in ("webhook", "wecom", "dingtalk") and not (receiver.get("url") or receiver.get("url_secret")):
                problems.append((f"receivers[{index}]", f"a {kind} receiver needs url or url_secret"))
            if kind == "email" and not (receiver.get("smtp_host") and receiver.get("to")):
                problems.append((f"receivers[{index}]", "an email receiver needs smtp_host and to"))
    listen = data.get("listen") or {}
    if isinstance(listen, dict) and bool(listen.get("tls_cert")) != bool(listen.get("tls_key")):
        problems.append(("listen", "tls_cert and tls_key must be given together"))
    problems += _listen_and_leader_problems(listen if isinstance(listen, dict) else {}, data.get("leader"))
    tokens = data.get("api_tokens") or {}
    if isinstance(tokens, dict) and isinstance(tokens.get("default_days"), int):
        ceiling = tokens.get("max_days", 365)
        if isinstance(ceiling, int) and tokens["default_days"] > ceiling:
            problems.append(("api_tokens.default_days", f"the default lifetime exceeds max_days ({ceiling})"))
    return problems


def _listen_and_leader_problems(listen: dict[str, Any], leader: Any) -> list[tuple[str, str]]:
    """The proxies' addresses must parse; a lease must leave room to renew and to stop in time."""
    import ipaddress
    import re

    problems: list[tuple[str, str]] = []
    for index, address in enumerate(listen.get("trusted_proxy_addresses") or []):
        if not isinstance(address, str) or not re.fullmatch(r"[0-9A-Fa-f.:/]{2,64}", address):
            continue  # the schema's pattern reports it
        try:
            ipaddress.ip_network(address, strict=False)
        except ValueError:
            problems.append((f"listen.trusted_proxy_addresses[{index}]", f"{address!r} is not an address or network"))
    if isinstance(leader, dict):
        lease, renew = leader.get("lease_seconds", 15), leader.get("renew_seconds", 5)
        if isinstance(lease, int | float) and isinstance(renew, int | float) and lease < 3 * renew:
            problems.append(("leader.lease_seconds", "must be at least three times renew_seconds"))
    return problems


def parse_config(data: Any, source: Path) -> Config:
    """Validate a parsed document and build a Config.

    An empty document means all defaults; relative paths are resolved
    against ``source``'s folder, so a config means the same wherever the
    command runs. Raises ConfigError listing every problem (schema and the
    cross-field checks) at once.
    """
    if data is None:
        data = {}
    problems = schema_problems(data, SCHEMA)
    if isinstance(data, dict):
        problems += _semantic_problems(data)
    if problems:
        raise ConfigError(str(source), problems)
    merged = _merge(defaults(), data)
    root = source.parent

    def path(value: str) -> Path:
        candidate = Path(value).expanduser()
        return candidate if candidate.is_absolute() else root / candidate

    folders, state, vault, listen, ssh = (
        merged["folders"],
        merged["state"],
        merged["vault"],
        merged["listen"],
        merged["ssh"],
    )
    state_dir = path(state["dir"])
    database_url = state["database"]
    if database_url.startswith("sqlite:///") and not database_url.startswith("sqlite:////"):
        relative = database_url.removeprefix("sqlite:///")
        if relative and relative != ":memory:":
            database_url = "sqlite:///" + str(path(relative))
    key_file_env = os.environ.get("EGOV_MASTER_KEY_FILE")
    return Config(
        source=source,
        root=root,
        site_name=merged["site_name"],
        inventory=path(folders["inventory"]),
        playbooks=path(folders["playbooks"]),
        backup=path(folders["backup"]),
        monitoring=path(folders["monitoring"]),
        runbooks=path(folders["runbooks"]),
        controls=path(folders["controls"]),
        state_dir=state_dir,
        database_url=database_url,
        key_file=Path(key_file_env).absolute() if key_file_env else path(vault["key_file"]),
        cipher=vault["cipher"],
        listen_host=listen["host"],
        listen_port=int(listen["port"]),
        tls_cert=path(listen["tls_cert"]) if listen.get("tls_cert") else None,
        tls_key=path(listen["tls_key"]) if listen.get("tls_key") else None,
        public_url=listen.get("public_url"),
        trusted_proxies=int(listen.get("trusted_proxies") or 0),
        listen_workers=int(listen["workers"]) if listen.get("workers") else None,
        listen_tls=str(listen["tls"]),
        ssh_user=ssh["user"],
        ssh_key_file=path(ssh["key_file"]),
        ssh_known_hosts=path(ssh["known_hosts"]),
        ssh_connect_timeout=float(ssh["connect_timeout"]),
        ssh_command_timeout=float(ssh["command_timeout"]),
        receivers=tuple(
            Receiver(name=r["name"], type=r["type"], settings={k: v for k, v in r.items() if k not in ("name", "type")})
            for r in merged.get("receivers") or []
        ),
        token_default_days=int(merged["api_tokens"]["default_days"]),
        token_max_days=int(merged["api_tokens"]["max_days"]),
        retention_run_output_days=int(merged["retention"]["run_output_days"]),
        retention_delivery_days=int(merged["retention"]["delivery_days"]),
        retention_probe_days=int(merged["retention"]["probe_days"]),
        retention_audit_days=int(merged["retention"]["audit_days"]),
        audit_archive_dir=(
            path(merged["retention"]["audit_archive_dir"])
            if merged["retention"].get("audit_archive_dir")
            else state_dir / "audit" / "archive"
        ),
        ssh_keepalive_interval=float(ssh["keepalive_interval"]),
        ssh_keepalive_count_max=int(ssh["keepalive_count_max"]),
        ssh_idle_timeout=float(ssh["idle_timeout"]),
        trusted_proxy_addresses=tuple(listen["trusted_proxy_addresses"]),
        leader_lease_seconds=float(merged["leader"]["lease_seconds"]),
        leader_renew_seconds=float(merged["leader"]["renew_seconds"]),
        retention_slo_minute_days=int(merged["retention"]["slo_minute_days"]),
        retention_slo_hour_days=int(merged["retention"]["slo_hour_days"]),
        audit_hash=merged["audit"]["hash"],
        pki=_pki_settings(merged["pki"]),
    )


def _pki_settings(section: dict[str, Any]) -> PkiSettings:
    """The ``pki:`` section as timedeltas (the schema has checked the duration text)."""
    return PkiSettings(
        host_validity=timedelta(seconds=parse_duration(section["host_validity"])),
        user_validity=timedelta(seconds=parse_duration(section["user_validity"])),
        tls_validity=timedelta(seconds=parse_duration(section["tls_validity"])),
        renew_at=float(section["renew_at"]),
    )


def load_config(explicit: str | os.PathLike[str] | None = None) -> Config:
    """Find, read and validate the site configuration.

    Without ``explicit``, ``$EGOV_CONFIG`` and then ``./egov.yml`` are
    used. Raises ConfigError (exit 2) when the file is missing, not YAML, or
    invalid.
    """
    source = find_config_path(explicit)
    if not source.exists():
        raise ConfigError(str(source), [("", "no configuration here: run `egov init` or pass --config PATH")])
    return parse_config(read_yaml(source), source)
