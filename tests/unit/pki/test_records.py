"""The register: the newest certificate of a subject, and which are due for renewal at two thirds of their life."""

from __future__ import annotations

import datetime as dt

from controlplane.pki import records
from controlplane.pki.issue import sign_host_key
from controlplane.pki.revocation import revoke

HOUR = dt.timedelta(hours=1)


def _issue(authority, line: str, host: str, validity=HOUR):  # type: ignore[no-untyped-def]
    return sign_host_key(authority, line, host=host, principals=[host], validity=validity, requester="t")


def test_latest_for_is_the_newest_certificate_of_the_subject(store, authority, new_key_line) -> None:
    _issue(authority, new_key_line(), "h1")
    newest = _issue(authority, new_key_line(), "h1")
    _issue(authority, new_key_line(), "h2")
    found = records.latest_for(store, "ssh-host", "h1")
    assert found is not None and found.serial == newest.serial
    assert records.latest_for(store, "ssh-host", "h3") is None
    assert records.latest_for(store, "ssh-user", "h1") is None


def test_a_certificate_is_due_for_renewal_once_two_thirds_of_its_validity_passed(store, authority, new_key_line):
    issued = _issue(authority, new_key_line(), "h1")
    life = issued.not_after - issued.not_before
    before = issued.not_before + life * 0.66
    after = issued.not_before + life * 0.67
    assert records.due_for_renewal(store, "ssh-host", before) == []
    assert [row.serial for row in records.due_for_renewal(store, "ssh-host", after)] == [issued.serial]
    assert [row.serial for row in records.due_for_renewal(store, "ssh-host", after, fraction=0.9)] == []


def test_a_renewed_or_revoked_certificate_is_not_due_again(config, store, authority, new_key_line) -> None:
    old = _issue(authority, new_key_line(), "h1")
    later = old.not_after + dt.timedelta(minutes=1)
    _issue(authority, new_key_line(), "h1", validity=dt.timedelta(weeks=4))  # the renewal
    gone = _issue(authority, new_key_line(), "h2")
    revoke(config, store, serial=gone.serial, reason="host removed", requester="t")
    assert records.due_for_renewal(store, "ssh-host", later) == []


def test_list_certificates_filters_by_kind_newest_first(store, authority, new_key_line) -> None:
    first = _issue(authority, new_key_line(), "h1")
    second = _issue(authority, new_key_line(), "h2")
    assert [row.serial for row in records.list_certificates(store, kind="ssh-host")] == [second.serial, first.serial]
    assert {row.subject for row in records.list_certificates(store, kind="ca")} == {"root", "intermediate", "ssh-ca"}
    shown = records.list_certificates(store, kind="ssh-host")[0].as_dict()
    assert shown["serial"] == second.serial and shown["revoked"] is False and shown["principals"] == ["h2"]
