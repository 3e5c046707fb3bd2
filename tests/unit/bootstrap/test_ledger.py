"""The bootstrap's record: which steps are due on which lab (pure), and its row in the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from controlplane.bootstrap import ledger
from controlplane.bootstrap.ledger import LabIdentity, Record

LAB = LabIdentity(disks="d1", boot="b1")


def _all_done(identity: LabIdentity = LAB) -> Record:
    record = Record()
    for step in ledger.STEPS:
        record.mark_done(step, identity, [1], "ok")
    return record


def test_a_lab_never_bootstrapped_has_every_step_due_in_order() -> None:
    assert ledger.pending(None, LAB) == list(ledger.STEPS)
    assert ledger.STEPS[0] == "provision" and ledger.STEPS[-1] == "scan"


def test_a_lab_bootstrapped_before_has_nothing_due() -> None:
    assert ledger.pending(_all_done(), LAB) == []


def test_force_makes_every_step_due_again() -> None:
    assert ledger.pending(_all_done(), LAB, force=True) == list(ledger.STEPS)


def test_new_disks_a_purged_or_other_lab_make_every_step_due_again() -> None:
    assert ledger.pending(_all_done(), LabIdentity(disks="d2", boot="b1")) == list(ledger.STEPS)


def test_a_restarted_lab_redoes_only_the_steps_whose_work_lives_in_the_hosts_namespaces() -> None:
    due = ledger.pending(_all_done(), LabIdentity(disks="d1", boot="b2"))
    assert due == ["provision", "harden"]
    assert set(due) == ledger.RUNTIME_STEPS


def test_a_step_that_failed_is_due_with_every_step_after_it() -> None:
    record = Record()
    for step in ledger.STEPS[:3]:
        record.mark_done(step, LAB, [1], "ok")
    assert ledger.pending(record, LAB) == list(ledger.STEPS[3:])


def test_marking_a_step_on_new_disks_forgets_what_was_done_on_the_old_ones() -> None:
    record = _all_done()
    record.mark_done("provision", LabIdentity(disks="d2", boot="b9"), [7], "ok")
    assert record.disks == "d2" and list(record.steps) == ["provision"]


def test_an_unreadable_record_counts_as_none() -> None:
    assert Record.from_json("{not json").steps == {}
    assert Record.from_json('["a list"]').disks == ""
    assert ledger.pending(Record.from_json("{}"), LAB) == list(ledger.STEPS)


def test_the_record_survives_the_store_and_is_replaced_on_save(store: Any) -> None:
    assert ledger.load_record(store) is None
    record = _all_done()
    ledger.save_record(store, record)
    record.mark_done("scan", LabIdentity(disks="d1", boot="b3"), [42], "scan 2")
    ledger.save_record(store, record)
    loaded = ledger.load_record(store)
    assert loaded is not None and loaded.steps["scan"]["runs"] == [42] and loaded.steps["scan"]["boot"] == "b3"
    assert ledger.pending(loaded, LAB) == []


def test_the_disks_fingerprint_follows_the_pinned_host_keys(tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    assert ledger.disks_fingerprint(known) == ""
    known.write_text("10.198.0.11 ssh-ed25519 AAAA1\n", encoding="utf-8")
    first = ledger.disks_fingerprint(known)
    known.write_text("10.198.0.11 ssh-ed25519 AAAA2\n", encoding="utf-8")
    assert first and ledger.disks_fingerprint(known) != first


def test_the_boot_fingerprint_changes_when_a_host_init_restarts_whatever_the_order() -> None:
    hosts = [("mn-portal-1", 101, "5000"), ("bc-backup-1", 102, "5001")]
    assert ledger.boot_fingerprint(hosts) == ledger.boot_fingerprint(list(reversed(hosts)))
    # The same pid reused by a later process is another boot: the start time tells them apart.
    assert ledger.boot_fingerprint([("mn-portal-1", 101, "9000"), hosts[1]]) != ledger.boot_fingerprint(hosts)
