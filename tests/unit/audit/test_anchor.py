"""Anchors: the head written outside the database catches an emptied, truncated or rolled-back chain."""

from __future__ import annotations

from controlplane import audit
from controlplane.audit import anchor
from tests.unit.audit.conftest import fill, forge_from, truncate_to, wipe


def test_deleting_every_record_and_the_head_is_detected(store) -> None:
    fill(store)
    wipe(store)
    result = audit.verify(store)
    assert not result.ok and result.count == 0
    assert "anchor" in result.reason and "record 1" in result.reason


def test_a_chain_cut_back_behind_an_anchor_is_detected_even_with_a_matching_head(store, config) -> None:
    fill(store, 8)
    anchor.anchor_head(config, store, remote=False)
    truncate_to(store, 5)
    result = audit.verify(store)
    assert not result.ok and result.bad_seq == 6
    assert "anchored" in result.reason and "record 8" in result.reason


def test_a_rolled_back_database_copy_is_detected(store, config) -> None:
    import shutil
    from pathlib import Path

    fill(store, 3)
    database = Path(config.database_url.removeprefix("sqlite:///"))
    store.engine.dispose()
    shutil.copy(database, database.with_suffix(".old"))
    fill(store, 3)
    anchor.anchor_head(config, store, remote=False)
    store.engine.dispose()
    for suffix in ("-wal", "-shm"):
        Path(str(database) + suffix).unlink(missing_ok=True)
    shutil.copy(database.with_suffix(".old"), database)
    result = audit.verify(store)
    assert not result.ok and "anchored" in result.reason


def test_an_anchored_record_rewritten_is_named(store, config) -> None:
    fill(store, 6)
    anchor.anchor_head(config, store, remote=False)
    forge_from(store, 4, drop_key=False, outcome="ok-forged")
    result = audit.verify(store)
    assert not result.ok and result.bad_seq == 4


def test_verify_says_since_when_it_vouches_and_where_the_head_was_anchored(store, config) -> None:
    fill(store, 4)
    written = anchor.anchor_head(config, store, remote=False)
    assert [(a.where, a.seq) for a in written] == [("local", 4)]
    result = audit.verify(store)
    assert result.ok and result.count == 4
    assert result.keyed_since == 1 and result.keyed_since_at
    assert result.last_anchor is not None and (result.last_anchor.seq, result.last_anchor.where) == (4, "local")


def test_an_unchanged_head_is_not_anchored_twice(store, config) -> None:
    fill(store, 2)
    anchor.anchor_head(config, store, remote=False)
    anchor.anchor_head(config, store, remote=False)
    lines = anchor.local_log_path(config).read_text().splitlines()
    assert [line.split()[0] for line in lines] == ["1", "2"]  # the first keyed record anchors itself


def test_a_garbled_anchor_log_is_a_problem_not_a_crash(store, config) -> None:
    fill(store, 2)
    path = anchor.local_log_path(config)
    path.write_text(path.read_text() + "$(reboot) ; rm -rf /\n")
    result = audit.verify(store)
    assert not result.ok and "anchor log" in result.reason and "line 2" in result.reason
