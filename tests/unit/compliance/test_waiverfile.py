"""Waivers changed from the console: appended as text, expired in place, always valid, never deleted."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from controlplane.compliance.waiverfile import add_waiver, expire_waiver, new_entry
from controlplane.compliance.waivers import load_waivers
from controlplane.errors import BadInputError, ConfigError

TODAY = date(2026, 11, 25)
KNOWN = {"ssh.permit-root-login", "ssh.max-auth-tries"}


def entry(control: str = "ssh.permit-root-login", **changes: object) -> dict[str, object]:
    values: dict[str, object] = {
        "control": control, "hosts": ["gd-school-1"], "sites": [], "justification": "Vendor tool needs it until 2027",
        "approver": "Wang Fang (security officer)", "expires": date(2026, 12, 31), "today": TODAY,
    }  # fmt: skip
    values.update(changes)
    return new_entry(**values)  # type: ignore[arg-type]


def test_adding_to_a_missing_file_creates_a_valid_file(tmp_path: Path) -> None:
    path = tmp_path / "waivers.yml"
    waivers = add_waiver(path, entry(), KNOWN)
    assert [w.control for w in waivers] == ["ssh.permit-root-login"]
    assert load_waivers(path, KNOWN)[0].hosts == ("gd-school-1",)


def test_adding_keeps_the_comments_and_layout_of_the_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "waivers.yml"
    original = (
        "# reviewed by the CISO every quarter\nwaivers:\n"
        "  - control: ssh.max-auth-tries  # ticket SEC-12\n    sites: [school-gd-1]\n"
        "    justification: Legacy scanner retries a lot\n    approver: Li Lei\n    expires: 2027-01-31\n"
    )
    path.write_text(original, encoding="utf-8")
    add_waiver(path, entry(), KNOWN)
    text = path.read_text(encoding="utf-8")
    assert text.startswith(original) and "ticket SEC-12" in text
    assert [w.control for w in load_waivers(path, KNOWN)] == ["ssh.max-auth-tries", "ssh.permit-root-login"]


def test_expiring_rewrites_only_the_expiry_with_a_note_and_the_waiver_stops_applying_today(tmp_path: Path) -> None:
    path = tmp_path / "waivers.yml"
    add_waiver(path, entry(), KNOWN)
    waivers = expire_waiver(path, 0, today=TODAY, actor="so-gd", control="ssh.permit-root-login")
    assert waivers[0].expires == date(2026, 11, 24) and not waivers[0].active(TODAY)
    assert "# expired by so-gd on 2026-11-25 (was 2026-12-31)" in path.read_text(encoding="utf-8")
    with pytest.raises(BadInputError, match="already expired"):
        expire_waiver(path, 0, today=TODAY, actor="so-gd", control="ssh.permit-root-login")


def test_expiring_refuses_when_the_index_no_longer_names_that_control(tmp_path: Path) -> None:
    path = tmp_path / "waivers.yml"
    add_waiver(path, entry(), KNOWN)
    with pytest.raises(BadInputError, match="may have changed"):
        expire_waiver(path, 0, today=TODAY, actor="so-gd", control="ssh.max-auth-tries")


def test_a_waiver_needs_hosts_or_sites_a_future_expiry_and_a_known_control(tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="hosts or sites"):
        entry(hosts=[], sites=[])
    with pytest.raises(BadInputError, match="past"):
        entry(expires=date(2026, 1, 1))
    with pytest.raises(BadInputError, match="unknown control"):
        add_waiver(tmp_path / "waivers.yml", entry("ssh.no-such-thing"), KNOWN)


def test_a_newline_in_a_field_cannot_inject_a_yaml_key(tmp_path: Path) -> None:
    path = tmp_path / "waivers.yml"
    add_waiver(path, entry(justification="fine\n    expires: 2999-01-01\nwaivers: []"), KNOWN)
    waiver = load_waivers(path, KNOWN)[0]
    assert waiver.expires == date(2026, 12, 31) and "2999" in waiver.justification


def test_a_malformed_file_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "waivers.yml"
    path.write_text("waivers:\n  - control: ssh.permit-root-login\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        add_waiver(path, entry(), KNOWN)
    assert path.read_text(encoding="utf-8") == "waivers:\n  - control: ssh.permit-root-login\n"
