"""One duration grammar for the config and the engines: 30s, 5m, 1h30m, 2d, 4w."""

from __future__ import annotations

import re

import pytest

from controlplane.durations import DURATION_TEXT, format_duration, parse_duration


@pytest.mark.parametrize(("text", "seconds"), [("30s", 30), ("2m", 120), ("1h30m", 5400), ("90d", 7776000),
                                               ("4w", 2419200), ("500ms", 0.5), (7, 7.0)])  # fmt: skip
def test_durations_read_as_seconds(text, seconds) -> None:  # type: ignore[no-untyped-def]
    assert parse_duration(text) == seconds
    if isinstance(text, str):
        assert re.fullmatch(DURATION_TEXT, text)


@pytest.mark.parametrize("text", ["", "4 weeks", "1y", "-5m"])
def test_text_that_is_not_a_duration_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_the_monitoring_engine_reads_the_same_parser() -> None:
    from controlplane.monitoring import labels

    assert labels.parse_duration is parse_duration and labels.format_duration is format_duration
    assert format_duration(90) == "1m30s"
