"""Custodians' shares: Shamir's split with pycryptodome, the typed form and its checks."""

from __future__ import annotations

import itertools
import os

import pytest

from controlplane.errors import BadInputError
from controlplane.recovery import shares
from controlplane.recovery.shares import ShareError

KIT = shares.new_kit_id(b"\x01\x02\x03\x04\x05")


def _split(threshold: int = 2, count: int = 3) -> tuple[bytes, list[shares.Share]]:
    key = os.urandom(32)
    return key, shares.split(key, threshold, count, KIT)


def test_any_two_of_three_shares_rebuild_the_key_and_one_does_not() -> None:
    key, split = _split()
    for pair in itertools.combinations(split, 2):
        assert shares.combine(list(pair)) == key
    with pytest.raises(ShareError, match="2 shares are needed"):
        shares.combine(split[:1])


def test_three_of_five_rebuild_the_key_whatever_their_order() -> None:
    key, split = _split(3, 5)
    assert shares.combine([split[4], split[0], split[2]]) == key


def test_the_library_is_pycryptodome_shamir_on_both_halves() -> None:
    from Crypto.Protocol.SecretSharing import Shamir

    key, split = _split()
    first = Shamir.combine([(s.index, s.data[:16]) for s in split[1:]])
    assert first == key[:16]


def test_a_share_survives_its_text_form_and_sloppy_typing() -> None:
    _key, split = _split()
    text = split[1].text()
    assert len(text.split("-")) == 18 and all(len(group) == 5 for group in text.split("-"))
    sloppy = text.lower().replace("-", " ").replace("0", "o").replace("1", "l")
    assert shares.parse(sloppy) == split[1]


def test_every_single_mistyped_character_is_caught_and_its_group_named() -> None:
    _key, split = _split()
    text = split[0].text().replace("-", "")
    for position in range(len(text)):
        for replacement in "0Z":
            if text[position] == replacement:
                continue
            wrong = text[:position] + replacement + text[position + 1 :]
            with pytest.raises(ShareError, match=f"group {position // 5 + 1} "):
                shares.parse(wrong, 2)


def test_two_swapped_groups_are_caught() -> None:
    _key, split = _split()
    groups = split[0].text().split("-")
    groups[3], groups[4] = groups[4], groups[3]
    with pytest.raises(ShareError, match=r"does not check|checksum"):
        shares.parse("-".join(groups))


def test_a_missing_group_is_named_as_such() -> None:
    _key, split = _split()
    with pytest.raises(ShareError, match="a group is missing or doubled"):
        shares.parse("-".join(split[0].text().split("-")[:-1]))


@pytest.mark.parametrize("hostile", ["; rm -rf /", "$(reboot)", "../../etc/passwd", "AAAA\nBBBB", ""])
def test_hostile_text_is_refused_as_a_share(hostile: str) -> None:
    with pytest.raises(ShareError):
        shares.parse(hostile)


def test_shares_of_another_kit_or_the_same_custodian_twice_are_refused() -> None:
    _key, split = _split()
    other = shares.split(os.urandom(32), 2, 3, shares.new_kit_id(b"\x09" * 5))
    with pytest.raises(ShareError, match="belongs to kit"):
        shares.check_together([split[0], other[1]], KIT)
    with pytest.raises(ShareError, match="given twice"):
        shares.check_together([split[0], split[0]], KIT)


def test_share_sheets_parse_with_their_comment_lines() -> None:
    _key, split = _split()
    lines = ["# EduGov control plane: recovery kit", split[0].text(), "", "# another sheet", split[2].text()]
    assert shares.parse_many(lines) == [split[0], split[2]]


@pytest.mark.parametrize(("threshold", "count"), [(1, 3), (4, 3), (2, 17)])
def test_a_threshold_that_protects_nothing_or_cannot_be_met_is_refused(threshold: int, count: int) -> None:
    with pytest.raises(BadInputError):
        shares.split(os.urandom(32), threshold, count, KIT)
