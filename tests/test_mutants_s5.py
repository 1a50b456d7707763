"""Behaviour that survivors of the seed-3 mutation sample (issue 15, session 5) changed
unnoticed: each test says what a user sees, and was checked against that mutant by hand
(``benchmarks/MUTATION.md``). Small factories, seconds each."""

from __future__ import annotations

import pytest

from twin.core.engine import Factory
from twin.core.engine.checkpoint import VERSION, CheckpointError


def test_a_checkpoint_of_an_older_format_is_refused_like_a_newer_one(small, catalog):
    a = Factory(small, catalog)
    a.advance_to(2)
    old = a.checkpoint().replace(f"twin-checkpoint {VERSION}".encode(), b"twin-checkpoint 0", 1)
    b = Factory(small, catalog)
    with pytest.raises(
        CheckpointError, match=f"format version 0; this twin reads version {VERSION}"
    ):
        b.restore(old)


def test_the_event_log_says_which_racks_a_pdu_failure_darkened_and_a_switch_failure_none(small):
    from engine_helpers import cmd, run

    f = Factory(small)
    run(f, 2)
    cmd(f, "fail row-a-pdu-1")  # single-fed: its two racks go dark
    cmd(f, "fail row-b-pdu-a1")  # A/B-fed: both racks ride through on the B side
    cmd(f, "fail spine-1")
    # the alarms, in the order the operator failed them
    pdu_1, pdu_a1, spine = [e.message for e in run(f, 1).events if "failed (operator)" in e.message]
    assert "2 racks lost power" in pdu_1 and "ride through" not in pdu_1
    assert "0 racks lost power, 2 ride through on their other PDU" in pdu_a1
    assert "racks" not in spine


def test_the_goodput_gauge_is_the_share_of_output_that_met_its_slo(small):
    from engine_helpers import run

    f = Factory(small)
    g = run(f, 90).gauges
    # a healthy factory meets nearly every SLO: goodput is most of the output, never more
    assert 0.8 * g["output_tok_s"] <= g["goodput_tok_s"] <= g["output_tok_s"]
    assert g["goodput_tok_s"] > 1000
