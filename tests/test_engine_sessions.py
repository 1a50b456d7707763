"""Agentic sessions: a long tool pause loses the cached prefix more often
(``twin/core/engine/sessions.py``)."""

from __future__ import annotations

import pytest
from engine_helpers import small_layout

from twin.core.engine import Factory


def _agents(tmp_path, pause, rate="5/s", routing="kv-aware"):
    """The small factory with only its agentic class (6 steps, 2k of context a step)."""

    def edit(doc):
        doc["routing"] = routing
        doc["workloads"] = [w for w in doc["workloads"] if w["id"] == "agent"]
        doc["workloads"][0]["rate"] = rate
        doc["workloads"][0]["agentic"]["tool_pause"] = pause

    d = tmp_path / f"{pause}-{routing}"
    d.mkdir()
    return small_layout(d, edit=edit)


def _steady(layout, warm=240.0, seconds=240.0):
    f = Factory(layout)
    f.advance_to(warm)
    f.reset_run_totals()
    f.advance_to(warm + seconds)
    return f


def test_a_long_tool_pause_re_prefills_more_of_every_turn(tmp_path):
    short, long_ = (_steady(_agents(tmp_path, p)) for p in ("1s", "120s"))
    per_turn = [f.totals["prefill_tokens"] / f.run_counts[0, 0] for f in (short, long_)]
    # the cache keeps a prefix ~τ = free KV / KV written a second: a 1 s pause keeps nearly
    # every one, a 2-minute pause loses a third of them, so each turn prefills more
    assert per_turn[1] > 1.25 * per_turn[0]
    assert long_.run_summary()["ttft_p95_s"] > short.run_summary()["ttft_p95_s"]
    # the output is the same work: the sessions send the same turns a second
    turns = [f.run_counts[5, 0] / 240.0 for f in (short, long_)]
    assert turns[1] == pytest.approx(turns[0], rel=0.05)


def test_without_kv_aware_routing_the_pause_hardly_matters(tmp_path):
    short, long_ = (_steady(_agents(tmp_path, p, routing="round-robin")) for p in ("1s", "120s"))
    per_turn = [f.totals["prefill_tokens"] / f.run_counts[0, 0] for f in (short, long_)]
    assert per_turn[1] == pytest.approx(per_turn[0], rel=0.05)  # it rarely finds the prefix
