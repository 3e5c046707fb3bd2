"""Pieces of `lab up` that need no root: the bridge's owner tag, known_hosts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controlplane import execute
from controlplane.errors import EgovError
from controlplane.inventory import load_inventory
from controlplane.lab import disk, lifecycle
from controlplane.lab.spec import build_spec
from controlplane.network.model import load_network
from tests.unit.lab.lab_helpers import config, inventory

REPO = Path(__file__).resolve().parents[3]


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


def _machine_routes(monkeypatch: pytest.MonkeyPatch, routes: list[dict[str, str]]) -> None:
    def run(argv: list[str], **_: object) -> execute.ProcessResult:
        assert argv == ["ip", "-j", "-4", "route", "show", "table", "all"]
        return execute.ProcessResult(argv=argv, exit_code=0, outcome=execute.Outcome.OK, stdout=json.dumps(routes))

    monkeypatch.setattr(execute, "run", run)


def test_a_machine_route_into_the_data_planes_address_space_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    shipped = load_inventory(REPO / "inventory" / "lab.yml")
    zoned = build_spec(config(tmp_path), shipped, load_network(REPO / "inventory" / "network.yml", shipped))
    _machine_routes(monkeypatch, [{"dst": "10.198.50.0/24", "dev": "eth0"}, {"dst": "default", "dev": "eth0"}])
    with pytest.raises(EgovError, match=r"address space 10\.198\.0\.0/16 overlaps 10\.198\.50\.0/24 on eth0"):
        lifecycle._check_routes(zoned)
    lifecycle._check_routes(build_spec(config(tmp_path), shipped))  # a flat lab only minds its own /24
    _machine_routes(monkeypatch, [{"dst": "10.198.50.0/24", "dev": "egov-z7"}, {"dst": "10.199.0.0/16", "dev": "eth0"}])
    lifecycle._check_routes(zoned)
