"""``egov recovery kit``: make a kit, authorise its key on the centers, write the sealed file and the shares.

Order, so that a failure half-way leaves nothing that looks like a kit:
gather the contents (refusing a site a kit could not restore), make the
kit's SSH key in memory, authorise it on every center (replacing the
previous kit's key), seal the contents under a fresh key, split that key,
write the kit file and one share sheet per custodian (text and QR code),
then record the kit in the store and audit it. The clear contents and the
key exist only in this process's memory.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import secrets as random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controlplane.errors import BadInputError

from . import center_keys, contents, kitfile, shares
from .status import KIT_SETTING

if TYPE_CHECKING:
    from controlplane.backup.context import BackupContext

CUSTODIAN = re.compile(r"^[\w][\w .'-]{0,63}$")



@dataclass(frozen=True)
class MadeKit:
    """A kit just made: its header, the sealed text, the shares, and what it is a fingerprint of."""

    header: kitfile.Header
    text: str
    shares: list[shares.Share]
    summary: dict[str, Any]
    public_key: str


def check_custodians(names: list[str]) -> list[str]:
    """The custodians' names, checked: printable words, distinct. Raises BadInputError otherwise."""
    cleaned = [name.strip() for name in names]
    for name in cleaned:
        if not CUSTODIAN.match(name) or "\n" in name:
            raise BadInputError(
                f"custodian name {name[:40]!r}: use letters, digits, spaces, '.', \"'\" or '-' (at most 64)"
            )
    if len({name.casefold() for name in cleaned}) != len(cleaned):
        raise BadInputError("each custodian must be named once")
    return cleaned


def ssh_keypair(comment: str) -> tuple[str, str]:
    """A new ed25519 key: (OpenSSH private key text, public key line with ``comment``), made in memory."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode("ascii")
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return private, f"{public.decode('ascii')} {comment}"


def build(ctx: BackupContext, custodians: list[str], threshold: int, *, drill: bool = False) -> MadeKit:
    """Gather, authorise and seal a kit (see the module docstring); nothing is written to disk here.

    A drill's kit authorises its own throw-away key (``egov-recovery-drill-ID``)
    beside the real kit's, which stays. Raises BadInputError for bad
    custodians or threshold or a site no kit could restore, EgovError when a
    center cannot be reached.
    """
    custodians = check_custodians(custodians)
    shares.check_threshold(threshold, len(custodians))
    gathered = contents.gather(ctx.config, ctx.store, ctx.vault, ctx.policy, ctx.inventory)
    key = contents.fingerprint_key(ctx.vault, create=True)
    assert key is not None  # noqa: S101 - created above
    kit_id = shares.new_kit_id(random.token_bytes(shares.KIT_ID_BYTES))
    tag = (center_keys.DRILL_TAG if drill else center_keys.KIT_TAG) + kit_id
    private, public = ssh_keypair(tag)
    center_keys.update(ctx, add=[public], remove_prefix="" if drill else center_keys.KIT_TAG)
    gathered["ssh_key"] = {"private": private, "public": public}
    header = kitfile.Header(
        kit_id=kit_id,
        made_at=dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        made_by=ctx.actor,
        site=ctx.config.site_name,
        threshold=threshold,
        custodians=tuple(custodians),
        fingerprint=contents.fingerprint(gathered, key),
        drill=drill,
    )
    sealing_key = random.token_bytes(32)
    text = kitfile.seal(header, gathered, sealing_key, random.token_bytes(kitfile.NONCE_BYTES))
    split = shares.split(sealing_key, threshold, len(custodians), kit_id)
    return MadeKit(header, text, split, contents.summary(gathered, key), public)


def share_sheet(header: kitfile.Header, share: shares.Share, kit_file: str) -> str:
    """The text a custodian keeps: who, which kit, what to do with it, and the share on its own line."""
    name = header.custodian(share.index)
    return (
        f"# EduGov control plane: recovery kit {header.kit_id} of site {header.site}, made {header.made_at}\n"
        f"# Share {share.index} of {share.count} (any {share.threshold} open the kit), held by: {name}\n"
        f"# Keep it offline, apart from the kit file ({kit_file}) and from the other custodians' shares.\n"
        "# When the ministry's site is lost, type (or paste) the line below into `egov recover` on the DR host.\n"
        "# Every group of five ends in a check character: a mistyped character names its group.\n"
        f"{share.text()}\n"
    )


def _write_private(path: Path, data: str | bytes) -> None:
    """Write a file 0600 (never readable by others, even for the moment before a chmod)."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    descriptor = os.open(path, flags, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(data.encode("utf-8") if isinstance(data, str) else data)


def write(made: MadeKit, kit_path: Path, shares_dir: Path) -> list[Path]:
    """Write the kit file and, per custodian, ``share-I-of-N.txt`` and ``.svg`` (QR code); return the sheets.

    Raises BadInputError when the kit file or the share folder already holds files (never overwritten).
    """
    import segno

    if kit_path.exists():
        raise BadInputError(f"{kit_path} already exists: choose another -o FILE")
    if shares_dir.exists() and any(shares_dir.iterdir()):
        raise BadInputError(f"{shares_dir} is not empty: choose another --shares-dir")
    shares_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    _write_private(kit_path, made.text)
    written = []
    for share in made.shares:
        stem = shares_dir / f"share-{share.index}-of-{share.count}"
        _write_private(stem.with_suffix(".txt"), share_sheet(made.header, share, kit_path.name))
        code = segno.make(share.text(), error="m")
        svg_path = stem.with_suffix(".svg")
        _write_private(svg_path, b"")
        title = f"share {share.index} of kit {made.header.kit_id}"
        code.save(str(svg_path), kind="svg", scale=4, border=4, title=title)
        written.append(stem.with_suffix(".txt"))
    return written


def record(ctx: BackupContext, made: MadeKit, kit_path: Path) -> None:
    """Keep the kit's public facts in the store (the status compares against them) and audit it."""
    from controlplane import audit
    from controlplane.store.models import Setting

    facts = {
        **made.header.as_dict(),
        "file": str(kit_path),
        "summary": made.summary,
        "public_key": made.public_key.split()[1][:24],
        "used_at": None,
    }
    with ctx.store.session() as session:
        row = session.get(Setting, KIT_SETTING)
        if row is None:
            session.add(Setting(key=KIT_SETTING, value=json.dumps(facts, sort_keys=True)))
        else:
            row.value = json.dumps(facts, sort_keys=True)
    audit.append(
        ctx.store,
        actor=ctx.actor,
        action="recovery.kit",
        target=made.header.kit_id,
        details={
            "custodians": list(made.header.custodians),
            "threshold": made.header.threshold,
            "fingerprint": made.header.fingerprint[:16],
            "file": str(kit_path),
        },
    )
