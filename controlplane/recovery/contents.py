"""What a recovery kit holds, gathered from the running control plane, and the fingerprint of it.

Restoring the control plane from the backup center alone needs: each
center's address, port, SFTP account and pinned host key; the location and
password of each control-plane repository (the policy's ``local: true``
datasets: the database dump and the files with the vault master key); where
those files lived relative to ``egov.yml``; the ``egov.yml`` itself (no
secret, only references); and the master key's id, to recognise the right
key among the restored files. :func:`gather` collects it and refuses, with
the reason, a site whose backups could not restore it (a PostgreSQL store,
a master key or database no control-plane dataset covers, a repository
never backed up, a center whose host key is not pinned).

The **fingerprint** is an HMAC-SHA256 over those contents with a random key
kept in the vault (``recovery.fingerprint_key``): comparing it tells whether
a kit is still current (a key rotation, a new center, a new repository
password all change it) without storing anything that would help guess a
password.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets as random
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from controlplane.errors import BadInputError, EgovError

if TYPE_CHECKING:
    from controlplane.backup.policy import Center, Policy
    from controlplane.config import Config
    from controlplane.inventory import Inventory
    from controlplane.store import Store
    from controlplane.vault import Vault

FINGERPRINT_SECRET = "recovery.fingerprint_key"  # noqa: S105 - a secret's name, not a value
CONTENTS_FORMAT = 1


def relative_to_root(config: Config, path: Path, what: str) -> str:
    """``path`` relative to the folder of egov.yml. Raises BadInputError when it lies outside."""
    try:
        return str(PurePosixPath(Path(path).resolve().relative_to(Path(config.root).resolve())))
    except ValueError:
        raise BadInputError(
            f"the {what} {path} lies outside the site folder {config.root}: a recovery restores files "
            "relative to egov.yml"
        ) from None


def sqlite_file(config: Config) -> Path:
    """The state database file. Raises BadInputError for a store that is not SQLite."""
    url = config.database_url
    if not url.startswith("sqlite:///") or url.endswith(":memory:"):
        raise BadInputError(
            "egov recover restores a SQLite state store; a PostgreSQL store is recovered with PostgreSQL's own "
            "tools (pg_dump / pg_restore), then the kit's keys"
        )
    return Path(url.removeprefix("sqlite:///"))


def pinned_line(config: Config, center: Center, address: str) -> str:
    """A center's pinned host key as a known_hosts line. Raises EgovError when it is not pinned."""
    import paramiko

    keys = paramiko.HostKeys(str(config.ssh_known_hosts)) if Path(config.ssh_known_hosts).exists() else None
    entry = (keys.lookup(address) or keys.lookup(center.host)) if keys is not None else None
    if not entry:
        raise EgovError(f"the host key of {center.host} ({address}) is not pinned in {config.ssh_known_hosts}")
    key_type = "ssh-ed25519" if "ssh-ed25519" in entry else sorted(entry.keys())[0]
    where = address if center.port == 22 else f"[{address}]:{center.port}"
    return f"{where} {key_type} {entry[key_type].get_base64()}"


def _centers(config: Config, policy: Policy, inventory: Inventory) -> list[dict[str, Any]]:
    from controlplane.backup.policy import CONTROLPLANE

    found = []
    for role, center in (("primary", policy.primary), ("secondary", policy.secondary)):
        if center is None:
            continue
        address = str(inventory.host(center.host).address)
        found.append(
            {
                "role": role,
                "host": center.host,
                "address": address,
                "port": center.port,
                "user": center.sftp_user(CONTROLPLANE),
                "root": center.root,
                "chrooted": center.chrooted,
                "stall_timeout": center.stall_timeout,
                "known_hosts": pinned_line(config, center, address),
            }
        )
    if not found:
        raise BadInputError("the backup policy names no backup center (centers.primary)")
    return found


def _datasets(config: Config, vault: Vault, policy: Policy, inventory: Inventory) -> list[dict[str, Any]]:
    from controlplane.backup.policy import CONTROLPLANE
    from controlplane.backup.targets import password_secret_name, repository_url

    database = relative_to_root(config, sqlite_file(config), "state database")
    key_file = relative_to_root(config, Path(config.key_file), "vault master key")
    found, has_database, has_key = [], False, False
    for dataset in (d for d in policy.datasets if d.local):
        secret = password_secret_name(CONTROLPLANE, CONTROLPLANE, dataset.name)
        if not vault.exists(secret):
            raise BadInputError(
                f"{dataset.name} was never backed up (no repository password yet): run "
                f"`egov backup run {dataset.name}` before making the kit"
            )
        locations = {}
        for role, center in (("primary", policy.primary), ("secondary", policy.secondary)):
            if center is not None:
                address = str(inventory.host(center.host).address)
                locations[role] = repository_url(center, address, CONTROLPLANE, CONTROLPLANE, dataset.name)
        entry: dict[str, Any] = {
            "name": dataset.name,
            "rpo": dataset.rpo,
            "rpo_seconds": dataset.rpo_seconds,
            "locations": locations,
            "password": vault.get(secret),
            "password_secret": secret,
        }
        if dataset.dump is not None:
            words = [str(PurePosixPath(word)) for word in dataset.dump.command]
            entry["dump"] = {"filename": dataset.dump.filename, "database": database if database in words else None}
            has_database = has_database or database in words
        else:
            entry["paths"] = [str(PurePosixPath(path)) for path in dataset.paths]
            covered = any(key_file == path or key_file.startswith(path.rstrip("/") + "/") for path in entry["paths"])
            entry["holds_master_key"] = covered
            has_key = has_key or covered
        found.append(entry)
    if not has_database:
        raise BadInputError(
            f"no control-plane dataset (local: true) dumps the state database {database}: add one to backup/ "
            "(see backup/controlplane-state.yml)"
        )
    if not has_key:
        raise BadInputError(
            f"no control-plane dataset (local: true) backs up the vault master key {key_file}: add it to one"
        )
    return found


def gather(config: Config, store: Store, vault: Vault, policy: Policy, inventory: Inventory) -> dict[str, Any]:
    """Everything restoring needs except the kit's own SSH key (added by the kit maker).

    Raises BadInputError for a site a kit could not restore (see the module
    docstring), EgovError for a center whose host key is not pinned.
    """
    from controlplane.store.models import Setting
    from controlplane.vault import CURRENT_KEY

    with store.session() as session:
        master_key_id = session.get(Setting, CURRENT_KEY)
    if master_key_id is None:
        raise EgovError("the vault has no current key recorded: open it once (`egov secrets list`)")
    return {
        "format": CONTENTS_FORMAT,
        "site": config.site_name,
        "original_root": str(config.root),
        "egov_yml": Path(config.source).read_text(encoding="utf-8"),
        "cipher": config.cipher,
        "state": {
            "dir": relative_to_root(config, Path(config.state_dir), "state folder"),
            "database": relative_to_root(config, sqlite_file(config), "state database"),
            "key_file": relative_to_root(config, Path(config.key_file), "vault master key"),
        },
        "master_key_id": master_key_id.value,
        "centers": _centers(config, policy, inventory),
        "datasets": _datasets(config, vault, policy, inventory),
    }


def fingerprint_key(vault: Vault, *, create: bool) -> bytes | None:
    """The vault's fingerprint key; made on first use when ``create`` (else None when missing)."""
    if vault.exists(FINGERPRINT_SECRET):
        return bytes.fromhex(vault.get(FINGERPRINT_SECRET))
    if not create:
        return None
    value = random.token_hex(32)
    vault.set(FINGERPRINT_SECRET, value)
    return bytes.fromhex(value)


def fingerprint(contents: dict[str, Any], key: bytes) -> str:
    """The HMAC-SHA256 of a kit's contents without its SSH key (hex); equal contents, equal fingerprints."""
    material = {name: value for name, value in contents.items() if name != "ssh_key"}
    text = json.dumps(material, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hmac.new(key, b"egov-recovery-kit:" + text.encode("utf-8"), hashlib.sha256).hexdigest()


def differences(recorded: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """What changed between the summary recorded with a kit and the current one, as sentences (no secret)."""
    reasons = []
    if recorded.get("master_key_id") != current.get("master_key_id"):
        reasons.append("the vault master key was rotated")
    if recorded.get("centers") != current.get("centers"):
        reasons.append("a backup center changed (address, account or host key)")
    if recorded.get("repositories") != current.get("repositories"):
        reasons.append("a control-plane repository moved or was added")
    if recorded.get("passwords") != current.get("passwords"):
        reasons.append("a control-plane repository password changed")
    if recorded.get("config") != current.get("config"):
        reasons.append("egov.yml or the state layout changed")
    return reasons or ["the kit's contents changed"]


def summary(contents: dict[str, Any], key: bytes) -> dict[str, Any]:
    """Per part, a digest of the contents (keyed, as the fingerprint), to say *what* changed later."""

    def digest(value: Any) -> str:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()[:16]

    datasets = contents["datasets"]
    return {
        "master_key_id": contents["master_key_id"],
        "centers": digest(contents["centers"]),
        "repositories": digest([{k: v for k, v in d.items() if k != "password"} for d in datasets]),
        "passwords": digest([d["password"] for d in datasets]),
        "config": digest([contents["egov_yml"], contents["state"], contents["cipher"], contents["original_root"]]),
    }
