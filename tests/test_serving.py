"""The serving model: memory arithmetic, roofline floors, identities, placement, calibration."""

import dataclasses

import pytest

from twin.core import serving
from twin.core.calibration import (
    FACTORS,
    at_bound,
    measurements,
    predict,
    predict_step_ms,
    predicted_value,
    step_measurements,
)
from twin.core.catalog import Efficiency
from twin.core.errors import InputError
from twin.core.serving import Parallelism, ServingError, Workload
from twin.core.serving import StepModel as Replica

IDEAL = Efficiency(mem=1.0, comp=1.0, net=1.0, step_overhead_ms=0.0, seq_overhead_us=0.0, attn=1.0)


def test_kv_cache_of_a_gqa_model_is_320_kib_per_token_in_bf16(catalog):
    r = Replica(
        catalog.gpu("h100"), catalog.model("llama-3.3-70b"), "bf16", Parallelism(8), catalog
    )
    assert float(r.kv_seq_bytes(1)) == 2 * 80 * 8 * 128 * 2 == 320 * 1024


def test_kv_cache_of_an_mla_model_is_about_70_kb_per_token_in_bf16(catalog):
    r = Replica(catalog.gpu("b200"), catalog.model("deepseek-r1"), "bf16", Parallelism(8), catalog)
    assert float(r.kv_seq_bytes(1)) == 61 * (512 + 64) * 2 == pytest.approx(70e3, rel=0.01)


def test_sliding_window_layers_stop_growing_their_kv_at_the_window(catalog):
    r = Replica(catalog.gpu("h100"), catalog.model("gpt-oss-120b"), "fp8", Parallelism(1), catalog)
    grow = float(r.kv_seq_bytes(10_000) - r.kv_seq_bytes(9_000))
    assert grow == pytest.approx(1000 * r.kv_per_token_layer * 18)  # only the 18 full layers grow


def test_max_batch_is_free_hbm_over_kv_per_request(catalog):
    gpu, model = catalog.gpu("h100"), catalog.model("llama-3.3-70b")
    r = Replica(gpu, model, "fp8", Parallelism(4), catalog)
    w = Workload(1024, 1024)
    weights = model.params_b * 1e9 * 1.0
    free = 4 * gpu.hbm_gb * 1e9 * 0.9 - weights
    per_request = 2 * 80 * 8 * 128 * 1 * w.mean_context
    assert r.max_batch(w) == int(free // per_request)


def test_decode_cannot_beat_the_hbm_bandwidth_floor(catalog):
    """MODEL.md: Llama-70B fp8 at batch 1 on one H100 streams its weights every step,
    ≈ 70 GB / 3.35 TB/s ≈ 20.9 ms — all but the input embedding table (128,256 × 8,192),
    which a step gathers a row per token: 69.5 GB, 20.7 ms."""
    gpu = dataclasses.replace(catalog.gpu("h100"), efficiency=IDEAL, efficiency_overrides={})
    r = Replica(gpu, catalog.model("llama-3.3-70b"), "fp8", Parallelism(1), catalog)
    t = float(r.step(1, 1024).t_s)
    streamed = 70.55e9 - 128256 * 8192
    assert t >= streamed / 3.35e12
    assert t == pytest.approx(streamed / 3.35e12, rel=0.02)
    fitted = Replica(
        catalog.gpu("h100"), catalog.model("llama-3.3-70b"), "fp8", Parallelism(1), catalog
    )
    assert float(fitted.step(1, 1024).t_s) > t  # real kernels are slower than the roofline


def test_the_analysts_identities_hold_to_the_digit():
    """MODEL.md: B200 at 5,857 tok/s/GPU → $0.092/Mtok and 2.70 M tok/s/MW."""
    assert round(serving.usd_per_mtok(1.95, 5857), 3) == 0.092
    assert round(serving.tok_s_per_mw(5857, 2.17) / 1e6, 2) == 2.70
    assert serving.j_per_tok(2.17, 5857) == pytest.approx(2170 / 5857)


def test_an_operating_point_reports_consistent_economics(catalog):
    cs = serving.curves(
        catalog.gpu("b200"),
        catalog.model("deepseek-r1"),
        "fp8",
        Workload(1024, 1024),
        catalog=catalog,
    )
    p = serving.at_interactivity(cs, 42)
    assert p.total_tok_s_per_gpu == pytest.approx(p.tok_s_per_gpu * 2)
    assert p.usd_per_mtok == pytest.approx(p.usd_per_gpu_hr * 1e6 / (3600 * p.tok_s_per_gpu))
    assert p.usd_per_gpu_hr == pytest.approx(1.95, rel=0.01)

    assert p.usd_per_mtok_total == pytest.approx(p.usd_per_mtok / 2)
    assert p.tok_s_per_user >= 42 * 0.999


def test_the_factory_engine_steps_with_the_serving_models_step_function(catalog):
    """One set of physics: the engine's ``serving.Replica`` is the step function of
    ``twin perf`` and the calibration (issue 8)."""
    assert serving.Replica is Replica


def test_deepseek_r1_in_fp8_spans_two_h100_nodes_but_one_b200_node(catalog):
    w = Workload(1024, 1024)
    h100 = serving.curves(
        catalog.gpu("h100"), catalog.model("deepseek-r1"), "fp8", w, catalog=catalog
    )
    b200 = serving.curves(
        catalog.gpu("b200"), catalog.model("deepseek-r1"), "fp8", w, catalog=catalog
    )
    # the smallest replica that holds the weights; wider ones spread the experts further
    assert min(c.replica.n for c in h100) == 16
    assert min(c.replica.n for c in b200 if c.replica.n >= 8) == 8
    assert not any(c.replica.n < 8 for c in b200)
    # expert groups may span boards: the all-to-all then rides the scale-out fabric
    wide = [c.replica for c in b200 if c.replica.n > 8]
    out_s = catalog.constants["scale_out_latency_us"] * 1e-6
    assert wide and all(r.coll_latency_s == out_s for r in wide)
    assert {r.n for r in wide} == {16, 32}


@pytest.mark.parametrize(
    ("isl", "tok_s_per_user", "accept", "lead"), [(1024, 42, None, 1.15), (8192, 75, 0.7, 1.6)]
)
def test_nvl72_wins_for_wide_expert_parallelism_at_mid_interactivity(
    catalog, isl, tok_s_per_user, accept, lead
):
    """A 72-GPU NVLink domain lets DeepSeek-R1 spread its experts wide; an 8-GPU board
    cannot. InferenceX (random prompts: fewer drafts accepted) measures GB200 fp8 at 2.1x
    B200's at 8k/1k and ~75 tok/s/user; on natural text at 1k/1k twin's lead is smaller
    (~1.2x: B200's drafts pay off more, TensorRT-LLM's fp8 WIDEEP dispatches BF16, and both
    pay the same block-scaled fp8 prefill)."""
    w = Workload(isl, 1024, mtp_acceptance=accept)

    def point(gpu):
        cs = serving.curves(
            catalog.gpu(gpu), catalog.model("deepseek-r1"), "fp8", w, catalog=catalog
        )
        return serving.at_interactivity(cs, tok_s_per_user)

    gb200, b200 = point("gb200"), point("b200")
    assert gb200.gpus > 8
    assert gb200.tok_s_per_gpu > lead * b200.tok_s_per_gpu


def test_the_frontier_trades_interactivity_for_throughput(catalog):
    cs = serving.curves(
        catalog.gpu("h100"), catalog.model("llama-3.3-70b"), "fp8", Workload(), catalog=catalog
    )
    pts = serving.frontier(cs)
    assert len(pts) > 10
    users = [p.tok_s_per_user for p in pts]
    gpus = [p.tok_s_per_gpu for p in pts]
    assert users == sorted(users, reverse=True)
    assert gpus == sorted(gpus)


def test_long_prompts_cost_throughput_at_the_same_interactivity(catalog):
    def at(isl):
        cs = serving.curves(
            catalog.gpu("b200"),
            catalog.model("deepseek-r1"),
            "fp8",
            Workload(isl, 1024),
            catalog=catalog,
        )
        return serving.at_interactivity(cs, 30).tok_s_per_gpu

    assert at(8192) < 0.5 * at(1024)


def test_gpu_power_rises_with_load_and_falls_with_a_clock_cap(catalog):
    gpu = catalog.gpu("h100")
    cs = serving.curves(gpu, catalog.model("llama-3.3-70b"), "fp8", Workload(), catalog=catalog)
    c = max(cs, key=lambda c: c.replica.n)
    assert gpu.idle_w < c.power_w[0] < c.power_w[-1] <= gpu.tdp_w
    r = c.replica
    cost = r.step(64, 1536)
    full = float(r.power_w(cost.compute_busy, cost.memory_busy, 1.0))
    clock = r.clock_for_power_cap(0.7 * full, float(cost.compute_busy), float(cost.memory_busy))
    assert clock < 1
    assert float(r.power_w(cost.compute_busy, cost.memory_busy, clock)) == pytest.approx(
        0.7 * full, rel=0.01
    )
    assert float(r.step(64, 1536, clock=clock).t_s) > float(cost.t_s)


#: Points the model still misses (beyond 20 % fitted, 35 % held out), with the error at the
#: time of writing. Strict: a fix that brings one within tolerance fails here until it is
#: taken off this list. The README's limits section says why each family misses.
KNOWN_MISSES = {
    # twin's DP-attention EP32 across 8-GPU boards (over the scale-out fabric) at low
    # interactivity, far above what the same boards measure
    "inferencex26-h100-dsr1-fp8-1k1k-mtp-26",  # +113 % (holdout; DP16 over two nodes)
    "inferencex26-b300-dsr1-fp8-1k1k-78",  # +111 % (holdout)
    "inferencex26-gb200-dsr1-fp4-1k1k-mtp-136",  # +49 % (holdout)
    # without MTP (the pages' Off columns): twin's no-MTP wide EP on NVL72 fp8 and on B200
    # far above the measured Off curves, which fall much faster with interactivity
    "inferencex26-b200-dsr1-fp8-8k1k-nomtp-44",  # +36 % (holdout)
    "inferencex26-gb200-dsr1-fp8-8k1k-nomtp-68",  # +144 % (holdout)
    "inferencex26-gb200-dsr1-fp8-8k1k-nomtp-89",  # +63 % (holdout)
    "inferencex26-gb200-dsr1-fp8-8k1k-nomtp-110",  # +104 % (holdout)
    "inferencex26-gb300-dsr1-fp8-8k1k-nomtp-60",  # +69 % (holdout)
    "inferencex26-gb300-dsr1-fp8-8k1k-nomtp-107",  # +55 % (holdout)
    "inferencex26-h100-dsr1-fp8-1k1k-nomtp-26",  # +42 % (holdout)
    "inferencex26-h100-dsr1-fp8-1k1k-nomtp-41",  # +76 % (holdout)
    # ... and below where twin falls back to one board (TP8) at high interactivity
    "inferencex26-gb200-dsr1-fp4-1k1k-nomtp-97",  # -84 % (holdout; twin TP8 EP8, GB300 at 98 fits)
    "inferencex26-gb200-dsr1-fp4-1k1k-nomtp-136",  # -45 % (holdout)
    "inferencex26-h200-dsr1-fp8-8k1k-nomtp-62",  # -51 % (holdout)
    "inferencex26-h200-dsr1-fp8-8k1k-nomtp-84",  # -66 % (holdout)
    # MI325X 1k/1k at InferenceX's one recipe for it (SGLang TP8 EP1 on one node, no
    # speculation, 4 continuous decode steps): both columns of the spec-decode page are that
    # run; twin's CDNA3 decode at 4-17 requests is ~2x slower than measured (its factors
    # were fitted to the 2025 8k/1k runs and vLLM's Llama; README limits)
    "inferencex26-mi325x-dsr1-fp8-1k1k-mtp-39",  # -48 % (holdout)
    "inferencex26-mi325x-dsr1-fp8-1k1k-mtp-50",  # -48 % (holdout)
    "inferencex26-mi325x-dsr1-fp8-1k1k-mtp-60",  # -46 % (holdout)
    "inferencex26-mi325x-dsr1-fp8-1k1k-nomtp-39",  # -50 % (holdout)
    "inferencex26-mi325x-dsr1-fp8-1k1k-nomtp-50",  # -50 % (holdout)
    "inferencex26-mi325x-dsr1-fp8-1k1k-nomtp-60",  # -45 % (holdout)
    # TensorRT-LLM's published B200 max-throughput run (DP8-EP8, 896 requests per rank, the
    # blog's FP8-KV figure, 2025 software): twin's fp4 DP8 runs high there
    "trtllm-b200-dsr1-fp4-dp8-maxtpt",  # +53 % (holdout)
    # MLPerf Llama-2-70B Interactive: priced at the measured mean TPOT (34.2 ms), TTFT 45 ms
    # against 450 ms, so not the p99 limits: with prompts riding on decode steps twin holds
    # ~350 requests per B200 at that step, measured 255
    "mlperf51-m11-b200-llama2-70b-fp4",  # +40 %
    "mlperf51-gb200-llama2-70b-fp4-interactive",  # +50 % (holdout; GB200 x4, same family)
    # B200 at 108-136 tok/s/user: measured holds on a little longer than twin
    "inferencex26-b200-dsr1-fp8-8k1k-136",  # -25 %
    "inferencex26-b200-llama3.3-70b-fp8-1k1k-108",  # -24 % (co-located TP4, as measured)
    # H100 two-node DeepSeek-R1 (TEP16) at its floor: measured collapses faster
    "inferencex26-h100-dsr1-fp8-1k1k-100",  # +52 % (holdout)
    # MI355X DeepSeek-R1 fp4 at 166 tok/s/user (held out): on TP8 EP1 with MTP2 twin holds
    # 6 requests where the measured curve has ~4; the CDNA4 refit that brought 116 within
    # 17 % (from -37 %) runs the expert stream faster (eta_fp4_moe 1.32) at the floor too
    "inferencex26-x19-mi355x-dsr1-fp4",  # +40 % (holdout)
    # MI355X fp4 with MTP at 85 tok/s/user (ATOM's co-located single-node TP4/TP8 runs,
    # InferenceX's spec-decode page, never fitted): measured holds ~80 requests per node at
    # 85 tok/s/user with MTP, twin's best is DP8-EP8+MTP2 with 38 (AMD's recipes draft at
    # most two tokens; ATOM one)
    "inferencex26-mi355x-dsr1-fp4-1k1k-mtp-85",  # -51 % (holdout)
    # MLPerf v6.1 MI355X Llama-2-70B MXFP4 (held out; eight TP1 vLLM instances): at
    # thousands of requests AITER's FP4 assembly GEMMs run compute-bound far faster than
    # the eta_fp4 fitted at 31-41 requests (README limits)
    "mlperf61-mi355x-llama2-70b-fp4-offline",  # -43 % (holdout)
    "mlperf61-mi355x-llama2-70b-fp4-server",  # -51 % (holdout)
    # GB300 fp8 DeepSeek-R1 at 128 (DEP32+MTP3, ~4 requests a GPU): each DP-attention
    # rank streams all of DeepSeek's non-expert weights; the embedding table gathered, not
    # streamed, took that step 0.1 ms shorter and the point from +29 % to +37 %
    "inferencex26-x5-gb300-dsr1-fp8",  # +38 % (holdout)
    # fp8 DeepSeek-R1 with MTP where the prefill pools are now priced at their measured rate
    # (block_fp8_prefill): the decode side with one random-prompt acceptance falls short
    "inferencex26-gb200-dsr1-fp8-8k1k-164",  # -21 %
    "inferencex26-h200-dsr1-fp8-8k1k-mtp-84",  # -35 % (holdout)
    "inferencex26-h100-dsr1-fp8-1k1k-mtp-57",  # -36 % (holdout; DP16 over two nodes)
    # GB200 fp4 DP-attention decode at hundreds to thousands of requests, once decode
    # attention was fitted apart from the prompt's (Blackwell attn 0.31 -> 0.37): twin's
    # large-batch DP steps run short (the measured steps' largest batches -4 -> -7 %)
    "mlperf60-gb200-dsr1-fp4-server",  # +40 % (holdout)
    "inferencex26-gb200-dsr1-fp4-1k1k-125",  # +37 % (holdout)
}
TOLERANCE = {"fit": 0.20, "holdout": 0.35}


def _case(m, known=KNOWN_MISSES, name="KNOWN_MISSES"):
    """A measurement (or measured step) as a test case: a strict xfail if it is a known miss."""
    marks = (
        [pytest.mark.xfail(strict=True, reason=f"known miss, see {name}")] if m.id in known else []
    )
    return pytest.param(m, id=m.id, marks=marks)


@pytest.mark.parametrize("m", [_case(m) for m in measurements() if m.role != "retired"])
def test_the_model_reproduces_each_public_measurement(catalog, m):
    """Fitted points within 20 %, held-out points (never seen by the fit) within 35 %."""
    v = predicted_value(m, predict(m, catalog))
    assert abs(v / m.value - 1) <= TOLERANCE[m.role], (
        f"{m.label}: model {v:,.0f} vs measured {m.value:,.0f}"
    )


def test_a_measurement_with_its_runs_split_is_priced_at_that_split(catalog):
    """MLPerf's NVL72 DeepSeek-R1 runs were co-located 8-GPU attention-DP instances (their
    configs say so): twin checks the point there, not at the wider split it would pick."""
    m = next(m for m in measurements() if m.id == "mlperf60-gb300-dsr1-fp4-server")
    run = predict(m, catalog)
    best = predict(dataclasses.replace(m, parallelism=None), catalog)
    assert (run.parallelism, run.gpus) == ("DP8-EP8", 8)
    assert best.gpus > 8  # twin's own pick spans more of the rack
    assert run.tok_s_per_gpu < best.tok_s_per_gpu  # the run's split is not the best one


def test_a_runs_pipeline_stages_are_part_of_its_split(catalog):
    """NVIDIA's GB200 Llama-3.1-405B Offline ran TP2 with two pipeline stages (its config):
    the point is priced on those four GPUs, not on twin's own two-GPU TP2."""
    m = next(m for m in measurements() if m.id == "mlperf51-gb200-llama3.1-405b-fp4-offline")
    run = predict(m, catalog)
    assert (run.parallelism, run.gpus) == ("TP2xPP2", 4)


def test_a_runs_bf16_kv_cache_doubles_what_each_token_of_context_costs(catalog):
    """InferenceX's 2025 MI300X/MI325X DeepSeek-R1 scripts left SGLang's KV cache at its
    default, the model's BF16 (no --kv-cache-dtype): priced so, a token of context holds
    and streams twice the bytes of twin's fp8 cache, the replica fits about half the
    requests, and at 8k prompts the same point comes out lower than with fp8."""
    gpu, ds = catalog.gpu("mi300x"), catalog.model("deepseek-r1")
    par = Parallelism(8, tp_experts=True)
    fp8 = serving.Replica(gpu, ds, "fp8", par, catalog)
    bf16 = serving.Replica(gpu, ds, "fp8", par, serving.with_kv_cache(catalog, "fp8", "bf16"))
    assert bf16.kv_per_token_layer == 2 * fp8.kv_per_token_layer
    w = Workload(8192, 1024)
    assert bf16.max_batch(w) < 0.6 * fp8.max_batch(w)
    assert float(bf16.step(32, 8704).t_s) > float(fp8.step(32, 8704).t_s)
    m = next(m for m in measurements() if m.id == "inferencex-mi300x-dsr1-8k1k-23")
    assert m.kv_cache == "bf16"
    as_fp8 = predicted_value(m, predict(dataclasses.replace(m, kv_cache=None), catalog))
    assert predicted_value(m, predict(m, catalog)) < 0.95 * as_fp8


def test_a_bad_kv_cache_in_the_measurements_is_one_line_naming_file_and_line(tmp_path):
    f = tmp_path / "m.yaml"
    f.write_text(
        "measurements:\n  - id: x\n    gpu: mi300x\n    model: deepseek-r1\n    kv_cache: fp6\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError) as e:
        measurements(f)
    assert str(e.value).startswith(f"{f}:5: x: kv_cache must be one of bf16, fp8, fp4")
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    "split, says",
    [
        ("{tp: two}", "parallelism tp must be a whole number of GPUs >= 1, not 'two'"),
        ("{tp: 8, ep: 8}", "parallelism has no key 'ep'"),
        ("{tp: 8, dp_attention: 1}", "parallelism dp_attention must be true or false"),
        ("8", "parallelism must be a mapping with tp"),
    ],
)
def test_a_bad_split_in_the_measurements_is_one_line_naming_file_and_line(tmp_path, split, says):
    f = tmp_path / "m.yaml"
    f.write_text(
        "measurements:\n  - id: x\n    gpu: b200\n    model: deepseek-r1\n"
        f"    parallelism: {split}\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError) as e:
        measurements(f)
    assert str(e.value).startswith(f"{f}:5: x: {says}") and "\n" not in str(e.value)


def test_a_bad_inflight_batching_in_the_measurements_is_one_line_naming_file_and_line(tmp_path):
    f = tmp_path / "m.yaml"
    f.write_text(
        "measurements:\n  - id: x\n    gpu: b200\n    model: deepseek-r1\n"
        "    inflight_batching: yes please\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError) as e:
        measurements(f)
    says = "x: inflight_batching must be true or false, not 'yes please'"
    assert str(e.value).startswith(f"{f}:5: {says}") and "\n" not in str(e.value)


def test_the_typical_fitted_point_is_within_fifteen_percent(catalog):
    errs = sorted(
        abs(predicted_value(m, predict(m, catalog)) / m.value - 1)
        for m in measurements()
        if m.role == "fit"
    )
    assert len(errs) >= 20
    assert errs[len(errs) // 2] <= 0.15


#: Measured decode steps twin misses by more than 20 %, with the error at the time of
#: writing (strict, as KNOWN_MISSES).
KNOWN_STEP_MISSES = {
    # MI355X fp4 TP4 EP1 at 64 requests (InferenceX's SGLang profile, never fitted): twin's
    # CDNA4 step is 27.8 ms against 20.1 measured; README limits
    "inferencex-profile-mi355x-dsr1-fp4-tp4-c64",  # +38 %
}


@pytest.mark.parametrize(
    "s", [_case(s, KNOWN_STEP_MISSES, "KNOWN_STEP_MISSES") for s in step_measurements()]
)
def test_the_model_reproduces_each_measured_decode_step(catalog, s):
    """Public runs' decode steps at a known split and batch (never fitted): twin's step at
    the same split, batch and context within 20 %."""
    t = predict_step_ms(s, catalog)
    assert abs(t / s.tpot_ms - 1) <= 0.20, f"{s.label}: model {t:.1f} ms vs {s.tpot_ms:.1f} ms"


def test_the_typical_decode_step_is_within_ten_percent_on_both_precisions(catalog):
    """The step physics holds for fp8 and fp4 alike, narrow and wide expert groups: what
    separates twin's NVL72 fp8 frontier from the measured one is not the step."""
    steps = step_measurements()
    assert {s.precision for s in steps} == {"fp8", "fp4"}
    assert {s.tp for s in steps} >= {4, 32, 48}
    for precision in ("fp8", "fp4"):
        errs = sorted(
            abs(predict_step_ms(s, catalog) / s.tpot_ms - 1)
            for s in steps
            if s.precision == precision
        )
        assert len(errs) >= 5
        assert errs[len(errs) // 2] <= 0.10, precision


def test_the_holdout_is_never_fitted(catalog):
    hold = {m.id for m in measurements() if m.role == "holdout"}
    assert len(hold) >= 5
    for g in catalog.gpus.values():
        assert not hold & set(g.efficiency.fitted_to), g.id


def test_a_precision_the_gpu_lacks_is_a_clear_error(catalog):
    with pytest.raises(ServingError, match="h100 cannot run fp4.*precisions: bf16, fp8"):
        serving.curves(
            catalog.gpu("h100"), catalog.model("llama-3.3-70b"), "fp4", Workload(), catalog=catalog
        )


def test_an_interactivity_out_of_reach_names_the_reachable_range(catalog):
    cs = serving.curves(
        catalog.gpu("h100"), catalog.model("llama-3.3-70b"), "fp8", Workload(), catalog=catalog
    )
    with pytest.raises(
        ServingError, match=r"out of reach: this configuration gives [\d.]+–[\d.]+ tok/s per user"
    ):
        serving.at_interactivity(cs, 5000)


def test_a_model_too_big_for_eight_domains_is_refused(catalog):
    huge = dataclasses.replace(catalog.model("llama-3.1-405b"), id="huge", params_b=50_000.0)
    with pytest.raises(ServingError, match="does not fit"):
        serving.curves(catalog.gpu("h100"), huge, "bf16", Workload(), catalog=catalog)


# --------------------------------------------------------------------------------------
# The fitted factors: few, physical, bounded, shared by the GPUs of one software stack

#: fitted factors that sit at a bound of their physical range — each a sign that the
#: physics misses something the factor absorbs (the README's limits say what). Exact: a
#: refit that moves one off (or onto) a bound must update this list and the README.
AT_BOUND = {
    "b200": {"net"},
    # InferenceX's H200 fp8 prefill pools run at 0.2 of the decode GEMM rate or below
    "h200": {"block_fp8_prefill"},
    # MI355X's decode and prompt attention both at their floors: its measured decode steps
    # and 8k prefill pools are slower than any tuned MLA decode or FMHA kernel (README limits)
    "mi355x": {"attn", "attn_prefill"},
}
#: factors a stack's points cannot pin, held at their typical value (fit_efficiency.HELD)
HELD = {
    "h200": {"mem", "block_fp8"},
    "mi300x": {"block_fp8", "block_fp8_prefill", "attn_prefill"},
    "mi355x": {"block_fp8_prefill"},
}


def test_prompt_attention_runs_at_its_own_kernels_rate(catalog):
    """A prompt's attention (causal MHA over the decompressed K/V: FlashAttention, CK's
    FMHA forward) and a decode step's (absorbed MLA over the latent cache) are different
    kernels, each with its own fraction of peak: halving the prompt kernel's slows an 8k
    prefill chunk and leaves a decode step as it was."""
    gpu, ds = catalog.gpu("mi355x"), catalog.model("deepseek-r1")
    e = gpu.efficiency
    half = dataclasses.replace(e, attn_prefill=(e.attn_prefill or e.attn) / 2)
    slow_gpu = dataclasses.replace(gpu, efficiency=half, efficiency_overrides={})
    fast = Replica(gpu, ds, "fp8", Parallelism(8), catalog)
    slow = Replica(slow_gpu, ds, "fp8", Parallelism(8), catalog)
    chunk = fast.step(0.0, 0.0, 8192.0, 4096.0).t_s
    assert slow.step(0.0, 0.0, 8192.0, 4096.0).t_s > 1.1 * chunk
    assert slow.step(64.0, 2048.0).t_s == pytest.approx(fast.step(64.0, 2048.0).t_s)


def test_every_fitted_factor_lies_inside_its_physical_bounds(catalog):
    for g in catalog.gpus.values():
        for f in FACTORS:
            v = getattr(g.efficiency, f.name)
            if v is None:  # an optional factor (fp4_moe) the stack does not set
                continue
            if not v and f.name == "attn_prefill":  # unset: the prompt runs decode's rate
                continue
            assert f.low <= v <= f.high, f"{g.id}.{f.name} = {v} outside [{f.low}, {f.high}]"


def test_the_factors_at_a_bound_are_the_known_ones(catalog):
    found = {}
    for g in ("b200", "h200", "mi300x", "mi355x"):
        eff = catalog.gpu(g).efficiency
        if bound := set(at_bound(eff)) - HELD.get(g, set()):
            found[g] = bound
    assert found == AT_BOUND


def test_a_factor_at_its_bound_is_flagged():
    eff = Efficiency(mem=0.92, comp=0.5, net=0.6, step_overhead_ms=1.0, attn=0.4, block_fp8=0.5)
    assert "mem" in at_bound(eff) and "comp" not in at_bound(eff)


def test_gpus_of_one_software_stack_share_their_factors(catalog):
    """B200, B300, GB200 and GB300 run one Blackwell CUDA stack: a rack-scale SKU cannot buy its
    fit with a per-step overhead the board does not pay; what differs is silicon."""
    fields = [f.name for f in FACTORS]
    for stack in (("b200", "b300", "gb200", "gb300"), ("h200", "h100"), ("mi300x", "mi325x")):
        first = catalog.gpu(stack[0]).efficiency
        for g in stack[1:]:
            other = catalog.gpu(g).efficiency
            assert [getattr(other, n) for n in fields] == [getattr(first, n) for n in fields], g


def test_deepseeks_block_scaled_fp8_runs_at_its_own_path_speed(catalog):
    """DeepSeek ships fp8 weights with one scale per 128×128 block; on Blackwell that path
    is slower than per-tensor fp8, and the gap shows most at high interactivity."""
    gpu = catalog.gpu("b200")
    assert catalog.model("deepseek-r1").fp8_block_size == 128
    assert gpu.efficiency.block_fp8 < 1.0
    r1 = Replica(gpu, catalog.model("deepseek-r1"), "fp8", Parallelism(8), catalog)
    llama = Replica(gpu, catalog.model("llama-3.3-70b"), "fp8", Parallelism(8), catalog)
    assert r1.path_speed == gpu.efficiency.block_fp8 and llama.path_speed == 1.0
