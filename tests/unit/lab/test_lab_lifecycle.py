"""Pieces of `lab up` that need no root: the bridge's owner tag, known_hosts."""

from __future__ import annotations

from pathlib import Path

from controlplane.lab import disk, lifecycle
from controlplane.lab.spec import build_spec
from tests.unit.lab.lab_helpers import config, inventory


def test_owner_tag_names_the_lab_folder_and_fits_an_alias() -> None:
    assert lifecycle.owner_tag(Path("/srv/egov/var/lab")) == "egov-lab /srv/egov/var/lab"
    long = Path("/" + "x" * 300)
    tag = lifecycle.owner_tag(long)
    assert len(tag) < 256 and tag.startswith("egov-lab sha256:")
    assert tag == lifecycle.owner_tag(long)


def test_known_hosts_gets_every_host_key_that_exists(tmp_path: Path) -> None:
    spec = build_spec(config(tmp_path), inventory([("mn-db-1", "10.198.0.14"), ("gd-edu-1", "10.198.0.41")]))
    public = spec.host("mn-db-1").upper / (disk.HOST_KEY + ".pub")
    public.parent.mkdir(parents=True)
    public.write_text("ssh-ed25519 AAAAkey root@mn-db-1\n", encoding="ascii")
    spec.known_hosts.parent.mkdir(parents=True)
    spec.known_hosts.write_text("other.example ssh-ed25519 KEEP\n", encoding="ascii")
    lifecycle.write_known_hosts(spec)
    assert spec.known_hosts.read_text(encoding="ascii") == (
        "other.example ssh-ed25519 KEEP\n10.198.0.14,mn-db-1 ssh-ed25519 AAAAkey\n"
    )
