"""Behaviour that survivors of the fresh seed-6 mutation sample (session 7) changed unnoticed,
and the serving and scenario contracts a fresh sample probes (session 8, issue 15). Each
test says what a user reads (a ``twin perf`` frontier, a drill's score line, a verdict's
"by", a gauge, a refusal) and was checked against its mutant by planting it by hand
(``benchmarks/MUTATION.md``). Small factories and short drills, seconds each."""

from __future__ import annotations

import dataclasses
import importlib
import json

import numpy as np
import pytest
from engine_helpers import cmd, run, small_layout
from test_drills import POD
from test_mutants_scenario import _problems

from twin.cli import main
from twin.core.api import margin
from twin.core.engine import Factory
from twin.core.errors import TwinError
from twin.core.scenario import Runner, scenario_from_doc
from twin.core.scenario.parse import parse_condition
from twin.core.serving import Parallelism, Replica, ServingError, Workload
from twin.core.serving.replica import mtp_tokens_per_step
from twin.core.yamlsrc import load_text

#: the serving curves module (``twin.core.serving.curves`` is also the name of its function)
SC = importlib.import_module("twin.core.serving.curves")


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


def test_the_swap_preview_of_a_command_being_typed_is_empty_until_it_names_real_things(small):
    """The TUI previews a swap's warning while the operator types: an unknown GPU or a
    target that is no set of racks previews nothing (the command, once entered, says why)
    rather than raising in the screen (actions.py: the refusal no longer caught)."""
    f = Factory(small)
    run(f, 1)
    assert f.swap_warning("row-a", "zz9000") == ""
    assert f.swap_warning("row-zz", "b200") == ""
    assert f.swap_warning("feed-a", "b200") == ""
    with pytest.raises(TwinError, match="swap takes a rack, row or group"):
        cmd(f, "swap feed-a b200")  # what entering it says
    assert f.swap_warning("row-a", "b200").startswith("warning: row-a-pdu-")


def test_a_surge_says_it_is_over_from_what_it_surged(small):
    """A site-wide surge ends with "surge over" from "demand", a class's from that class
    (factory.py: the source of the event, ``workload or "demand"`` read with ``and``)."""
    f = Factory(small)
    run(f, 1)
    cmd(f, "surge 2 5s")
    cmd(f, "surge 3 10s chat")
    events = [(e.source, e.message) for e in run(f, 12).events]
    assert ("demand", "surge over") in events and ("chat", "surge over") in events


def test_the_next_days_demand_follows_the_curve_from_its_own_first_hours(tmp_path):
    """Across midnight the clock restarts at 0 h: at 02:00 of the next day demand is the
    curve's 02:00 value, not an hour late (topology.py: the hour of day taken modulo 25)."""
    f = Factory(small_layout(tmp_path, edit=_diurnal), start_hour=23.5)
    f.advance_to(2.5 * 3600)  # 02:00 the next day
    s = run(f, 0)
    rate = {c.id: c.rate_rps for c in s.classes}
    assert rate["chat"] / 60.0 == pytest.approx(0.3 + 0.7 * 2 / 12, rel=2e-3)


def test_a_kv_handoff_slows_with_the_load_its_own_traffic_puts_on_the_fabric(tmp_path):
    """A disaggregated request's KV cache crosses the leaf-spine fabric at the links'
    bandwidth less what the busiest link already carries: on the small factory's 20 Gbps
    uplinks the transfer is T₀ / (1 − load); on 40 Gbps, T₀/2 / (1 − load/2). The TTFT each
    adds over a fabric too wide to matter is in that ratio, 2 (1 − load₄₀) / (1 − load₂₀),
    the loads read off the links gauge — not 2 (flow_kernel.py: the busiest link's load
    never measured)."""
    out = {}
    for i, up in enumerate(("20Gbps", "40Gbps", "4000Gbps")):
        d = tmp_path / str(i)
        d.mkdir()
        s = run(Factory(small_layout(d, lambda doc, up=up: doc["fabric"].update(uplink=up))), 60)
        ttft = {c.id: c.ttft_p95_s for c in s.classes}["long"]
        out[up] = (max(link.load for link in s.links), ttft)
    (b20, t20), (b40, t40), (_, wide) = out.values()
    assert 0.1 < b20 < 0.5 and b40 == pytest.approx(b20 / 2, rel=0.05)
    assert (t20 - wide) / (t40 - wide) == pytest.approx(2 * (1 - b40) / (1 - b20), rel=0.06)


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
        # every weight but the input embedding table, which is gathered a row per token
        read = r.dense_stream_bytes / 8 + float(r.kv_seq_bytes(2000.0)) / r.kv_shard
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


# -- serving: the frontier search ---------------------------------------------------------------


@pytest.fixture(scope="module")
def h100_curves(catalog):
    gpu, model = catalog.gpu("h100"), catalog.model("llama-3.3-70b")
    w = Workload(isl=1024, osl=1024)
    return SC.curves(gpu, model, "fp8", w, catalog=catalog, disagg=None)


def _points(cs, ttft_max=None):
    return [
        (float(c.tok_s_per_user[i]), float(c.tok_s_per_gpu[i]), float(c.ttft_tail_s[i]))
        for c in cs
        for i in range(len(c.batch))
        if ttft_max is None or c.ttft_tail_s[i] <= ttft_max
    ]


@pytest.mark.parametrize("ttft_max", [None, 0.06])
def test_the_frontier_is_every_point_no_other_beats_on_both_speeds(h100_curves, ttft_max):
    """``twin perf --curve``: down the frontier each user gets slower and each GPU makes
    more; no point of any split (co-located or disaggregated) lies beyond it, and with a
    TTFT bound every point on it keeps its 99th-percentile prompt within the bound."""
    fr = SC.frontier(h100_curves, ttft_max)
    ups = [p.tok_s_per_user for p in fr]
    gps = [p.tok_s_per_gpu for p in fr]
    assert len(fr) > 5
    assert all(a >= b for a, b in zip(ups, ups[1:], strict=False))
    assert all(a < b for a, b in zip(gps, gps[1:], strict=False))
    for u, g, _ in _points(h100_curves, ttft_max):
        assert any(p.tok_s_per_user >= u and p.tok_s_per_gpu >= g for p in fr), (u, g)
    if ttft_max is not None:
        assert all(p.ttft_p99_s <= ttft_max for p in fr)
        assert max(gps) < max(g for _, g, _ in _points(h100_curves))  # the bound costs
    best = SC.max_throughput(h100_curves, ttft_max)
    assert best.tok_s_per_gpu == max(g for _, g, _ in _points(h100_curves, ttft_max)) == gps[-1]


@pytest.mark.parametrize("target", [15.0, 40.0, 75.0, 100.0])
def test_at_an_interactivity_the_point_is_as_fast_as_asked_and_beats_every_grid_point(
    h100_curves, target
):
    """``twin perf --tps-user X``: each user gets at least X tok/s, and no batch on the
    curves' grid that gives X makes more per GPU (the answer interpolates between them)."""
    p = SC.at_interactivity(h100_curves, target)
    assert p.tok_s_per_user >= target * (1 - 1e-9)
    grid = [g for u, g, _ in _points(h100_curves) if u >= target]
    assert p.tok_s_per_gpu >= max(grid) * (1 - 1e-9)
    if target in (40.0, 75.0):  # between two grid speeds of the best split: a larger batch
        assert p.tok_s_per_gpu > max(grid) * (1 + 1e-6)
    # and a real operating point: never beyond the most any batch of any split makes
    assert p.tok_s_per_gpu <= max(g for _, g, _ in _points(h100_curves)) * (1 + 1e-9)


def test_an_interactivity_out_of_reach_is_refused_with_the_reachable_range(h100_curves):
    fastest = max(u for u, _, _ in _points(h100_curves))
    for bad in (fastest * 1.01, 0.0, -5.0):
        with pytest.raises(ServingError, match="out of reach"):
            SC.at_interactivity(h100_curves, bad)
    assert SC.at_interactivity(h100_curves, fastest).tok_s_per_user >= fastest * (1 - 1e-9)
    with pytest.raises(ServingError, match="time to first token within"):
        SC.frontier(h100_curves, 1e-4)
    with pytest.raises(ServingError, match="time to first token within"):
        SC.max_throughput(h100_curves, 1e-4)


def test_prompts_riding_on_decode_steps_cost_running_requests_less_than_steps_of_their_own(
    catalog,
):
    """Co-located chunked prefill (a dense model's stack mixes prompts into decode steps):
    a chunk rides on the step's weight read, so the time per output token is below what
    prefill-only steps cost at every batch; without room in the step budget (a batch as
    large as the chunk) the two schedules are the same."""
    r = Replica(catalog.gpu("h100"), catalog.model("llama-3.3-70b"), "fp8", Parallelism(8), catalog)
    w = Workload(isl=1024, osl=1024)
    B = np.array([1.0, 8.0, 64.0, 256.0])
    mixed, alone = (
        SC.schedule(r, B, w, catalog, mixed=True),
        SC.schedule(r, B, w, catalog, mixed=False),
    )
    assert (mixed.tpot_s < alone.tpot_s).all()
    assert (mixed.mixed_share > 0).all() and alone.mixed_share.max() == 0.0
    half = np.array([SC.prefill_chunk_tokens(catalog) / 2])  # room for half a chunk still
    a, b = (
        SC.schedule(r, half, w, catalog, mixed=True),
        SC.schedule(r, half, w, catalog, mixed=False),
    )
    assert a.tpot_s[0] < b.tpot_s[0]
    full = np.array([float(SC.prefill_chunk_tokens(catalog))])
    a, b = (
        SC.schedule(r, full, w, catalog, mixed=True),
        SC.schedule(r, full, w, catalog, mixed=False),
    )
    assert a.tpot_s[0] == pytest.approx(b.tpot_s[0], rel=1e-12)


def test_the_prefill_pool_is_built_from_the_split_that_prefills_most_per_gpu(catalog):
    """Disaggregated, the prompts go to the prefill split (8 GPUs or fewer) with the most
    prompt tokens per second per GPU."""
    gpu, model = catalog.gpu("h100"), catalog.model("llama-3.3-70b")
    w = Workload(isl=4096, osl=512)
    best = SC.best_prefill_replica(gpu, model, "fp8", w, catalog)
    rate = SC.prefill_rate_per_gpu(best, w, catalog)
    for tp in (1, 2, 4, 8):
        r = Replica(gpu, model, "fp8", Parallelism(tp), catalog)
        if r.fits:
            assert SC.prefill_rate_per_gpu(r, w, catalog) <= rate
    assert best.n <= 8


@pytest.mark.parametrize("tp", [2, 4, 8])
def test_the_batch_is_as_many_requests_as_the_hbm_left_after_the_weights_holds(catalog, tp):
    """``B_max``: each GPU keeps its HBM (less the reserve) minus its shard of the weights
    for the KV cache; a dense model's request holds 2 × KV heads × head size × bytes per
    token and layer over its mean context (prompt + half its output). B_max requests fit
    and one more does not; 8 GB more HBM per GPU holds 8 GB × GPUs ÷ that much more."""
    gpu, model = catalog.gpu("h100"), catalog.model("llama-3.3-70b")
    w = Workload(isl=2048, osl=1024)
    r = Replica(gpu, model, "fp8", Parallelism(tp), catalog)
    k = catalog.constants
    free = gpu.hbm_gb * 1e9 * (1 - k["hbm_reserve_fraction"]) - model.params_b * 1e9 / tp
    assert r.kv_bytes_free_per_gpu == pytest.approx(free, rel=0.02)
    per_seq = 2 * model.kv_heads * model.head_dim * k["kv_bytes"]["fp8"] * model.layers
    per_seq *= w.isl + w.osl / 2
    assert float(r.kv_seq_bytes(w.mean_context)) == pytest.approx(per_seq)
    total = r.kv_bytes_free_per_gpu * tp * min(tp, model.kv_heads) / tp
    b = r.max_batch(w)
    assert b * per_seq <= total * (1 + 1e-12) < (b + 1) * per_seq
    bigger = Replica(
        dataclasses.replace(gpu, hbm_gb=gpu.hbm_gb + 8), model, "fp8", Parallelism(tp), catalog
    )
    added = bigger.kv_bytes_free_per_gpu - r.kv_bytes_free_per_gpu
    assert added == pytest.approx(8e9 * (1 - k["hbm_reserve_fraction"]), rel=1e-9)
    # a spread of output lengths keeps longer requests in the batch: fewer fit
    spread = dataclasses.replace(w, osl_cv=0.5)
    assert spread.mean_context == w.isl + w.osl * 1.25 / 2 and r.max_batch(spread) < b


@pytest.mark.parametrize("g", [8, 16])
def test_an_expert_parallel_steps_dispatch_and_combine_carry_each_tokens_experts_over_the_link(
    catalog, g
):
    """DP attention with expert parallelism over g GPUs: each of a GPU's T/g tokens is sent
    to its k experts, (g − 1)/g of them on other GPUs, as dispatch (fp8) and combine
    (bf16) bytes of the hidden size, every layer. Halving the link's bandwidth adds that
    transfer once more to a decode step (inside an NVL72 domain: NVLink only), scaled by
    the busiest rank's share of the routed tokens."""
    gpu, model = catalog.gpu("gb200"), catalog.model("deepseek-r1")
    slow_link = dataclasses.replace(gpu, scale_up_gb_s=gpu.scale_up_gb_s / 2)
    par = Parallelism(g, dp_attention=True)
    fast, slow = (Replica(x, model, "fp8", par, catalog) for x in (gpu, slow_link))
    for batch in (64.0, 512.0):
        sent = (batch / g) * model.experts_per_token * model.hidden * (g - 1) / g
        moved = sent * (fast.dispatch_bytes + fast.act_bytes) / (gpu.scale_up_gb_s * 1e9)
        # the hottest rank receives (1 + imbalance)× the mean, and the layer waits for it
        extra = model.layers * moved * (1.0 + fast.ep_imbalance) / fast.eff.net
        assert _step(slow, batch) - _step(fast, batch) == pytest.approx(extra, rel=1e-6)


@pytest.mark.parametrize(("drafts", "acceptance"), [(1, 0.8), (2, 0.7), (3, 0.9)])
def test_speculative_drafts_add_accepted_tokens_and_one_layer_of_work_each(
    catalog, drafts, acceptance
):
    """MTP: draft i survives only if every earlier one did, each accepted with a ×decay
    falling chance — tokens a step = 1 + a + a²d + …; each draft adds a query token per
    request and runs the MTP head, about one more layer of the stage (decode, no chunk)."""
    decay = float(catalog.constants["mtp_acceptance_decay"])
    want, keep = 1.0, 1.0
    for i in range(drafts):
        keep *= acceptance * decay**i
        want += keep
    assert mtp_tokens_per_step(drafts, acceptance, decay) == pytest.approx(want)
    assert 1.0 < want < 1.0 + drafts
    gpu, model = catalog.gpu("b200"), catalog.model("deepseek-r1")
    base = Replica(gpu, model, "fp8", Parallelism(8, dp_attention=True), catalog)
    spec = Replica(gpu, model, "fp8", Parallelism(8, dp_attention=True, mtp=drafts), catalog)
    w = Workload(isl=1024, osl=1024, mtp_acceptance=acceptance)
    assert SC.tokens_per_step(spec, w, catalog) == pytest.approx(want)
    assert SC.tokens_per_step(base, w, catalog) == 1.0
    # per request, a step of (1 + drafts) query tokens is slower, but less than the tokens it gains
    t1, t2 = _step(base, 16), _step(spec, 16)
    assert t1 < t2 < t1 * (1 + drafts)


def _with(catalog, **constants):
    return dataclasses.replace(catalog, constants={**catalog.constants, **constants})


def test_each_collectives_latency_is_paid_per_layer_and_per_peer(catalog):
    """The α of a step's collectives, from the catalog's latencies: a tensor-parallel dense
    layer all-reduces twice (2 × the NVLink latency per layer); an expert-parallel layer
    dispatches and combines (2 × (the latency + one per-peer cost for each of the g − 1
    other GPUs)); a pipeline hands each micro-batch on pp − 1 times over the scale-out
    fabric. One microsecond more of each adds exactly that many to a step."""
    k = catalog.constants
    h100, b200 = catalog.gpu("h100"), catalog.gpu("b200")
    llama, r1 = catalog.model("llama-3.3-70b"), catalog.model("deepseek-r1")
    cases = [
        # (gpu, model, split, constant raised by 1 µs, extra µs a step)
        (h100, llama, Parallelism(8), "scale_up_latency_us", 2 * llama.layers),
        (h100, llama, Parallelism(8, pp=2), "scale_out_latency_us", 1),
        (h100, llama, Parallelism(8, pp=4), "scale_out_latency_us", 3),
        (h100, llama, Parallelism(8), "scale_out_latency_us", 0),  # one board: no hop
        (b200, r1, Parallelism(8, dp_attention=True), "a2a_peer_us", 2 * 7 * r1.layers),
        (b200, r1, Parallelism(8, dp_attention=True), "scale_up_latency_us", 2 * r1.layers),
    ]
    for gpu, model, par, key, extra_us in cases:
        base = Replica(gpu, model, "fp8", par, catalog)
        more = Replica(gpu, model, "fp8", par, _with(catalog, **{key: k[key] + 1.0}))
        for batch in (1.0, 32.0):
            assert _step(more, batch) - _step(base, batch) == pytest.approx(
                extra_us * 1e-6, rel=1e-6, abs=1e-12
            ), (gpu.id, par, key)


@pytest.mark.parametrize(
    ("gpu", "model", "tokens", "context"),
    [("h100", "llama-3.3-70b", 16384.0, 8192.0), ("b200", "gpt-oss-120b", 8192.0, 65536.0)],
)
def test_at_half_clock_a_compute_bound_prefill_takes_twice_as_long(
    catalog, gpu, model, tokens, context
):
    """A power cap or a thermal throttle halves the SM clock: on one GPU, a long prefill is
    compute-bound throughout — its GEMMs, its attention's matmuls, its softmax (the bound
    of gpt-oss's 64-wide heads at a long context) and its kernels' gaps all run at the
    clock — so all but the fixed per-step host time doubles."""
    r = Replica(catalog.gpu(gpu), catalog.model(model), "fp8", Parallelism(1), catalog)
    host = r.eff.step_overhead_ms * 1e-3
    full = float(r.step(0.0, 0.0, tokens, context, 1.0).t_s)
    half = float(r.step(0.0, 0.0, tokens, context, 0.5).t_s)
    assert half - host == pytest.approx(2.0 * (full - host), rel=1e-9)
