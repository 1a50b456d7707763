"""Behaviour that survivors of the fresh seed-6 mutation sample (session 7) changed unnoticed,
and the serving and scenario contracts a fresh sample probes (session 8, issue 15). Each
test says what a user reads (a ``twin perf`` frontier, a drill's score line, a verdict's
"by", a gauge, a refusal) and was checked against its mutant by planting it by hand
(``benchmarks/MUTATION.md``). Small factories and short drills, seconds each."""

from __future__ import annotations

import dataclasses
import json

import pytest
from engine_helpers import cmd, run, small_layout
from test_drills import POD
from test_mutants_scenario import _problems

from twin.cli import main
from twin.core.api import margin
from twin.core.engine import Factory
from twin.core.scenario import Runner, scenario_from_doc
from twin.core.scenario.parse import parse_condition
from twin.core.serving import Parallelism, Replica
from twin.core.yamlsrc import load_text


def _perf(capsys, *args: str) -> dict:
    assert main(["perf", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


# -- serving: which splits the search tries ---------------------------------------------------


def test_a_dense_model_on_an_nvl72_reaches_its_fastest_tokens_on_more_than_one_board(
    catalog, capsys
):
    """A batch-1 decode step of a dense model reads every weight once: on a 72-GPU NVLink
    domain, tensor parallelism beyond 8 GPUs divides that read further, so the frontier's
    most interactive point runs wider than a board — and no faster than the weights
    streamed at HBM speed allow (curves.py: the dense/MoE test on plain tensor
    parallelism, ``not model.is_moe`` → ``model.is_moe``, kept dense models to TP ≤ 8)."""
    gpu, model = catalog.gpu("gb200"), catalog.model("llama-3.3-70b")
    pts = _perf(capsys, "--gpu", "gb200", "--model", model.id, "--curve")["curve"]
    top = max(pts, key=lambda p: p["tok_s_per_user"])
    assert top["gpus"] - top["prefill_gpus"] > 8, top["parallelism"]
    # the bound: one step reads the weights (fp8: a byte each) spread over the split's HBM
    tp = top["gpus"] - top["prefill_gpus"]
    floor_s = model.params_b * 1e9 / (tp * gpu.hbm_tb_s * 1e12)
    assert top["tok_s_per_user"] < 1.0 / floor_s
    # a MoE model's expert groups wider than a board run with DP attention, as its recipes do
    moe = _perf(capsys, "--gpu", "gb200", "--model", "deepseek-r1", "--curve")["curve"]
    assert all("DP-attention" in p["parallelism"] for p in moe if p["gpus"] - p["prefill_gpus"] > 8)


def test_margin_of_a_verdict_without_a_number_is_empty_not_nan():
    """A failed expectation on a value that has no number (a class none of whose requests
    completed has no TTFT: NaN) shows no "by" in the report, rather than ``nan`` (play.py:
    the non-finite test joined with ``and`` instead of ``or``); with a number, "by" is the
    distance to the bound."""
    cond = parse_condition("ttft_p95_s <= 1s", "expect[1]")[0]
    assert margin(cond, float("nan")) is None
    assert margin(cond, float("inf")) is None
    assert margin(cond, 1.25) == pytest.approx(0.25)
    assert margin(parse_condition("rack pod-01 state == ok", "expect[2]")[0], "failed") is None


# -- scenario: a drill's commands and score ---------------------------------------------------

_DRILL = f"""
name: d
layout: {POD}
seed: 21
duration: 2m
objectives:
  - text: an impossible tail
    hold: tpot_p99_s <= 0.1ms
    weight: 30
critical_tasks:
  - id: first
    task: drain the first rack
    cue: at 10s
    do: "drain pod-01"
    within: 30s
    weight: 40
penalties:
  - do: "drain pod-02"
    points: 9
    why: the wrong rack
  - do: "straggle *"
    points: 2
    why: not a drill for that
"""


@pytest.fixture(scope="module")
def wrong_rack():
    sc = scenario_from_doc(load_text(_DRILL, "d.yaml"), "d.yaml")
    from twin.core import commands as C

    extra = (
        (20.0, C.parse_command("drain pod-02")),
        (30.0, C.parse_command("straggle pod-03-n1 2")),
    )
    return Runner(sc, extra=extra).run().drill


def test_a_command_on_another_component_does_not_do_a_task_and_a_star_matches_any_rest(
    wrong_rack,
):
    """``drain pod-01`` is a task; draining pod-02 is neither that task nor anything but
    its own penalty, while ``straggle *`` catches any straggle (drill.py: the last word of
    a pattern matched anything when the ``*`` test read ``or``)."""
    task = wrong_rack["tasks"][0]
    assert task["outcome"] == "missed" and task["done_at_s"] is None
    assert [p["do"] for p in wrong_rack["penalties"]] == ["drain pod-02", "straggle pod-03-n1 2"]
    assert wrong_rack["breakdown"]["penalties"] == 11


def test_the_score_breakdown_is_shown_to_one_decimal_as_the_score(wrong_rack):
    """The breakdown a trainee reads (``objectives −42.9 · tasks −57.1``) carries one
    decimal like the score it adds up to (score.py: rounded to 2 places, ``−42.86``).
    The impossible objective is outside its whole window: it loses all its 30/70 share."""
    b = wrong_rack["breakdown"]
    assert b["objectives"] == pytest.approx(round(100 * 30 / 70, 1))
    assert b["tasks"] == round(100 * 40 / 70, 1)
    assert all(v == round(v, 1) for v in b.values())
    assert wrong_rack["score"] == 0.0  # 42.9 + 57.1 + 11 > 100: never negative


def test_a_recorded_hint_with_a_command_reports_the_command_too():
    """A recording's hint event that also carries ``do`` is refused, and what is wrong with
    its command is reported in the same pass, every mistake at once (parse.py: the hint
    flag returned True dropped the command's own error)."""
    probs = _problems("events:\n  - {at: 1m, hint: true, do: drain pod-99}\n")
    msgs = [m for _, m in probs]
    assert any("a hint taken carries no 'do'" in m for m in msgs)
    assert any("no component 'pod-99'" in m for m in msgs), msgs


# -- engine: gauges a user reads -------------------------------------------------------------


def test_a_deployment_with_no_replica_up_shows_an_empty_batch(tmp_path):
    """With both racks of the disaggregated deployment failed, its mean batch reads 0, not
    1 (snapshot.py); while up, the mean batch times the replicas up is what runs."""
    f = Factory(small_layout(tmp_path))
    s = run(f, 30)
    d = s.deployments[1]
    assert d.replicas_up == 8 and d.batch_mean > 0
    assert d.batch_mean * d.replicas_up == pytest.approx(d.running, rel=1e-9)
    cmd(f, "fail row-b-01")
    cmd(f, "fail row-b-02")
    d = run(f, 2).deployments[1]
    assert d.replicas_up == 0 and d.running == 0.0 and d.batch_mean == 0.0


def _diurnal(d):
    d["tick"] = "10s"
    for w in d["workloads"]:
        w["diurnal"] = {0: 0.3, 12: 1.0, 20: 1.0}


@pytest.mark.parametrize(
    "hour, factor",
    [
        (23.0, 1.0 - 0.7 * 3 / 4),  # 20:00 (1.0) → midnight (0.3), wrapping to the next day
        (22.5, 1.0 - 0.7 * 2.5 / 4),
        (0.5, 0.3 + 0.7 * 0.5 / 12),  # the next day's curve
    ],
)
def test_demand_before_midnight_falls_toward_the_next_days_first_hour(tmp_path, hour, factor):
    """Demand follows the diurnal curve across midnight in a ten-second run: at 23:00 it is
    three quarters of the way from the 20:00 point to the 00:00 one (topology.py: the
    wrapped copy of the curve placed at +25 h, not +24 h, read 0.58 at 23:00)."""
    f = Factory(small_layout(tmp_path, edit=_diurnal), start_hour=hour)
    s = run(f, 10)
    rate = {c.id: c.rate_rps for c in s.classes}
    assert rate["chat"] / 60.0 == pytest.approx(factor, rel=2e-3)


# -- serving: each term of a step, from first principles --------------------------------------


def _step(r, batch, context=2000.0, prompt=0.0, clock=1.0) -> float:
    return float(r.step(batch, context, prompt, 2048.0, clock).t_s)


@pytest.mark.parametrize("tp", [2, 8])
def test_a_tensor_parallel_steps_all_reduces_cost_latency_plus_bytes_over_the_link(catalog, tp):
    """Each layer of a tensor-parallel dense model all-reduces its activations twice: a ring
    moves 2 (g − 1)/g × tokens × hidden × bytes per GPU over NVLink. Halving NVLink's
    bandwidth adds exactly that β·bytes term once more to every layer (and nothing on
    one GPU) — what a what-if on a slower scale-up fabric shows in ``twin perf``."""
    gpu, model = catalog.gpu("h100"), catalog.model("llama-3.3-70b")
    slow_link = dataclasses.replace(gpu, scale_up_gb_s=gpu.scale_up_gb_s / 2)
    fast, slow = (Replica(g, model, "fp8", Parallelism(tp), catalog) for g in (gpu, slow_link))
    eta_net = fast.eff.net
    for batch, prompt in ((1, 0.0), (64, 0.0), (8, 2048.0)):
        T = batch + prompt
        ring = 2.0 * (tp - 1) / tp * T * model.hidden * fast.act_bytes
        extra = model.layers * 2 * ring / (gpu.scale_up_gb_s * 1e9 * eta_net)
        assert _step(slow, batch, prompt=prompt) - _step(fast, batch, prompt=prompt) == (
            pytest.approx(extra, rel=1e-6)
        )
    one = Replica(gpu, model, "bf16", Parallelism(1), catalog)
    one_slow = Replica(slow_link, model, "bf16", Parallelism(1), catalog)
    assert _step(one_slow, 4) == _step(one, 4)  # one GPU: no collective at all


def test_a_batch_one_decode_step_streams_the_weights_and_kv_at_hbm_speed(catalog):
    """A batch-1 decode step is memory-bound: every weight of the GPU's shard and the
    request's KV cache are read once. Doubling HBM bandwidth takes exactly half of that
    read time off the step; bf16 weights (two bytes) take twice fp8's read."""
    gpu, model = catalog.gpu("h100"), catalog.model("llama-3.3-70b")
    fast_hbm = dataclasses.replace(gpu, hbm_tb_s=gpu.hbm_tb_s * 2)
    for prec in ("fp8", "bf16"):
        r = Replica(gpu, model, prec, Parallelism(8), catalog)
        r2 = Replica(fast_hbm, model, prec, Parallelism(8), catalog)
        read = r.dense_bytes / 8 + float(r.kv_seq_bytes(2000.0)) / r.kv_shard
        read_s = read / (r.mem_eff * gpu.hbm_tb_s * 1e12)
        assert _step(r, 1) - _step(r2, 1) == pytest.approx(read_s / 2, rel=1e-6)
        assert read_s < _step(r, 1) < 3 * read_s  # the read is most of the step
    w8 = Replica(gpu, model, "fp8", Parallelism(8), catalog).dense_bytes
    assert Replica(gpu, model, "bf16", Parallelism(8), catalog).dense_bytes == 2 * w8
    assert w8 == pytest.approx(model.params_b * 1e9, rel=0.02)  # a byte a weight


def test_a_long_prefill_is_compute_bound_and_follows_the_peak_flops(catalog):
    """A 16k-token prefill does 2 × parameters FLOPs per token: doubling the GPU's peak
    FLOPs (every precision) takes off at least half the linear layers' compute time, and
    the step takes at least those FLOPs at the peak."""
    gpu, model = catalog.gpu("h100"), catalog.model("llama-3.3-70b")
    twice = dataclasses.replace(gpu, peak_tflops={k: 2 * v for k, v in gpu.peak_tflops.items()})
    r = Replica(gpu, model, "fp8", Parallelism(8), catalog)
    r2 = Replica(twice, model, "fp8", Parallelism(8), catalog)
    T = 16384.0
    lin_s = 2.0 * model.active_params_b * 1e9 * T / 8 / (gpu.peak_tflops["fp8"] * 1e12)
    t, t2 = _step(r, 0, 0.0, T), _step(r2, 0, 0.0, T)
    assert t > lin_s  # no faster than the peak allows
    assert t - t2 > 0.5 * lin_s  # compute-bound: half the FLOPs' time goes
    # a decode step at batch 1 is not compute-bound: doubled FLOPs change it by < 5 %
    assert _step(r2, 1) > 0.95 * _step(r, 1)
