"""Durations are written the way twin prints them: what a report or a debrief shows
("T+1m30s", "2h05m") can be typed back into a scenario or a command."""

import pytest

from twin.core.commands import parse_command
from twin.core.units import format_duration, parse_duration_s


@pytest.mark.parametrize("seconds", [0, 59, 90, 600, 3599, 3660, 7500, 86399, 86400, 108000])
def test_every_printed_duration_reads_back_as_the_same_time(seconds):
    printed = format_duration(seconds)
    # the printed form is rounded to its two units; it reads back to exactly that
    assert parse_duration_s(printed) == pytest.approx(
        seconds
        if seconds < 3600
        else seconds // 60 * 60
        if seconds < 86400
        else seconds // 3600 * 3600
    )


def test_a_command_takes_a_compound_duration():
    assert parse_command("surge 2 1m30s agentic").duration_s == 90


@pytest.mark.parametrize("text", ["1m30", "1m-30s", "1x30s", "m30s", "1m 30s 5"])
def test_malformed_compound_durations_are_refused(text):
    with pytest.raises(ValueError, match="duration"):
        parse_duration_s(text)
