"""Slice arithmetic: spans to bit masks per minute, and how a service combines its checks."""

from __future__ import annotations

from controlplane.slo import timeslices as ts


def test_a_span_marks_every_slice_it_overlaps_and_no_other() -> None:
    assert ts.overlap_marks(0, 10, 10) == {0: 0b1}
    assert ts.overlap_marks(5, 15, 10) == {0: 0b11}
    assert ts.overlap_marks(50, 130, 10) == {0: 0b100000, 60: 0b111111, 120: 0b1}
    assert ts.overlap_marks(10, 10, 10) == {}
    assert ts.overlap_marks(0, 60, 1) == {0: (1 << 60) - 1}


def test_slices_belong_to_the_span_they_start_in() -> None:
    assert ts.starts_in(60, 65, 95, 10) == 0b1110  # slices at 70, 80, 90
    assert ts.slices_starting(0, 3600, 10) == 360
    assert ts.slices_starting(5, 25, 10) == 2  # 10 and 20
    assert ts.slices_starting(30, 30, 10) == 0


def test_all_needs_every_check_good_any_needs_one_and_a_check_that_failed_in_a_slice_failed_in_it() -> None:
    first, second = (0b0111, 0b1000), (0b0011, 0b0100)
    assert ts.combine([first, second], 2, "all") == (0b0011, 0b1100)
    assert ts.combine([first], 2, "all") == (0, 0b1000)  # the other check is unknown: nothing is good
    assert ts.combine([first, second], 2, "any") == (0b0111, 0)
    assert ts.combine([(0, 0b1), (0, 0b1)], 2, "any") == (0, 0b1)
    assert ts.combine([(0b1, 0b1)], 1, "all") == (0, 0b1)


def test_two_observations_of_a_minute_merge_without_disagreeing() -> None:
    assert ts.merge((0b0011, 0), (0b0001, 0b0100), "all") == (0b0011, 0b0100)
    assert ts.merge((0b0011, 0), (0, 0b0001), "all") == (0b0010, 0b0001)
    assert ts.merge((0b0011, 0), (0, 0b0001), "any") == (0b0011, 0)
