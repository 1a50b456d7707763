"""The serving model where a planted bug (a surviving mutant, issue 15) went unnoticed.

Each test states a figure ``twin perf`` prints or a choice it makes, and was checked by
planting the mutant by hand; they are in the serving subset of ``benchmarks/mutation.py``.
"""

from __future__ import annotations

import pytest

from twin.core import serving
from twin.core.serving import Parallelism, Replica, Workload


@pytest.mark.parametrize(("gpu_id", "same_domain"), [("gb200", True), ("h200", False)])
def test_a_disaggregated_requests_first_token_and_power_add_up_from_their_parts(
    catalog, gpu_id, same_domain
):
    """TTFT of a disaggregated request = its prompt's prefill, waited for in a pool kept
    ``disagg_prefill_utilisation`` busy (M/D/1: × 1 + ρ / 2(1 − ρ)), + its KV cache's move
    over NVLink (one NVL72 domain) or the scale-out fabric, + half a decode step. Power
    per GPU: the decode replica's, and the prefill pool's busy ρ of the time, idle else."""
    k = catalog.constants
    gpu, model = catalog.gpu(gpu_id), catalog.model("llama-3.3-70b")
    w = Workload(2048, 512)  # one prefill chunk
    assert w.isl <= serving.prefill_chunk_tokens(catalog)
    dec = Replica(gpu, model, "fp8", Parallelism(4), catalog)
    pre = Replica(gpu, model, "fp8", Parallelism(2), catalog)
    c = serving.disagg_curve(dec, pre, w, catalog)
    rho = float(k["disagg_prefill_utilisation"])
    wait = 1 + rho / (2 * (1 - rho))
    link, lat = (
        (gpu.scale_up_gb_s, k["scale_up_latency_us"])
        if same_domain
        else (gpu.scale_out_gb_s, k["scale_out_latency_us"])
    )
    move = float(dec.kv_seq_bytes(w.isl)) / (link * 1e9) + lat * 1e-6
    step = dec.step(c.batch, w.mean_context)
    assert c.ttft_s == pytest.approx(
        float(pre.prefill_time_s(w.isl)) * wait + move + step.t_s / 2, rel=1e-9
    )
    assert move < 0.01  # milliseconds for a 2k prompt's KV, even over the fabric
    pf = pre.step(0.0, 0.0, float(serving.prefill_chunk_tokens(catalog)), w.isl / 2)
    p_pf = rho * float(pre.power_w(pf.compute_busy, pf.memory_busy)) + (1 - rho) * gpu.idle_w
    p_dec = dec.power_w(step.compute_busy, step.memory_busy)
    pf_gpus = c.gpus - dec.n
    assert (pf_gpus > 0).all()
    assert c.power_w == pytest.approx((dec.n * p_dec + pf_gpus * p_pf) / c.gpus, rel=1e-9)


def test_a_split_with_one_draft_token_reads_plus_mtp_and_with_three_plus_mtp3(catalog):
    """The labels ``twin perf`` prints for a split (and the decode side of a disaggregated one)."""
    assert Parallelism(8, mtp=1).label(moe=False) == "TP8+MTP"
    assert Parallelism(8, mtp=3).label(moe=False) == "TP8+MTP3"
    assert Parallelism(8).label(moe=False) == "TP8"
    assert Parallelism(72, dp_attention=True, mtp=1).short(moe=True) == "DP-attention EP72+MTP"
    assert Parallelism(72, dp_attention=True, mtp=3).short(moe=True) == "DP-attention EP72+MTP3"


def test_on_an_nvl72_the_search_tries_expert_groups_up_to_48_as_the_recipes_run(catalog):
    """Wide expert parallelism inside the 72-GPU domain, as wide as the public recipes run
    it (InferenceX: DEP4-DEP48 on GB200/GB300, none wider): EP48 yes, EP64 and EP72 no;
    an 8-GPU board has no EP48."""
    ds = catalog.model("deepseek-r1")
    wide = serving.candidate_parallelisms(catalog.gpu("gb300"), ds, "fp4", catalog, wide=True)
    assert 48 in {p.gpus for p in wide}
    assert max(p.gpus for p in wide) == catalog.constants["moe_recipes"]["max_expert_parallel"]
    board = serving.candidate_parallelisms(catalog.gpu("b200"), ds, "fp4", catalog, wide=True)
    assert 48 not in {p.tp for p in board}


def test_a_moe_model_spans_boards_with_expert_parallelism_not_pipeline_stages(catalog):
    """DeepSeek-R1 fp8 does not fit eight H100s (671 GB > 640 GB): the recipes run it as
    TEP16/DEP16 over two boards, so twin's replica is a 16-wide expert group, never PP."""
    ds = catalog.model("deepseek-r1")
    pars = serving.candidate_parallelisms(catalog.gpu("h100"), ds, "fp8", catalog, wide=True)
    assert pars and {p.pp for p in pars} == {1}
    assert {p.tp for p in pars} == {16}
    llama = catalog.model("llama-3.1-405b")  # a dense model still spans boards in stages
    dense = serving.candidate_parallelisms(catalog.gpu("h100"), llama, "bf16", catalog)
    assert {p.pp for p in dense} == {2}


def test_the_factory_engine_places_replicas_with_at_most_one_draft_token(catalog):
    """The engine's placement (not twin perf's wider search) speculates one token at most."""
    ds = catalog.model("deepseek-r1")
    engine = serving.candidate_parallelisms(catalog.gpu("b200"), ds, "fp4", catalog)
    assert {p.mtp for p in engine} == {0, 1}
    search = serving.candidate_parallelisms(catalog.gpu("b200"), ds, "fp4", catalog, wide=True)
    assert max(p.mtp for p in search) == int(catalog.constants["mtp_max_drafts"]) > 1
