"""Small things an operator notices, each checked the way they would see it: the SLO gauge
before the first tick, a class with no completed request, the live drill score while a
critical task is overdue, and what least-loaded routing changes over round-robin."""

from __future__ import annotations

import json
import textwrap

import pytest
from engine_helpers import SMALL, cmd, run, small_layout, write_layout

from twin.cli import main
from twin.core.commands import parse_command
from twin.core.engine import Factory
from twin.core.scenario import Runner, ScenarioPlayer, load_scenario
from twin.core.units import format_metric


def _scenario(tmp_path, body: str):
    write_layout(tmp_path, SMALL, "small.yaml")
    path = tmp_path / "s.yaml"
    path.write_text("name: t\nlayout: small.yaml\nseed: 3\n" + textwrap.dedent(body))
    return path


# ---- the SLO gauge of a fresh factory ------------------------------------------------------
def test_a_fresh_factory_shows_no_slo_figure_until_its_first_tick(tmp_path):
    """Not 0 % (an outage to an operator): no value, '—', then the first tick's figure."""
    f = Factory(small_layout(tmp_path))
    before = f.snapshot().gauges["slo_attainment"]
    assert format_metric("slo_attainment", before) == "—"
    after = run(f, f.dt).gauges["slo_attainment"]
    assert 0.9 <= after <= 1.0


def test_a_condition_on_the_slo_does_not_fire_before_the_first_tick(tmp_path):
    """A 'when slo_attainment < 0.5' event on a healthy factory fired at T+0 (it read 0 %)."""
    path = _scenario(
        tmp_path,
        """\
        warmup: 0s
        duration: 20s
        events:
          - {when: slo_attainment < 0.5, once: true, do: drain row-a-01}
        """,
    )
    out = Runner(load_scenario(path)).run()
    assert out.applied == []
    assert out.factory.snapshot().gauges["slo_attainment"] > 0.9


# ---- a class none of whose requests complete -----------------------------------------------
def test_a_class_with_no_completed_request_reads_no_latency_and_its_report_stays_json(
    tmp_path, capsys
):
    """Both racks of the class's deployment fail: its TTFT p95 is no value ('—', null),
    never 'nan', in what `twin run` prints, its Markdown and its JSON (strict JSON)."""
    path = _scenario(
        tmp_path,
        """\
        warmup: 30s
        duration: 2m
        events:
          - {at: 0s, do: [fail row-b-01, fail row-b-02]}
        expect:
          - class long ttft_p95_s < 3s at 1m30s
        """,
    )
    out, md = tmp_path / "r.json", tmp_path / "r.md"
    rc = main(["run", str(path), "--report", str(out), "--markdown", str(md), "--quiet"])
    printed = capsys.readouterr().out
    assert rc == 1  # the class's expectation failed: there is no TTFT to hold it
    line = next(x for x in printed.splitlines() if "class long ttft_p95_s" in x)
    assert "FAILED" in line and "—" in line and "nan" not in line.lower()
    row = next(x for x in md.read_text().splitlines() if "class long ttft_p95_s" in x)
    assert "nan" not in row.lower() and "—" in row

    def refuse(token):
        raise ValueError(f"not JSON: {token}")

    doc = json.loads(out.read_text(), parse_constant=refuse)
    (v,) = doc["expectations"]
    assert v["status"] == "failed" and v["observed"] is None and v["by"] is None


# ---- the live drill score ---------------------------------------------------------------------
DRILL = """\
warmup: 30s
duration: 3m
critical_tasks:
  - id: relieve
    task: take the load off row-a-01
    cue: at 10s
    alarm: row-a-01 is hot
    do: drain row-a-01
    within: 20s
    late: 40s
    weight: 50
objectives:
  - text: the floor keeps serving
    hold: slo_attainment >= 0.5
    weight: 50
"""


def _live_score(tmp_path, t_s: float) -> tuple[float, str, float]:
    sc = load_scenario(_scenario(tmp_path, DRILL))
    p = ScenarioPlayer(sc, Factory(sc.layout, seed=sc.seed, tick_s=sc.tick_s))
    p.warm_up()
    p.start()
    p.advance_to(p.t0 + t_s)
    live = p.drill.live(p.t_rel())
    return live["score"], live["tasks"][0]["status"], live["tasks"][0]["lost"]


def test_the_live_score_counts_an_overdue_task_as_the_final_score_would(tmp_path):
    score, status, lost = _live_score(tmp_path, 20.0)  # cued at 10s, deadline 30s
    assert (status, lost, score) == ("open", 0.0, 100.0)
    score, status, lost = _live_score(tmp_path, 45.0)  # past the deadline, not done
    assert status == "overdue" and lost == 25.0  # at best it ends late: half its 50 points
    assert score == 75.0
    score, status, lost = _live_score(tmp_path, 80.0)  # past the late window: missed
    assert (status, lost, score) == ("missed", 50.0, 50.0)


def test_an_overdue_task_done_late_scores_what_the_live_score_showed(tmp_path):
    sc = load_scenario(_scenario(tmp_path, DRILL))
    out = Runner(sc, extra=((45.0, parse_command("drain row-a-01")),)).run()  # the operator's
    (task,) = out.drill["tasks"]
    assert task["outcome"] == "late" and task["lost"] == 25.0


# ---- least-loaded against round-robin -----------------------------------------------------------
def _after_a_straggler(tmp_path, policy: str):
    f = Factory(small_layout(tmp_path / policy, routing=policy), seed=3)
    before = run(f, 30.0).gauges
    cmd(f, "straggle row-a-01-n1 3")
    return before, run(f, 60.0).gauges


def test_least_loaded_and_round_robin_agree_on_identical_replicas_and_part_after_a_straggler(
    tmp_path,
):
    (tmp_path / "round-robin").mkdir()
    (tmp_path / "least-loaded").mkdir()
    rr0, rr = _after_a_straggler(tmp_path, "round-robin")
    ll0, ll = _after_a_straggler(tmp_path, "least-loaded")
    # a healthy deployment's replicas are alike: an even split is least-loaded's split
    assert ll0["ttft_p95_s"] == pytest.approx(rr0["ttft_p95_s"], rel=1e-6)
    assert ll0["output_tok_s"] == pytest.approx(rr0["output_tok_s"], rel=1e-3)
    # one node 3× slower: round-robin keeps feeding it; least-loaded sends it less
    assert ll["tpot_p99_s"] < 0.95 * rr["tpot_p99_s"]
    assert ll["slo_attainment"] > rr["slo_attainment"]
