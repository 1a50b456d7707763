"""Co-located serving with chunked prefill: prompt chunks ride on the decode steps.

A vLLM or TensorRT-LLM replica runs every step as one token budget shared by the running
requests and the waiting prompts (mixed batches): a step reads the weights once, so a
chunk costs the running requests only its extra compute and attention. SGLang's DeepSeek
recipes prefill in steps of their own."""

import dataclasses
import json
import math

import numpy as np
import pytest

from twin.cli import main
from twin.core import serving
from twin.core.serving import Parallelism, Replica, Workload


def _llama(catalog, gpu="b200", precision="fp8", tp=4, model="llama-3.3-70b"):
    return Replica(catalog.gpu(gpu), catalog.model(model), precision, Parallelism(tp), catalog)


def _separate(catalog):
    """The catalog with every stack prefilling in steps of its own."""
    rule = {"dense": False, "moe": False}
    return dataclasses.replace(
        catalog, constants={**catalog.constants, "mixed_prefill_batches": rule}
    )


def test_a_short_chunk_rides_almost_free_on_a_memory_bound_decode_step(catalog):
    """At a small batch the step is the weight read: 64 prompt tokens added to 16 running
    requests cost a small fraction of a step of their own, which reads every weight again."""
    r = _llama(catalog, tp=1)
    dec = float(r.step(16, 1536).t_s)
    mixed = float(r.step(16, 1536, 64, 512).t_s)
    alone = float(r.step(0.0, 0.0, 64, 512).t_s)
    assert mixed - dec < 0.2 * alone
    # a long chunk is compute-bound: it costs about what it costs alone, less one weight read
    big = float(r.step(16, 1536, 8000, 4000).t_s) - dec
    assert 0.7 * float(r.step(0.0, 0.0, 8000, 4000).t_s) < big


def test_mixed_batches_cost_the_running_requests_less_than_separate_prefill_steps(catalog):
    r = _llama(catalog)
    w = Workload(1024, 1024)
    batch = np.array([8.0, 32.0, 128.0, 512.0])
    mixed = serving.schedule(r, batch, w, catalog)
    apart = serving.schedule(r, batch, w, _separate(catalog))
    assert np.all(mixed.decode_s == apart.decode_s)  # the decode step itself is the same
    assert np.all(mixed.tpot_s < apart.tpot_s)
    # the saving per prompt is at most the step it no longer takes
    prompts = batch * r.tokens_per_step / w.osl
    saved = (apart.tpot_s - mixed.tpot_s) * r.tokens_per_step
    alone = float(r.prefill_time_s(w.isl))
    assert np.all(saved <= prompts * alone * (1 + 1e-9))
    assert np.all(mixed.mixed_share > 0) and np.all(apart.mixed_share == 0)


def test_each_arriving_prompt_rides_whole_on_one_decode_step(catalog):
    """While fewer than one prompt arrives per step and a prompt fits the budget left, the
    time per output token is the decode step plus, per prompt, what its chunk adds to it."""
    r = _llama(catalog, gpu="h100", model="llama-3.1-8b", tp=1)
    w = Workload(2048, 4000)
    batch = np.array([1.0, 16.0, 64.0, 256.0])
    rd = serving.schedule(r, batch, w, catalog)
    prompts = batch * r.tokens_per_step / w.osl
    assert prompts.max() < 1
    added = r.step(batch, w.mean_context, w.isl, w.isl / 2).t_s - rd.decode_s
    assert rd.tpot_s * r.tokens_per_step - rd.decode_s == pytest.approx(prompts * added, rel=1e-9)
    assert rd.mixed_share == pytest.approx(prompts, rel=1e-12)


def test_a_long_prompt_takes_one_step_per_chunk_of_the_budget(catalog):
    """TTFT = half a step's wait + the prompt ÷ the budget left per step, each step a mixed
    one at the running batch (vLLM's max_num_batched_tokens, TensorRT-LLM's max_num_tokens)."""
    r = _llama(catalog, tp=8)
    budget = serving.prefill_chunk_tokens(catalog)
    B = 192.0
    room = budget - B
    w = Workload(int(4 * room), 1024)  # four chunks of the room the batch leaves
    rd = serving.schedule(r, np.array([B]), w, catalog)
    step = float(r.step(B, w.mean_context, room, w.isl / 2).t_s)
    assert float(rd.ttft_s[0]) == pytest.approx(4 * step + float(rd.decode_s[0]) / 2, rel=1e-9)
    # a larger batch leaves less room: more chunks, each a slower step
    big = serving.schedule(r, np.array([2 * B]), w, catalog)
    steps = math.ceil(w.isl / (budget - 2 * B))
    one = float(r.step(2 * B, w.mean_context, budget - 2 * B, w.isl / 2).t_s)
    assert steps > 4
    assert float(big.ttft_s[0]) == pytest.approx(steps * one + float(big.decode_s[0]) / 2)


def test_prompts_beyond_the_budget_run_in_steps_of_their_own(catalog):
    """A batch whose prompts arrive faster than the budget left can carry them pays the
    rest in prefill-only steps, each re-reading the weights; a batch filling the whole
    budget with decode tokens prefills only so."""
    r = _llama(catalog, gpu="h200", tp=8, model="llama-3.1-8b")
    budget = serving.prefill_chunk_tokens(catalog)
    w = Workload(8192, 128)  # 64 prompt tokens per running request per output token
    B = np.array([budget * 0.5, budget * 1.0])
    rd = serving.schedule(r, B, w, catalog)
    need = B * r.tokens_per_step / w.osl * w.isl
    room = np.maximum(budget - B, 0.0)
    rest = need - np.minimum(need, room)
    assert np.all(rest > 0)
    alone = r.step(0.0, 0.0, float(budget), w.isl / 2).t_s
    mix = r.step(B, w.mean_context, room, w.isl / 2).t_s
    share = np.minimum(need, room) / np.where(room > 0, room, 1.0)
    expect = rd.decode_s + share * (mix - rd.decode_s) + rest / budget * alone
    assert rd.tpot_s * r.tokens_per_step == pytest.approx(expect, rel=1e-9)
    assert rd.mixed_share[1] == 0  # no room: every prompt takes steps of its own


def test_deepseek_recipes_prefill_apart(catalog):
    """SGLang (the DeepSeek-R1 recipes on Hopper, AMD, NVL72 fp8) does not mix prefill into
    decode batches (enable_mixed_chunk off): a MoE replica's schedule is unchanged by it."""
    r = Replica(
        catalog.gpu("h100"), catalog.model("deepseek-r1"), "fp8", Parallelism(16, mtp=1), catalog
    )
    w = Workload(1024, 1024)
    batch = np.array([4.0, 64.0, 512.0])
    assert not serving.mixes_prefill(r, catalog)
    a, b = serving.schedule(r, batch, w, catalog), serving.schedule(r, batch, w, _separate(catalog))
    assert np.array_equal(a.tpot_s, b.tpot_s) and np.array_equal(a.ttft_s, b.ttft_s)
    assert np.all(a.mixed_share == 0)


def _dp8_deepseek(catalog, gpu="b200"):
    return Replica(
        catalog.gpu(gpu), catalog.model("deepseek-r1"), "fp4", Parallelism(8, dp_attention=True)
    )


def test_inflight_batching_carries_a_moe_replicas_prompts_on_its_decode_steps(catalog):
    """TensorRT-LLM's in-flight batching (MLPerf's DeepSeek-R1 configs: use_inflight_batching,
    context requests whole) runs the waiting prompts in the decode step that reads the
    expert weights anyway, where SGLang's schedule gives them steps of their own: at a few
    hundred requests per rank the running requests wait less per token, the prompt rides on
    a decode step."""
    r = _dp8_deepseek(catalog)
    w = Workload(1024, 3754, 1.0)
    ifb = dataclasses.replace(w, inflight_batching=True)
    B = np.array([8 * 155.0, 8 * 348.0])
    apart, mixed = serving.schedule(r, B, w, catalog), serving.schedule(r, B, ifb, catalog)
    assert np.all(apart.mixed_share == 0) and np.all(mixed.mixed_share > 0)
    assert np.all(mixed.tpot_s < 0.95 * apart.tpot_s)
    assert np.array_equal(mixed.decode_s, apart.decode_s)  # the decode step itself is the same
    off = serving.schedule(r, B, dataclasses.replace(w, inflight_batching=False), catalog)
    assert np.array_equal(off.tpot_s, apart.tpot_s)


def test_each_attention_dp_rank_has_its_own_token_budget(catalog):
    """Under in-flight batching each attention-DP rank schedules its own requests within its
    own max_num_tokens: eight ranks of 1,168 requests (9,344 decode tokens, more than one
    8,192-token budget) still carry their prompts on the decode steps."""
    r = _dp8_deepseek(catalog, "gb300")
    w = Workload(1024, 3754, 1.0, inflight_batching=True)
    budget = serving.prefill_chunk_tokens(catalog)
    B = np.array([8 * 1168.0])
    assert B[0] > budget
    rd = serving.schedule(r, B, w, catalog)
    assert rd.mixed_share[0] > 0
    assert serving.step_token_budget(r, w, catalog) == 8 * budget
    # a tensor-parallel replica is one scheduler with one budget
    tp = Replica(catalog.gpu("gb300"), catalog.model("deepseek-r1"), "fp4", Parallelism(8))
    assert serving.step_token_budget(tp, w, catalog) == budget


def test_inflight_batching_is_a_perf_option(capsys):
    base = ["perf", "--gpu", "b200", "--model", "deepseek-r1", "--precision", "fp4"]
    base += ["--isl", "1024", "--osl", "3754", "--osl-spread", "1", "--no-mtp"]
    base += ["--parallelism", "DP8", "--tps-user", "14", "--ttft-max", "2"]
    assert main([*base, "--json"]) == 0
    apart = json.loads(capsys.readouterr().out)
    assert main([*base, "--inflight-batching", "--json"]) == 0
    mixed = json.loads(capsys.readouterr().out)
    assert mixed["tok_s_per_gpu"] > 1.1 * apart["tok_s_per_gpu"]
    assert mixed["ttft_s"] <= 2.0
    assert main([*base, "--inflight-batching"]) == 0
    assert "in-flight batching" in " ".join(capsys.readouterr().out.split())


def test_colocated_serving_is_forced_and_named(capsys):
    base = ["perf", "--gpu", "b200", "--model", "llama-3.3-70b", "--tps-user", "100"]
    assert main([*base, "--colocated", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["prefill_gpus"] == 0 and "+ D" not in out["parallelism"]
    assert main([*base, "--disagg", "--json"]) == 0
    dis = json.loads(capsys.readouterr().out)
    assert dis["prefill_gpus"] > 0
    assert main([*base, "--colocated"]) == 0
    text = capsys.readouterr().out
    assert f"{out['parallelism']}, co-located" in text


def test_colocated_and_disagg_together_is_a_one_line_error(capsys):
    rc = main(["perf", "--gpu", "b200", "--model", "llama-3.3-70b", "--colocated", "--disagg"])
    err = capsys.readouterr().err
    assert rc == 2 and "--colocated" in err and "--disagg" in err
    assert len(err.strip().splitlines()) == 1


def test_the_comparison_honours_colocated(capsys):
    args = ["perf", "--gpu", "b200", "--vs", "h200", "--model", "llama-3.3-70b", "--json"]
    assert main([*args, "--colocated", "--tps-user", "50"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert rows and all(r["a"]["prefill_gpus"] == 0 and r["b"]["prefill_gpus"] == 0 for r in rows)
