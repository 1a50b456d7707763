"""The serving model where it used to be weakest: small batches, high interactivity, fp4,
rack-scale disaggregation, Blackwell Ultra — and the economics every figure is priced with."""

import dataclasses
import math

import pytest

from twin.core import economics, serving
from twin.core.serving import Parallelism, Workload
from twin.core.serving import StepModel as Replica

W = Workload(1024, 1024)


def _at(catalog, gpu, precision, u, model="deepseek-r1", w=W, **kw):
    cs = serving.curves(
        catalog.gpu(gpu), catalog.model(model), precision, w, catalog=catalog, disagg=None, **kw
    )
    return serving.at_interactivity(cs, u)


def test_a_step_at_batch_one_pays_every_layers_fixed_cost(catalog):
    """Kernel launches and gaps set a floor no roofline sees: layers × kernels × gap."""
    r = Replica(catalog.gpu("b200"), catalog.model("deepseek-r1"), "fp4", Parallelism(8), catalog)
    floor = 61 * catalog.constants["kernels_per_layer"]["moe"] * r.eff.layer_overhead_us * 1e-6
    assert r.eff.layer_overhead_us > 0
    assert float(r.step(1, 2048).t_s) > floor


def test_all_to_all_latency_grows_with_the_expert_group(catalog):
    gpu, m = catalog.gpu("gb300"), catalog.model("deepseek-r1")
    small = Replica(gpu, m, "fp4", Parallelism(8, dp_attention=True), catalog)
    wide = Replica(gpu, m, "fp4", Parallelism(72, dp_attention=True), catalog)
    assert wide.a2a_latency_s > small.a2a_latency_s + 60 * catalog.constants["a2a_peer_us"] * 1e-6


def test_experts_split_like_dense_layers_trade_the_all_to_alls_for_an_all_reduce(catalog):
    """The recipes' TP8 EP1 (ROCm's DeepSeek-R1 configs): every GPU holds 1/8 of
    every expert, so a layer ends its experts with one all-reduce instead of a dispatch and
    a combine; at batch one the step is shorter by layers × (2 all-to-alls − 1 all-reduce)."""
    gpu, m = catalog.gpu("b200"), catalog.model("deepseek-r1")
    tep = Replica(gpu, m, "fp8", Parallelism(8), catalog)
    tp = Replica(gpu, m, "fp8", Parallelism(8, tp_experts=True), catalog)
    assert tp.label == "TP8-EP1" and Parallelism(8, tp_experts=True, mtp=2).short(True) == (
        "TP8 EP1+MTP2"
    )
    saved = float(tep.step(1, 2048).t_s - tp.step(1, 2048).t_s)
    per_layer = 2 * tep.a2a_latency_s - tep.coll_latency_s
    assert saved == pytest.approx(m.layers * per_layer, rel=0.05)
    # same weights per GPU: the bytes a step streams do not depend on how experts are split
    assert tp.weights_per_gpu == tep.weights_per_gpu
    # the search offers it where the vendor's recipes run it (ROCm), not on NVIDIA, and
    # never in the factory engine's placement
    amd = catalog.gpu("mi355x")
    assert Parallelism(8, tp_experts=True) in serving.candidate_parallelisms(
        amd, m, "fp8", catalog, wide=True
    )
    assert not any(
        p.tp_experts for p in serving.candidate_parallelisms(gpu, m, "fp8", catalog, wide=True)
    )
    assert not any(p.tp_experts for p in serving.candidate_parallelisms(amd, m, "fp8", catalog))


def test_throughput_collapses_at_high_interactivity(catalog):
    """Measured GB300 fp4 DeepSeek-R1 falls about 5x from 128 to 184 tok/s/user (InferenceX,
    whose prompts are random tokens: fewer MTP drafts accepted than on natural text)."""
    w = Workload(1024, 1024, mtp_acceptance=catalog.constants["mtp_acceptance_random_prompts"])
    mid, high = _at(catalog, "gb300", "fp4", 128, w=w), _at(catalog, "gb300", "fp4", 184, w=w)
    assert mid.tok_s_per_gpu > 3 * high.tok_s_per_gpu
    # on natural text the drafts land more often: the collapse comes later
    assert _at(catalog, "gb300", "fp4", 184).tok_s_per_gpu > 1.3 * high.tok_s_per_gpu


def test_fp4_gains_more_the_more_interactive_the_point(catalog):
    """fp4 halves the expert bytes: near the per-step floor that buys a much larger batch.
    Measured (InferenceX, B200 DeepSeek-R1 8k/1k) fp4/fp8 is 3.6x at 73 tok/s/user and
    grows; at a deep batch both are bound by the fp8 attention and dense layers."""
    w = Workload(8192, 1024)

    def gain(u):
        fp4 = _at(catalog, "b200", "fp4", u, w=w).tok_s_per_gpu
        return fp4 / _at(catalog, "b200", "fp8", u, w=w).tok_s_per_gpu

    low, mid, high = gain(30), gain(73), gain(150)
    assert high > mid > low > 1.1
    assert mid > 1.5


def test_blackwell_ultra_beats_blackwell_where_its_silicon_differs(catalog):
    gb300, gb200 = _at(catalog, "gb300", "fp4", 100), _at(catalog, "gb200", "fp4", 100)
    assert gb300.tok_s_per_gpu > 1.05 * gb200.tok_s_per_gpu


def _with(catalog, gpu_id, **eff):
    g = catalog.gpu(gpu_id)
    return dataclasses.replace(
        g, efficiency=dataclasses.replace(g.efficiency, **eff), efficiency_overrides={}
    )


def test_doubled_softmax_units_speed_long_prompts_not_latent_attention_decode(catalog):
    """Blackwell Ultra doubles the exponentials per second (MUFU.EX2), not the tensor FLOPs
    at fp8. Where attention kernels run near their tensor peak, a long MHA-style prefill
    (640 FLOPs per exponential) is bound by the softmax on GB200 and gains on GB300 (NVIDIA
    measures ~35 % on DeepSeek-V3's FP8 attention), while absorbed-MLA decode (2,176 FLOPs
    per exponential) is bound by the tensor cores and does not."""
    k = catalog.constants["attention_exp_tera_per_s"]
    assert k["gb300"] == pytest.approx(2 * k["gb200"], rel=0.1)
    m, par = catalog.model("deepseek-r1"), Parallelism(8)
    ultra = Replica(_with(catalog, "gb300", attn=0.8, attn_prefill=0.8), m, "fp8", par, catalog)
    plain = Replica(_with(catalog, "gb200", attn=0.8, attn_prefill=0.8), m, "fp8", par, catalog)
    # the longer the prompt, the larger attention's share of a prefill, the larger the gain
    gains = [float(plain.prefill_time_s(n) / ultra.prefill_time_s(n)) for n in (32768, 131072)]
    assert 1.02 < gains[0] < gains[1] < 1.6
    dec = float(plain.step(64, 8192).t_s / ultra.step(64, 8192).t_s)
    assert dec < 1.02


def test_a_4bit_moe_checkpoint_keeps_its_dense_layers_in_fp8(catalog):
    """NVIDIA's and AMD's 4-bit DeepSeek-R1 quantise only the experts; a dense model's 4-bit
    checkpoint is 4-bit throughout. The bytes a replica holds and reads follow that."""
    gpu, k = catalog.gpu("b200"), catalog.constants
    r1 = catalog.model("deepseek-r1")
    fp4 = Replica(gpu, r1, "fp4", Parallelism(8), catalog)
    dense_params = (r1.params_b - r1.expert_params_b) * 1e9
    assert fp4.dense_bytes == pytest.approx(dense_params * k["bytes_per_param"]["fp8"])
    assert fp4.expert_bytes == pytest.approx(r1.expert_params_b * 1e9 * k["bytes_per_param"]["fp4"])
    llama = Replica(gpu, catalog.model("llama-3.3-70b"), "fp4", Parallelism(1), catalog)
    assert llama.dense_bytes == pytest.approx(
        catalog.model("llama-3.3-70b").params_b * 1e9 * k["bytes_per_param"]["fp4"]
    )


def test_a_prefill_hides_its_expert_all_to_all_behind_the_other_micro_batch(catalog):
    """Prefill runs as two micro-batches (DeepSeek's prefill, SGLang two-batch overlap): a
    slower fabric barely slows it, while a decode step at an interactive batch pays it."""
    m, par = catalog.model("deepseek-r1"), Parallelism(8, dp_attention=True)
    rs = Replica(_with(catalog, "b200", net=0.3), m, "fp8", par, catalog)
    rf = Replica(_with(catalog, "b200", net=0.9), m, "fp8", par, catalog)
    prefill = float(rs.prefill_time_s(8192) / rf.prefill_time_s(8192))
    decode = float(rs.step(2048, 2048).t_s / rf.step(2048, 2048).t_s)
    assert prefill < 1.05 < decode


def test_mi355x_fp4_pays_on_moe_experts_not_on_dense_gemms(catalog):
    """InferenceX on MI355X: DeepSeek-R1 fp4 runs ~2.3x its fp8 at 66 tok/s/user, Llama
    fp4 no faster than fp8 at 76: ROCm's fp4 MoE kernels and its dense fp4 GEMMs matured
    apart, so the stack has one fp4 speed per GEMM kind."""
    eff = catalog.gpu("mi355x").efficiency
    assert eff.fp4 < 1.0 < eff.fp4_moe
    w = Workload(1024, 1024, mtp_acceptance=catalog.constants["mtp_acceptance_random_prompts"])

    def gain(model, u):
        fp4 = _at(catalog, "mi355x", "fp4", u, model, w).tok_s_per_gpu
        return fp4 / _at(catalog, "mi355x", "fp8", u, model, w).tok_s_per_gpu

    assert gain("deepseek-r1", 66) > 1.5 and gain("llama-3.3-70b", 76) < 1.2


def test_on_mi355x_deepseeks_kernels_are_the_tuned_path(catalog):
    """InferenceX: MI355X runs DeepSeek-R1 fp8 at 37 % of its Llama-3.3-70B fp8 throughput
    (807 at 66 vs 2,185 tok/s/GPU at 55 tok/s/user) where B200 manages 23 % (1,020 at 71 vs
    4,431 at 76): ROCm's block-scaled fp8 DeepSeek kernels run ahead of its per-tensor fp8
    GEMMs, while on Blackwell the block scales cost. The stack's block-fp8 path is > 1 (with
    it twin's MI355X share is 30 % against B200's 26 %; held at 1 it was 24 %)."""
    amd, nv = catalog.gpu("mi355x").efficiency, catalog.gpu("b200").efficiency
    assert nv.block_fp8 < 1.0 < amd.block_fp8
    w = Workload(1024, 1024, mtp_acceptance=catalog.constants["mtp_acceptance_random_prompts"])

    def share(gpu, u_ds, u_llama):
        ds = _at(catalog, gpu, "fp8", u_ds, "deepseek-r1", w).total_tok_s_per_gpu
        return ds / _at(catalog, gpu, "fp8", u_llama, "llama-3.3-70b", w).total_tok_s_per_gpu

    assert share("mi355x", 66, 55) > 1.1 * share("b200", 71, 76)


def test_a_stack_without_a_separate_moe_fp4_factor_uses_its_fp4_one(catalog):
    """A stack whose fp4 paths were not told apart runs its MoE experts at ``fp4``."""
    gpu = _with(catalog, "b200", fp4_moe=None)
    r = Replica(gpu, catalog.model("deepseek-r1"), "fp4", Parallelism(8), catalog)
    assert r.path_speed == gpu.efficiency.fp4
    assert catalog.gpu("h100").efficiency.fp4_moe is None  # Hopper has no fp4 to tell apart


def test_speculation_runs_only_on_expert_groups_the_drafting_recipes_run(catalog):
    """InferenceX's MTP recipes on NVL72 (TensorRT-LLM) stop at DEP32; its DEP48 ones
    (SGLang) draft nothing. So twin perf never prices GB300 DeepSeek-R1 on an EP48 replica
    that speculates, while EP48 without drafts stays a candidate — and the width is the
    catalog's (``moe_recipes.mtp_max_expert_parallel``), not a constant in the code."""
    gpu, m = catalog.gpu("gb300"), catalog.model("deepseek-r1")
    pars = serving.candidate_parallelisms(gpu, m, "fp8", catalog, wide=True)
    limit = catalog.constants["moe_recipes"]["mtp_max_expert_parallel"]
    assert max(p.gpus for p in pars if p.mtp) == limit == 32
    assert any(p.gpus == 48 and not p.mtp for p in pars)
    point = _at(catalog, "gb300", "fp8", 71)
    assert not ("EP48" in point.parallelism and "MTP" in point.parallelism), point.parallelism
    rules = {**catalog.constants["moe_recipes"], "mtp_max_expert_parallel": 48}
    wider = dataclasses.replace(catalog, constants={**catalog.constants, "moe_recipes": rules})
    pars = serving.candidate_parallelisms(gpu, m, "fp8", wider, wide=True)
    assert max(p.gpus for p in pars if p.mtp) == 48


def test_amd_gpus_speculate_no_deeper_than_amds_recipes_draft(catalog):
    """AMD's public DeepSeek-R1 MTP recipes draft at most two tokens (ATOM takes one,
    SGLang's ROCm disaggregated recipes two), NVIDIA's TensorRT-LLM ones up to three: so
    twin perf never prices an MI355X replica drafting three, while B200's search still
    does, and the depth is the catalog's (``vendor_mtp_max_drafts``)."""
    m = catalog.model("deepseek-r1")
    amd = serving.candidate_parallelisms(catalog.gpu("mi355x"), m, "fp4", catalog, wide=True)
    nvidia = serving.candidate_parallelisms(catalog.gpu("b200"), m, "fp4", catalog, wide=True)
    assert max(p.mtp for p in amd) == catalog.constants["vendor_mtp_max_drafts"]["amd"] == 2
    assert max(p.mtp for p in nvidia) == catalog.constants["mtp_max_drafts"] == 3
    assert "MTP3" not in _at(catalog, "mi355x", "fp4", 85).parallelism
    one = dataclasses.replace(
        catalog, constants={**catalog.constants, "vendor_mtp_max_drafts": {"amd": 1}}
    )
    amd = serving.candidate_parallelisms(catalog.gpu("mi355x"), m, "fp4", one, wide=True)
    assert max(p.mtp for p in amd) == 1


def test_mtp_drafts_are_accepted_less_the_deeper_they_go(catalog):
    k = catalog.constants
    one = serving.mtp_tokens_per_step(1, k["mtp_acceptance"], k["mtp_acceptance_decay"])
    three = serving.mtp_tokens_per_step(3, k["mtp_acceptance"], k["mtp_acceptance_decay"])
    assert one == pytest.approx(1 + k["mtp_acceptance"])
    assert one < three < 1 + 3 * k["mtp_acceptance"]


def test_a_disaggregated_point_counts_its_prefill_gpus(catalog):
    cs = serving.curves(
        catalog.gpu("gb200"),
        catalog.model("deepseek-r1"),
        "fp4",
        Workload(8192, 1024),
        catalog=catalog,
        disagg=True,
    )
    p = serving.at_interactivity(cs, 75)
    assert p.prefill_gpus > 0 and p.parallelism.startswith("P") and " + D" in p.parallelism
    decode = int(p.parallelism.split(" + D")[1].split(",")[0])
    assert p.gpus == round(decode + p.prefill_gpus)
    # every GPU is in the denominator: the decode replica alone would look faster
    assert p.tok_s_per_gpu < p.batch * p.tok_s_per_user / decode


def test_a_ttft_bound_is_honoured(catalog):
    w = Workload(8192, 1024)
    cs = serving.curves(
        catalog.gpu("h200"), catalog.model("llama-3.3-70b"), "fp8", w, catalog=catalog
    )
    free = serving.max_throughput(cs)
    bound = sorted(p.ttft_s for p in serving.frontier(cs))[0] * 1.5
    assert free.ttft_s > bound
    capped = serving.max_throughput(cs, ttft_max=bound)
    assert capped.ttft_s <= bound and capped.tok_s_per_gpu < free.tok_s_per_gpu
    assert all(p.ttft_s <= bound for p in serving.frontier(cs, ttft_max=bound))
    with pytest.raises(serving.ServingError, match="time to first token"):
        serving.max_throughput(cs, ttft_max=1e-6)


def test_without_mtp_no_point_speculates(catalog):
    cs = serving.curves(
        catalog.gpu("b200"),
        catalog.model("deepseek-r1"),
        "fp4",
        W,
        catalog=catalog,
        mtp=False,
        disagg=None,
    )
    assert all(c.replica.par.mtp == 0 for c in cs)
    with_mtp = _at(catalog, "b200", "fp4", 100)
    assert serving.at_interactivity(cs, 100).tok_s_per_gpu < with_mtp.tok_s_per_gpu


def test_mi325x_is_mi300x_with_more_and_faster_hbm(catalog):
    """Same CDNA3 die and ROCm stack (same factors), 256 GB at 6.0 TB/s against 192 GB at
    5.3: it serves Llama-2-70B fp8 faster per GPU at the same interactivity, at a dearer
    GPU-hour."""
    old, new = catalog.gpu("mi300x"), catalog.gpu("mi325x")
    assert new.peak_tflops == old.peak_tflops and new.efficiency == old.efficiency
    for u in (20, 40):
        a = _at(catalog, "mi300x", "fp8", u, model="llama-2-70b")
        b = _at(catalog, "mi325x", "fp8", u, model="llama-2-70b")
        assert b.tok_s_per_gpu > 1.05 * a.tok_s_per_gpu, u
    assert (
        economics.cost_parts(new, catalog=catalog).usd_per_gpu_hr
        > economics.cost_parts(old, catalog=catalog).usd_per_gpu_hr
    )


def test_mi325x_holds_a_higher_clock_under_gemms_so_compute_bound_work_runs_faster(catalog):
    """MI325X is MI300X's die on a 1,000 W board instead of 750 W: under dense GEMMs it holds
    1,464 MHz against 1,230 (AMD's max-achievable-FLOPs clocks), so a long prefill (compute
    bound) runs up to 1.19x faster, more than its HBM alone gives; a one-request decode step
    (weights streamed, kernels lightly loaded at the boost clock) gains only its HBM."""
    llama = catalog.model("llama-2-70b")
    old, new = (
        Replica(catalog.gpu(g), llama, "fp8", Parallelism(tp=1), catalog)
        for g in ("mi300x", "mi325x")
    )
    clocks = catalog.gpu("mi325x").gemm_clock / catalog.gpu("mi300x").gemm_clock
    hbm = catalog.gpu("mi325x").hbm_tb_s / catalog.gpu("mi300x").hbm_tb_s
    # a 1k-token prompt: GEMMs rule it (attention and the fixed costs, at the boost clock,
    # keep it a little under the clock ratio)
    prefill = float(old.prefill_time_s(1024) / new.prefill_time_s(1024))
    assert hbm + 0.02 < prefill <= clocks
    decode = float(old.step(1, 600).t_s / new.step(1, 600).t_s)
    assert decode < hbm + 0.005


def test_mi325x_capped_at_mi300x_board_power_prefills_at_mi300x_pace(catalog):
    """The clock MI325X holds over MI300X under GEMMs is bought with its 250 W more board
    power: capped at MI300X's 750 W (the engine's power-cap clock), the same die prefills
    a 1k prompt within 5 % of MI300X's time, where uncapped it is >10 % faster."""
    llama = catalog.model("llama-2-70b")
    old, new = (
        Replica(catalog.gpu(g), llama, "fp8", Parallelism(tp=1), catalog)
        for g in ("mi300x", "mi325x")
    )
    busy = new.step(0.0, 0.0, 1024, 512)
    clock = new.clock_for_power_cap(750.0, float(busy.compute_busy), float(busy.memory_busy))
    assert clock < 1.0
    t_old = float(old.prefill_time_s(1024))
    assert float(new.prefill_time_s(1024)) < 0.9 * t_old
    assert float(new.prefill_time_s(1024, clock)) == pytest.approx(t_old, rel=0.05)


def test_amd_stacks_compute_attention_at_the_bf16_rate(tmp_path):
    """ROCm's serving stacks keep the queries in BF16 against an FP8 KV cache (SGLang's
    AITER MLA decode, vLLM's ROCm attention), so an fp8 DeepSeek-R1 on MI300X spends more
    of a long prompt's prefill in attention than a stack computing it in FP8 would: the
    catalog's ``attention_precision`` says so, and a user catalog can say otherwise."""
    from twin.core.catalog import load_catalog

    (tmp_path / "k.yaml").write_text(
        "constants:\n  attention_precision:\n    value: {amd: fp8}\n    source: 'E: ours'\n"
    )
    builtin, fp8_math = load_catalog(), load_catalog([tmp_path])

    def prefill(cat):
        r = Replica(cat.gpu("mi300x"), cat.model("deepseek-r1"), "fp8", Parallelism(tp=8), cat)
        return float(r.prefill_time_s(8192))

    assert prefill(builtin) > 1.05 * prefill(fp8_math)


# --------------------------------------------------------------------------------------
# economics


@pytest.mark.parametrize(
    "gpu_id", ["h100", "h200", "b200", "b300", "gb200", "gb300", "mi300x", "mi325x", "mi355x"]
)
def test_the_cost_parts_add_up_to_the_reference_gpu_hour(catalog, gpu_id):
    g = catalog.gpu(gpu_id)
    parts = economics.cost_parts(g, catalog=catalog)
    assert parts.usd_per_gpu_hr == pytest.approx(g.usd_per_gpu_hr, rel=0.03)
    assert parts.capital == pytest.approx(parts.system + parts.network)
    assert min(parts.system, parts.network, parts.facility, parts.opex, parts.energy) > 0


def test_the_identity_of_model_md_holds_with_the_built_up_cost(catalog):
    """B200 at 5,857 tok/s/GPU → $0.092/Mtok and 2.70 M tok/s/MW."""
    usd_hr = economics.cost_parts(catalog.gpu("b200"), catalog=catalog).usd_per_gpu_hr
    assert round(serving.usd_per_mtok(usd_hr, 5857), 3) == 0.092
    assert round(serving.tok_s_per_mw(5857, catalog.gpu("b200").allin_kw_per_gpu) / 1e6, 2) == 2.70


def test_an_override_moves_only_its_part(catalog):
    g = catalog.gpu("gb300")
    base = economics.cost_parts(g, catalog=catalog)
    dear = economics.cost_parts(g, {"usd_per_kwh": 0.14}, catalog=catalog)
    assert dear.energy == pytest.approx(2 * base.energy)
    assert (dear.system, dear.facility, dear.opex) == (base.system, base.facility, base.opex)
    cheap_money = economics.cost_parts(g, {"cost_of_capital": 0.0}, catalog=catalog)
    price = catalog.constants["economics_gpu_price_usd"]["gb300"]
    assert cheap_money.system == pytest.approx(
        price * 1.15 / (5 * economics.HOURS_PER_YEAR), rel=0.01
    )
    with pytest.raises(KeyError, match="unknown economics part"):
        economics.cost_parts(g, {"usd_per_kwhh": 1.0}, catalog=catalog)


def test_an_operating_point_is_priced_by_the_economics_model(catalog):
    p = _at(catalog, "gb300", "fp4", 100)
    usd_hr = economics.cost_parts(catalog.gpu("gb300"), catalog=catalog).usd_per_gpu_hr
    assert p.usd_per_gpu_hr == pytest.approx(usd_hr)
    assert p.usd_per_mtok == pytest.approx(usd_hr * 1e6 / (3600 * p.tok_s_per_gpu))
    assert math.isfinite(p.j_per_tok)


def test_the_batch_holds_more_context_when_output_lengths_spread():
    assert Workload(1000, 1000).mean_context == 1500
    assert Workload(1000, 1000, osl_cv=1.0).mean_context == 2000  # exponential-like lengths


def test_public_recipes_run_through_the_step_physics(catalog):
    """Each recipe of catalog/recipes.yaml fits its GPUs; within one recipe more users buy
    throughput with interactivity, never both; and a run obeys Little's law."""
    from twin.core.calibration import RecipePoint, recipe_frontier_at, recipe_points, recipes

    recs = recipes()
    assert {r["stack"] for r in recs} == {"trt", "sglang"} and len(recs) >= 60
    for rec in recs:
        pts = recipe_points(rec, catalog)
        assert len(pts) == len(rec["concurrency"])
        for a, b in zip(pts, pts[1:], strict=False):
            assert b.tok_s_per_user <= a.tok_s_per_user * (1 + 1e-9)
            assert b.total_tok_s_per_gpu >= a.total_tok_s_per_gpu * (1 - 1e-9)
        for p in pts:
            assert 0 < p.running <= p.concurrency / rec["decode_workers"] + 1e-9
    # the dashboard's reading: the frontier of the runs, interpolated between them
    rec = recs[0]
    runs = [RecipePoint(rec, 1, 1.0, u, v) for u, v in ((50, 1000), (100, 600), (80, 500))]
    assert recipe_frontier_at(runs, 75) == pytest.approx(1000 + (600 - 1000) * 25 / 50)
    assert recipe_frontier_at(runs, 40) == 1000 and recipe_frontier_at(runs, 101) is None


def test_the_busiest_expert_rank_sets_the_pace_where_no_balancer_runs(catalog):
    """Routing favours hot experts: TensorRT-LLM's fp8 wide-EP path (with MTP) runs no load
    balancer, so its hottest rank gets ~2.6x the mean rows and bytes and the step waits for
    it; balanced wide groups (EPLB), groups of 8 and other vendors' fp8 pay no more than a
    stack with a balancer everywhere would."""
    from types import MappingProxyType

    m, k = catalog.model("deepseek-r1"), dict(catalog.constants)
    assert k["ep_load_imbalance"]["unbalanced"] > 1.0 > 0.2 > k["ep_load_imbalance"]["balanced"]
    k["ep_load_imbalance"] = {**k["ep_load_imbalance"], "unbalanced_paths": {}}
    balanced = dataclasses.replace(catalog, constants=MappingProxyType(k))

    def ratio(gpu, precision, par):
        def t(cat):
            r = Replica(cat.gpu(gpu), m, precision, par, cat)
            return float(r.step(64 * par.tp, 2048).t_s)

        return t(catalog) / t(balanced)

    assert ratio("gb300", "fp8", Parallelism(32, dp_attention=True, mtp=1)) > 1.2
    assert ratio("gb200", "fp8", Parallelism(16, dp_attention=True, mtp=3)) > 1.2
    for gpu, precision, par in [
        ("gb300", "fp8", Parallelism(32, dp_attention=True)),  # SGLang's path: no drafts
        ("gb300", "fp4", Parallelism(32, dp_attention=True, mtp=1)),  # NVFP4 WIDEEP + EPLB
        ("gb300", "fp8", Parallelism(8, dp_attention=True, mtp=1)),  # 32 experts per rank
        ("mi355x", "fp8", Parallelism(32, dp_attention=True, mtp=1)),
        ("b200", "fp8", Parallelism(32, dp_attention=True, mtp=1)),  # boards over the fabric
    ]:
        assert ratio(gpu, precision, par) == pytest.approx(1.0), (gpu, precision, par)


@pytest.mark.parametrize(
    ("precision", "mtp", "dispatch"),
    [
        ("fp4", 1, 1.03125),  # FP8 + a scale per 128 (NVFP4 dispatch not yet modelled)
        ("fp8", 0, 1.03125),  # DeepEP (SGLang's NVL72 path, no drafts): FP8 + a scale per 128
        ("fp8", 1, 2.0),  # TensorRT-LLM's fp8 WIDEEP quantises after the all-to-all: BF16
    ],
)
def test_the_dispatch_sends_tokens_in_the_precision_the_stack_quantises_them_to(
    catalog, precision, mtp, dispatch
):
    """A wide-EP decode step on GB300 moves each token to its experts (dispatch) and back
    (combine, BF16): halving NVLink's bandwidth adds exactly that traffic once more, and
    its dispatch part is FP8 where the tokens are quantised before they are sent and BF16
    on TensorRT-LLM's fp8 WIDEEP path, which quantises only after the all-to-all."""
    gpu, model, g = catalog.gpu("gb300"), catalog.model("deepseek-r1"), 32
    slow_link = dataclasses.replace(gpu, scale_up_gb_s=gpu.scale_up_gb_s / 2)
    par = Parallelism(g, dp_attention=True, mtp=mtp)
    fast, slow = (Replica(x, model, precision, par, catalog) for x in (gpu, slow_link))
    batch = 16.0 * g
    tokens = batch * (1 + mtp)
    sent = (tokens / g) * model.experts_per_token * model.hidden * (g - 1) / g
    moved = sent * (dispatch + 2.0) / (gpu.scale_up_gb_s * 1e9) * (1 + fast.ep_imbalance)
    # each draft also runs the MTP module, about one more layer's time
    extra = model.layers * moved / fast.eff.net * (1 + mtp / model.layers)
    t_fast, t_slow = (float(r.step(batch, 2048).t_s) for r in (fast, slow))
    assert t_slow - t_fast == pytest.approx(extra, rel=1e-6)


def test_on_nvl72_fp4_outruns_fp8_more_the_more_interactive_the_point(catalog):
    """GB300 NVL72, DeepSeek-R1 1k/1k with InferenceX's random prompts: measured fp4/fp8 is
    3.4x at 71 tok/s/user and 5.9x at 128. fp8's rack-scale path (TensorRT-LLM's WIDEEP
    with MTP) runs without a load balancer and dispatches BF16 tokens, so the gap is wider
    than the weight bytes alone make it (2x) and grows with interactivity."""
    w = Workload(1024, 1024, mtp_acceptance=0.7)

    def ratio(u):
        fp4 = _at(catalog, "gb300", "fp4", u, w=w).total_tok_s_per_gpu
        return fp4 / _at(catalog, "gb300", "fp8", u, w=w).total_tok_s_per_gpu

    at71, at128 = ratio(71), ratio(128)
    assert 2.4 < at71 < 3.4 * 1.2
    assert 4.2 < at128 < 5.9 * 1.2
    assert at128 > 1.5 * at71
