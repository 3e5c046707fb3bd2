"""Enrolment against an SSH server on loopback: the host key checked, the password used once, nothing half-done."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paramiko
import pytest

from controlplane.automation import first_contact
from controlplane.automation.enrol import EnrolRequest, Steps, address_problem, check, enrol
from controlplane.config import Config, load_config
from controlplane.errors import BadInputError, EgovError, HostKeyError
from controlplane.inventory import load_inventory
from controlplane.store import Store, open_store
from tests.conftest import REPO, write_config
from tests.unit.automation.fake_sshd import FakeServer

PASSWORD = "correct horse battery staple"


def site_config(folder: Path) -> Config:
    """A site in ``folder`` with its own copy of the lab inventory and a management key."""
    shutil.copyfile(REPO / "inventory" / "lab.yml", folder / "inventory.yml")
    folders = {name: str(REPO / name) for name in ("playbooks", "backup", "monitoring", "runbooks")}
    write_config(folder, folders={**folders, "inventory": str(folder / "inventory.yml")})
    config = load_config(folder / "egov.yml")
    config.ssh_key_file.parent.mkdir(parents=True)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "egov-management", "-f", str(config.ssh_key_file)],
        check=True,
    )
    from controlplane.vault import create_key_file

    create_key_file(config.key_file)
    return config


@pytest.fixture
def server() -> Iterator[FakeServer]:
    running = FakeServer(PASSWORD)
    yield running
    running.close()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[Config, Store]]:
    config = site_config(tmp_path)
    store = open_store(config)
    yield config, store
    store.close()


def request(server: FakeServer, **changes: object) -> EnrolRequest:
    values: dict[str, object] = {
        "name": "gd-school-2", "address": "127.0.0.1", "site": "school-gd-1", "role": "school", "port": server.port,
    }  # fmt: skip
    values.update(changes)
    return EnrolRequest(**values)  # type: ignore[arg-type]


def steps(confirm: bool = True, password: str = PASSWORD, shown: list[tuple[str, str, str]] | None = None) -> Steps:
    return Steps(
        confirm_key=lambda key, verified: confirm,
        read_password=lambda: password,
        on_step=lambda step, state, detail: (shown if shown is not None else []).append((step, state, detail)),
    )


def management_line(config: Config) -> str:
    return " ".join(Path(str(config.ssh_key_file) + ".pub").read_text(encoding="ascii").split()[:2])


def audit_records(store: Store) -> list[dict[str, Any]]:
    from controlplane import audit

    return [
        {
            "action": r.action,
            "outcome": r.outcome,
            "details": json.loads(r.details) if isinstance(r.details, str) else r.details,
        }
        for r in audit.list_records(store)
    ]


def test_a_fresh_server_is_enrolled_with_its_password_once_and_is_reached_by_key_afterwards(
    site: tuple[Config, Store], server: FakeServer
) -> None:
    config, store = site
    shown: list[tuple[str, str, str]] = []
    outcome = enrol(config, store, request(server), steps(shown=shown), actor="tester@cli")
    fingerprint = first_contact.fingerprint(server.host_key.asbytes())
    assert outcome.fingerprint == fingerprint and outcome.trusted_by == "confirmed by the operator"
    assert server.authorized == {management_line(config)}
    assert server.passwords_tried == [PASSWORD]
    # The one remote command is the constant script: the key travels on stdin, not in the command line.
    assert len(server.commands) == 1 and server.commands[0].startswith("sh -c ")
    assert management_line(config).split()[1] not in server.commands[0]
    pin = f"[127.0.0.1]:{server.port},[gd-school-2]:{server.port} {server.host_key.get_name()}"
    assert config.ssh_known_hosts.read_text(encoding="utf-8").startswith(pin)
    host = load_inventory(config.inventory).host("gd-school-2")
    assert (host.address, host.port, host.site, host.role) == ("127.0.0.1", server.port, "school-gd-1", "school")
    assert outcome.steps["certify"].startswith("skipped")
    assert [(s, state) for s, state, _ in shown if state != "start"] == [
        ("check", "ok"), ("first contact", "ok"), ("management key", "ok"), ("pin host key", "ok"),
        ("inventory", "ok"), ("certify", "skipped"), ("audit", "ok"), ("first scan", "skipped"),
    ]  # fmt: skip
    [record] = audit_records(store)
    assert record["action"] == "hosts.enrol" and record["outcome"] == "ok"
    assert record["details"]["host_key"] == fingerprint
    assert PASSWORD not in json.dumps(audit_records(store))
    pinned = first_contact.HostKey(server.host_key.get_name(), server.host_key.asbytes())
    assert first_contact.key_login_works("gd-school-2", "127.0.0.1", server.port, pinned, config.ssh_key_file, 5)


def test_a_retry_continues_where_it_stopped_without_asking_for_the_password(
    site: tuple[Config, Store], server: FakeServer
) -> None:
    config, store = site
    enrol(config, store, request(server), steps(), actor="tester@cli")
    inventory_text = config.inventory.read_text(encoding="utf-8")

    def no_password() -> str:
        raise AssertionError("the password was asked again")

    again = Steps(confirm_key=lambda key, verified: verified, read_password=no_password)
    outcome = enrol(config, store, request(server), again, actor="tester@cli")
    assert outcome.trusted_by == "already pinned in known_hosts"
    assert outcome.steps["management key"] == "already accepted"
    assert outcome.steps["inventory"] == "already there"
    assert config.inventory.read_text(encoding="utf-8") == inventory_text
    assert config.ssh_known_hosts.read_text(encoding="utf-8").count("gd-school-2") == 1


def _nothing_changed(config: Config, server: FakeServer, inventory_text: str) -> None:
    assert config.inventory.read_text(encoding="utf-8") == inventory_text
    assert not config.ssh_known_hosts.exists()
    assert server.authorized == set() and server.passwords_tried == []


def test_a_fingerprint_given_out_of_band_that_does_not_match_is_refused_and_nothing_changes(
    site: tuple[Config, Store], server: FakeServer
) -> None:
    config, store = site
    before = config.inventory.read_text(encoding="utf-8")
    other = first_contact.fingerprint(paramiko.ECDSAKey.generate().asbytes())
    with pytest.raises(BadInputError, match="not " + re.escape(other) + " as given") as refused:
        enrol(config, store, request(server, fingerprint=other), steps(), actor="tester@cli")
    assert refused.value.exit_code == 2
    _nothing_changed(config, server, before)
    [record] = audit_records(store)
    assert record["outcome"] == "failed" and record["details"]["failed_step"] == "first contact"


def test_the_matching_fingerprint_enrols_without_asking_about_the_key(
    site: tuple[Config, Store], server: FakeServer
) -> None:
    config, store = site
    asked: list[bool] = []
    given = first_contact.fingerprint(server.host_key.asbytes())
    confirm = Steps(confirm_key=lambda key, verified: asked.append(verified) or True, read_password=lambda: PASSWORD)
    outcome = enrol(config, store, request(server, fingerprint=" " + given + " "), confirm, actor="tester@cli")
    assert asked == [True] and outcome.trusted_by == "fingerprint given out of band"


def test_a_key_the_operator_does_not_confirm_changes_nothing(site: tuple[Config, Store], server: FakeServer) -> None:
    config, store = site
    before = config.inventory.read_text(encoding="utf-8")
    with pytest.raises(BadInputError, match="not confirmed"):
        enrol(config, store, request(server), steps(confirm=False), actor="tester@cli")
    _nothing_changed(config, server, before)


def test_a_host_key_that_changes_after_it_was_confirmed_is_refused_before_the_password_is_sent(
    site: tuple[Config, Store], server: FakeServer
) -> None:
    config, store = site
    before = config.inventory.read_text(encoding="utf-8")

    def swap_then_confirm(key: first_contact.HostKey, verified: bool) -> bool:
        server.host_key = paramiko.ECDSAKey.generate()  # someone else answers the next connection
        return True

    with pytest.raises(HostKeyError, match="CHANGED between first contact and login"):
        enrol(config, store, request(server), Steps(swap_then_confirm, lambda: PASSWORD), actor="tester@cli")
    _nothing_changed(config, server, before)


def test_a_wrong_password_fails_without_the_password_in_the_message_or_the_audit(
    site: tuple[Config, Store], server: FakeServer
) -> None:
    config, store = site
    before = config.inventory.read_text(encoding="utf-8")
    with pytest.raises(EgovError, match="password was refused") as failed:
        enrol(config, store, request(server), steps(password="hunter2-wrong"), actor="tester@cli")
    assert "hunter2-wrong" not in failed.value.message
    assert config.inventory.read_text(encoding="utf-8") == before and server.authorized == set()
    [record] = audit_records(store)
    assert record["details"]["failed_step"] == "management key"
    assert "hunter2-wrong" not in json.dumps(audit_records(store))


def test_every_problem_of_a_request_is_reported_at_once_before_any_contact(
    site: tuple[Config, Store], server: FakeServer
) -> None:
    config, _store = site
    bad = request(server, name="bad;name", address="-oProxyCommand=x", site="nowhere", role="kiosk", port=0,
                  fingerprint="MD5:00:11")  # fmt: skip
    with pytest.raises(BadInputError) as refused:
        check(config, bad)
    message = refused.value.message
    assert message.startswith("enrolment refused, 6 problem(s):")
    for part in ("NAME: 'bad;name'", "--address: '-oProxyCommand=x'", "unknown site 'nowhere'",
                 "unknown role 'kiosk'", "--port: 0", "--fingerprint: 'MD5:00:11'"):  # fmt: skip
        assert part in message
    assert server.transports == []


@pytest.mark.parametrize("name", ["a\nb", "$(reboot)", "x y", "../etc", "-rf", "true", "null", "1e3x;", "é"])
def test_hostile_or_misread_names_are_refused(site: tuple[Config, Store], server: FakeServer, name: str) -> None:
    with pytest.raises(BadInputError, match="NAME: "):
        check(site[0], request(server, name=name))


def test_a_name_or_address_already_in_the_inventory_is_refused(site: tuple[Config, Store], server: FakeServer) -> None:
    with pytest.raises(BadInputError) as refused:
        check(site[0], request(server, name="mn-db-1", address="10.198.0.51"))
    assert "'mn-db-1' is already in the inventory" in refused.value.message
    assert "10.198.0.51 is already the address of gd-school-1" in refused.value.message


def test_a_site_without_a_management_key_is_told_how_to_make_one(
    site: tuple[Config, Store], server: FakeServer
) -> None:
    config = site[0]
    config.ssh_key_file.unlink()
    Path(str(config.ssh_key_file) + ".pub").unlink()
    with pytest.raises(BadInputError, match="ssh-keygen -t ed25519"):
        check(config, request(server))


def test_addresses_are_ip_literals_or_dns_names() -> None:
    for good in ("10.198.0.52", "2001:db8::5", "school-2.gd.example.cn"):
        assert address_problem(good) is None
    unspecified = "0.0.0.0"  # noqa: S104 - an address to refuse, never bound
    for bad in ("-oProxyCommand=x", unspecified, "224.0.0.1", "a..b", "1.2.3", "x_y.example", "a b", ""):
        assert address_problem(bad) is not None, bad


def test_fingerprints_are_taken_as_ssh_keygen_prints_them() -> None:
    key = paramiko.ECDSAKey.generate().asbytes()
    printed = first_contact.fingerprint(key)
    assert printed.startswith("SHA256:") and len(printed) == 50
    assert first_contact.normalise_fingerprint(f"  {printed}\n") == printed
    assert first_contact.normalise_fingerprint(printed.replace("SHA256", "sha256")) == printed
    assert first_contact.normalise_fingerprint(printed[:-1]) is None
    assert first_contact.normalise_fingerprint("MD5:" + printed[7:]) is None
