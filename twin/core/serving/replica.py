"""One model replica on one GPU generation: memory, step time and power, from first principles.

A replica is a model instance on ``n = tp × pp`` GPUs serving with continuous batching.
Each engine step produces one token (plus accepted speculative drafts) for every running
request and pushes a chunk of prompt (prefill) tokens. Its time is a sum of operator
rooflines, each divided by an efficiency fitted to measurements (``Efficiency`` in the GPU
catalog), plus the fixed costs that rule small batches and high interactivity:

* linear layers: ``max(weight bytes / (η_mem·HBM_BW), GEMM FLOPs / (η_comp·F_peak))`` — for
  MoE only the experts the step's tokens touch are read, ``1 − (1 − k/E)^tokens`` of them;
  a GEMM with fewer rows than the tensor-core tile (``gemm_tile_m``) still pays a full tile,
  so a MoE expert fed two tokens costs as much compute as one fed 64;
* attention: ``max(KV bytes / (η_mem·HBM_BW), attention FLOPs / (η_attn·F_bf16·speedup))``,
  a sliding-window layer reading and attending to at most its window of keys;
* collectives, each ``α + β·bytes``: tensor-parallel all-reduces and the MoE dispatch and
  combine all-to-alls, with α and β of the scale-up domain (NVLink, Infinity Fabric) or,
  once a group leaves it, of the scale-out fabric; the all-to-all's α grows with its peers;
* per layer, ``kernels × kernel_gap_us``: launches and synchronisation gaps between kernels
  (what CUDA/HIP graphs leave), the floor of a step at batch 1;
* multi-token prediction: ``d`` draft tokens per request per step, each accepted with a
  probability that falls with depth; drafting costs one MTP layer per draft;
* a fixed per-step and a per-sequence overhead (scheduling, sampling).

The module is pure numpy: the factory engine precomputes step-time tables from it.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import cached_property
from statistics import NormalDist
from types import MappingProxyType

import numpy as np

from twin.core.catalog import GPU, LLM, Catalog, Efficiency, load_catalog
from twin.core.errors import TwinError

#: Largest number of concurrent requests one scheduler runs (serving stacks cap their
#: running batch; beyond this the curve is flat anyway: compute-bound). With data-parallel
#: attention every GPU of a stage runs its own scheduler, so the cap is per GPU there.
MAX_BATCH = 4096
#: The standard normal's 99th percentile (a lognormal prompt length's p99).
_Z99 = NormalDist().inv_cdf(0.99)


class ServingError(TwinError):
    """A configuration that cannot serve: it does not fit, or cannot reach a target."""


@dataclass(frozen=True)
class Parallelism:
    """How a replica is split: ``tp`` GPUs per pipeline stage, ``pp`` stages.

    For a MoE model the experts of a stage are spread over its ``tp`` GPUs (expert
    parallelism, EP = tp) — or, with ``tp_experts``, every expert's matrices are split over
    them like a dense layer's (EP1: an all-reduce after the experts, no dispatch and
    combine); ``dp_attention`` runs attention data-parallel (each GPU its own requests,
    whole KV of those requests) instead of tensor-parallel. ``mtp`` is the number of
    speculative draft tokens per step from the model's own multi-token-prediction head.
    """

    tp: int
    pp: int = 1
    dp_attention: bool = False
    mtp: int = 0
    tp_experts: bool = False

    @property
    def gpus(self) -> int:
        return self.tp * self.pp

    def label(self, moe: bool) -> str:
        if moe and self.tp_experts:
            core = f"TP{self.tp}-EP1"
        elif moe:
            core = f"{'DP' if self.dp_attention else 'TP'}{self.tp}-EP{self.tp}"
        else:
            core = f"TP{self.tp}"
        mtp = "" if not self.mtp else ("+MTP" if self.mtp == 1 else f"+MTP{self.mtp}")
        return core + (f"xPP{self.pp}" if self.pp > 1 else "") + mtp

    def short(self, moe: bool) -> str:
        """The decode side of a disaggregated label: ``DP-attention EP48+MTP3``."""
        if moe and self.tp_experts:
            core = f"TP{self.tp} EP1"
        elif moe:
            core = (
                f"{'DP-attention ' if self.dp_attention else 'TP' + str(self.tp) + ' '}EP{self.tp}"
            )
        else:
            core = f"TP{self.tp}"
        mtp = "" if not self.mtp else ("+MTP" if self.mtp == 1 else f"+MTP{self.mtp}")
        return core + (f"xPP{self.pp}" if self.pp > 1 else "") + mtp


@dataclass(frozen=True)
class Workload:
    """Mean prompt (ISL) and output (OSL) lengths of the requests, in tokens, the spread
    of output lengths (coefficient of variation; 0 = every request the same) and, where
    the prompts are not natural text, how often a speculative draft is accepted."""

    isl: int = 1024
    osl: int = 1024
    osl_cv: float = 0.0
    #: how often these prompts' first MTP draft is accepted (None: the catalog's figure
    #: for natural text; benchmark suites that send random tokens accept fewer drafts)
    mtp_acceptance: float | None = None
    #: spread of prompt lengths (coefficient of variation of a lognormal of mean ``isl``;
    #: 0 = every prompt the same): it sets the TTFT tail (``prompt_p99``)
    isl_cv: float = 0.0
    #: output tokens the stack reserves KV for when it admits a request: TensorRT-LLM's
    #: default capacity scheduler (GUARANTEED_NO_EVICT) admits one only when its prompt
    #: plus its max_tokens fit, so a long maximum caps the batch (0: KV taken as it grows)
    reserve_output: int = 0
    #: decode steps the stack runs per scheduling pass (vLLM V0's ``num_scheduler_steps``,
    #: multi-step scheduling): the host's work — scheduling, input preparation, per-sequence
    #: bookkeeping — is done once per this many steps, not every step (1: every step)
    scheduler_steps: int = 1
    #: TensorRT-LLM's in-flight batching: a step runs the prompts waiting (context requests,
    #: whole, up to the step's token budget) together with the running requests' decode
    #: tokens, and with attention DP each rank schedules its own requests within its own
    #: token budget (``max_num_tokens`` per rank). None: as the catalog's
    #: ``mixed_prefill_batches`` says for the model (the public recipes' stacks); False:
    #: prompts in steps of their own
    inflight_batching: bool | None = None

    @property
    def admitted_context(self) -> float:
        """KV a running request holds for admission: its mean context, or its prompt plus
        the reserved output where the stack reserves more than that."""
        return max(self.mean_context, float(self.isl + self.reserve_output))

    @property
    def prompt_p99(self) -> float:
        """The 99th-percentile prompt: a lognormal of mean ``isl`` and CV ``isl_cv``."""
        if self.isl_cv <= 0:
            return float(self.isl)
        s2 = math.log1p(self.isl_cv**2)
        return float(math.exp(math.log(self.isl) - s2 / 2 + _Z99 * math.sqrt(s2)))

    @property
    def mean_context(self) -> float:
        """Context of a running request averaged over the batch: prompt + half its output
        when all outputs are alike; a long request stays in the batch longer, so with a
        spread the batch holds ``isl + E[o²] / (2 E[o]) = isl + osl·(1 + cv²)/2``."""
        return self.isl + self.osl * (1.0 + self.osl_cv**2) / 2


@dataclass(frozen=True)
class StepCost:
    """Time of one engine step and what the GPUs were doing (arrays or floats)."""

    t_s: np.ndarray
    compute_busy: np.ndarray  # fraction of the step a GPU spends at its achieved FLOP rate
    memory_busy: np.ndarray  # fraction of the step a GPU spends streaming HBM


def mtp_tokens_per_step(drafts: int, acceptance: float, decay: float) -> float:
    """Output tokens a request gains per step with ``drafts`` speculative tokens: draft i
    is kept only if every earlier one was, and is itself accepted with ``acceptance·decay^(i−1)``."""
    total, keep = 1.0, 1.0
    for i in range(drafts):
        keep *= acceptance * decay**i
        total += keep
    return total


def weight_bytes(model: LLM, precision: str, constants) -> tuple[float, float]:
    """Bytes of a model's (non-expert, expert) weights served in ``precision``.

    A model whose experts ship natively in 4 bits (gpt-oss: MXFP4) keeps them in 4 bits
    whatever the precision of the rest (the serving stacks load them as they are); the
    layout check sizes a replica with this same function."""
    bpp = constants["bytes_per_param"][precision]
    expert_bpp = (
        min(bpp, constants["mxfp4_bytes_per_param"]) if model.native_precision == "fp4" else bpp
    )
    expert = model.expert_params_b * 1e9 * expert_bpp
    dense_bpp = constants["bytes_per_param"][dense_precision(model, precision, constants)]
    return (model.params_b - model.expert_params_b) * 1e9 * dense_bpp, expert


def dense_precision(model: LLM, precision: str, constants) -> str:
    """The precision of a model's non-expert weights (attention, dense and shared layers):
    served in its native precision, a checkpoint that names the precision of its other
    layers keeps them in it (gpt-oss: BF16 beside MXFP4 experts); the other 4-bit
    checkpoints of MoE models quantise only the expert GEMMs and keep the rest in
    ``fp4_moe_dense_precision`` (fp8); every other model runs wholly in ``precision``."""
    if model.native_dense_precision and precision == model.native_precision:
        return model.native_dense_precision
    if precision == "fp4" and model.is_moe:
        return str(constants["fp4_moe_dense_precision"])
    return precision


def embedding_bytes(model: LLM, precision: str, constants) -> float:
    """Bytes of the input embedding table, which a step gathers a row per token instead of
    streaming (0 when the catalog gives no vocabulary, or the LM head shares the table)."""
    if not model.vocab or model.tied_embeddings:
        return 0.0
    bpp = constants["bytes_per_param"][dense_precision(model, precision, constants)]
    return float(model.vocab * model.hidden * bpp)


def with_kv_cache(catalog: Catalog, precision: str, kv_cache: str) -> Catalog:
    """The catalog with ``precision``'s KV cache held in ``kv_cache`` instead (a run whose
    stack keeps a BF16 cache beside fp8 weights, where twin's default is the cache the
    stacks quantise to, ``kv_bytes``): more bytes per token to read each step and to hold."""
    kv = dict(catalog.constants["kv_bytes"])
    kv[precision] = kv[kv_cache]
    return dataclasses.replace(
        catalog, constants=MappingProxyType({**catalog.constants, "kv_bytes": kv})
    )


def ep_imbalance(gpu: GPU, model: LLM, precision: str, par: Parallelism, constants) -> float:
    """How much more expert work the busiest rank of an expert-parallel group gets than
    the mean (``(max − mean) / mean`` of the tokens it receives): routing favours hot
    experts, so the hottest rank bounds every MoE layer.

    The catalog holds the ratio measured on one group width, balanced (redundant hot
    experts, EPLB) and not. Other widths scale as the largest of ``g`` ranks' loads, each
    the sum of ``E/g`` experts' skewed loads: ``∝ √(g/E) · √(2 ln g)``. Groups run balanced
    except on the path the catalog says has none: a vendor's fp8 expert group wider than 8
    inside one scale-up domain that drafts with MTP (TensorRT-LLM's NVL72 WIDEEP without
    EPLB; SGLang's wide-EP recipes balance and draft none there)."""
    g = par.tp
    if not model.is_moe or par.tp_experts or g <= 1:
        return 0.0
    rule = constants["ep_load_imbalance"]
    g0 = float(rule["measured_ep"])
    scale = math.sqrt(g * math.log(g) / (g0 * math.log(g0)))
    unbalanced = wide_ep_path(gpu, precision, par, rule["unbalanced_paths"])
    return float(rule["unbalanced" if unbalanced else "balanced"]) * scale


def wide_ep_path(gpu: GPU, precision: str, par: Parallelism, paths) -> bool:
    """Whether a split runs a vendor's rack-scale wide-EP path in a precision ``paths``
    lists for that vendor: an expert group wider than 8 inside one scale-up domain that
    drafts with MTP (TensorRT-LLM's WIDEEP on NVL72; groups spanning 8-GPU boards over the
    fabric, and the NVL72 recipes that draft none, are SGLang/DeepEP deployments)."""
    in_domain = 8 < par.tp <= gpu.scale_up_domain_gpus
    return in_domain and par.mtp > 0 and precision in paths.get(gpu.vendor, ())


def dispatch_bytes(gpu: GPU, precision: str, par: Parallelism, constants) -> float:
    """Bytes per hidden element a token carries in the MoE dispatch all-to-all: quantised
    before it is sent to the precision the vendor's stack sends for the experts'
    precision (``dispatch_precision``; a vendor the table lacks sends the experts' own),
    except on a path that quantises only after the all-to-all (``bf16_dispatch_paths``),
    which sends BF16."""
    if wide_ep_path(gpu, precision, par, constants["bf16_dispatch_paths"]):
        return float(constants["dispatch_bytes"]["bf16"])
    sent = constants["dispatch_precision"].get(gpu.vendor, {}).get(precision, precision)
    return float(constants["dispatch_bytes"][sent])


def path_speed(eff: Efficiency, model: LLM, precision: str) -> float:
    """Speed of a precision's kernel path relative to per-tensor fp8 on the same stack."""
    if precision == "fp4":
        # a stack whose fp4 MoE kernels matured apart from its dense fp4 GEMMs says so
        return eff.fp4_moe if (model.is_moe and eff.fp4_moe is not None) else eff.fp4
    if precision == "fp8" and model.fp8_block_size:
        return eff.block_fp8
    return 1.0


def exp_rate_tera(gpu: GPU, constants) -> float:
    """Exponentials per second (×1e12) of a GPU's special-function units, times the
    catalog's ``attention_speedup``; a GPU the table does not list gets H100's ratio of
    bf16 tensor FLOPs to exponentials."""
    table = constants["attention_exp_tera_per_s"]
    if gpu.id in table:
        base = float(table[gpu.id])
    else:
        base = gpu.peak_tflops.get("bf16", min(gpu.peak_tflops.values())) * (
            float(table["h100"]) / 989.0
        )
    return base * gpu.attention_speedup


class Replica:
    """The physics of one (GPU, model, precision, parallelism): memory, step time, power."""

    def __init__(
        self, gpu: GPU, model: LLM, precision: str, par: Parallelism, catalog: Catalog | None = None
    ):
        catalog = catalog or load_catalog()
        k = self._size(gpu, model, precision, par, catalog, gpu.efficiency_for(model.id, precision))
        moe = model.is_moe

        # --- rates ----------------------------------------------------------------------
        self.hbm_bytes_s = gpu.hbm_tb_s * 1e12
        # the precision's software path relative to per-tensor fp8 on this vendor's stack:
        # fp4 kernels (``fp4``) and block-scaled fp8 kernels (``block_fp8``, DeepSeek's
        # format) differ in GEMM rate, weight streaming and the fixed time of their kernels
        # The experts of a MoE model run the precision's path; its non-expert layers run
        # the checkpoint's dense precision (fp8 in a 4-bit MoE checkpoint), each at its speed
        self.path_speed = path_speed(self.eff, model, precision)
        # dense GEMMs run at the clock the board's power limit allows under them
        # (``gemm_clock``); attention kernels, kernel gaps and launches, far from saturating
        # the tensor cores, draw less and run at the boost clock
        loaded = gpu.gemm_clock
        self.flops_s = gpu.peak_tflops[precision] * 1e12 * self.path_speed * loaded
        self.mem_eff = min(max(self.eff.mem, 0.95), self.eff.mem * self.path_speed)  # ≤ 95 % of HBM
        dprec = dense_precision(model, precision, k)
        self.dense_path_speed = path_speed(self.eff, model, dprec)
        self.dense_flops_s = gpu.peak_tflops.get(dprec, gpu.peak_tflops[precision]) * 1e12
        self.dense_flops_s *= self.dense_path_speed * loaded
        self.dense_mem_eff = min(max(self.eff.mem, 0.95), self.eff.mem * self.dense_path_speed)
        # attention math runs in FP8 over an FP8 KV cache where the GPU has it (FP8 FMHA and
        # FP8 MLA kernels of TensorRT-LLM/FlashInfer), else BF16
        low = "fp8" if precision in ("fp8", "fp4") and "fp8" in gpu.peak_tflops else "bf16"
        # a vendor whose stacks keep the queries in BF16 computes attention at the BF16 rate
        low = k["attention_precision"].get(gpu.vendor, low) if low == "fp8" else low
        self.attn_flops_s = gpu.peak_tflops.get(low, gpu.peak_tflops[precision]) * 1e12
        self.prefill_attn_flops_s = self.attn_flops_s
        # softmax: one exponential per (query, key, head) on the special-function units
        self.exp_s = exp_rate_tera(gpu, k) * 1e12
        self.active_params = model.active_params_b * 1e9
        if moe:
            self.expert_active = (
                model.expert_params_b * 1e9 * model.experts_per_token / model.experts
            )
        else:
            self.expert_active = 0.0
        self.dense_active = self.active_params - self.expert_active
        self.tile_m = float(k["gemm_tile_m"])
        kernels = k["kernels_per_layer"]
        # the model's own count where its serving code differs from the typical layer
        self.kernels_per_layer = float(
            model.kernels_per_layer or (kernels["moe"] if moe else kernels["dense"])
        )
        # the kernels of the dense part run the dense path, the MoE part's the expert path
        dense_k = (
            min(float(kernels["dense"]), self.kernels_per_layer) if moe else self.kernels_per_layer
        )
        self.kernel_time_weight = (
            dense_k / self.dense_path_speed + (self.kernels_per_layer - dense_k) / self.path_speed
        )
        self.act_bytes = k["activation_bytes"]
        self.dispatch_bytes = dispatch_bytes(gpu, precision, par, k)
        # a prompt's GEMMs on a recipe whose experts run block-scaled fp8 (DeepSeek's fp8)
        block_experts = moe and precision == "fp8" and bool(model.fp8_block_size)
        self.prefill_gemm = self.eff.block_fp8_prefill if block_experts else 1.0
        self.mem_clock_sens = k["memory_clock_sensitivity"]
        self.power_mem_weight = k["power_mem_weight"]
        self.power_gamma = k["power_gamma"]
        self.power_floor = k["power_active_floor"]
        self.ep_imbalance = ep_imbalance(gpu, model, precision, par, k)
        self.clock_power_exp = k["clock_power_exponent"]

        # --- the collective fabric of one stage: α (latency) and β (1 / bandwidth) ---
        up_bw, out_bw = gpu.scale_up_gb_s * 1e9, gpu.scale_out_gb_s * 1e9
        domain = gpu.scale_up_domain_gpus
        peer_s = k["a2a_peer_us"] * 1e-6
        if self.n_stage <= domain:
            self.inv_link_bw = 1 / up_bw
            self.coll_latency_s = k["scale_up_latency_us"] * 1e-6
        else:  # the part of the traffic that leaves the domain rides the slower fabric
            cross = 1 - domain / self.n_stage
            self.inv_link_bw = (1 - cross) / up_bw + cross / out_bw
            self.coll_latency_s = k["scale_out_latency_us"] * 1e-6
        self.a2a_latency_s = self.coll_latency_s + peer_s * (self.n_stage - 1)
        self.p2p_latency_s = k["scale_out_latency_us"] * 1e-6 if par.pp > 1 else 0.0
        #: output tokens a request gains per decode step (speculation accepts some drafts)
        self.tokens_per_step = mtp_tokens_per_step(
            par.mtp, k["mtp_acceptance"], k["mtp_acceptance_decay"]
        )
        self.inv_p2p_bw = 1 / out_bw if self.n > domain else 1 / up_bw

    def _size(
        self,
        gpu: GPU,
        model: LLM,
        precision: str,
        par: Parallelism,
        catalog: Catalog,
        eff: Efficiency,
    ) -> dict:
        """What the GPUs hold: weights and the KV cache per token, sharded by ``par``.

        Shared with the engine's legacy step function, whose rates differ but whose
        memory is the same; returns the catalog constants for the rates that follow."""
        if precision not in gpu.peak_tflops:
            raise ServingError(
                f"{gpu.id} cannot run {precision} (it has no {precision} tensor cores); "
                f"precisions: {', '.join(gpu.precisions)}"
            )
        k = catalog.constants
        self.gpu, self.model, self.precision, self.par = gpu, model, precision, par
        self.eff: Efficiency = eff
        self.n = par.gpus
        self.n_stage = par.tp
        moe = model.is_moe

        # --- bytes of weights -------------------------------------------------------
        self.dense_bytes, self.expert_bytes = weight_bytes(model, precision, k)
        self.weight_bytes = self.expert_bytes + self.dense_bytes
        # what a step streams of them: all but the input embedding table (gathered by row)
        self.dense_stream_bytes = self.dense_bytes - embedding_bytes(model, precision, k)
        # non-expert weights: split over the stage's GPUs, or replicated with DP attention
        dense_shard = 1 if (moe and par.dp_attention) else par.tp
        self.weights_per_gpu = (
            self.dense_bytes / (par.pp * dense_shard) + self.expert_bytes / self.n
        )

        # --- KV cache ---------------------------------------------------------------
        kv_b = k["kv_bytes"][precision]
        if model.attention == "mla":
            self.kv_per_token_layer = (model.kv_lora_rank + model.qk_rope_dim) * kv_b
            kv_shard = par.tp if par.dp_attention else 1  # the latent is shared by all heads
            # absorbed MLA decode: QK over (latent + rope), AV over the latent, every head
            self.attn_flops_per_ctx = (
                2 * model.heads * ((model.kv_lora_rank + model.qk_rope_dim) + model.kv_lora_rank)
            )
            self.prefill_attn_flops_per_ctx = 2 * model.heads * (model.head_dim + model.v_head_dim)
        else:
            self.kv_per_token_layer = 2 * model.kv_heads * model.head_dim * kv_b
            kv_shard = min(par.tp, model.kv_heads) if not par.dp_attention else par.tp
            self.attn_flops_per_ctx = 2 * model.heads * (model.head_dim + model.v_head_dim)
            self.prefill_attn_flops_per_ctx = self.attn_flops_per_ctx
        self.kv_shard = kv_shard
        self.full_layers = model.layers - model.sliding_layers
        usable = gpu.hbm_gb * 1e9 * (1 - k["hbm_reserve_fraction"]) - self.weights_per_gpu
        self.kv_bytes_free_per_gpu = max(0.0, usable)
        return k

    # ----------------------------------------------------------------------------------
    @property
    def label(self) -> str:
        return self.par.label(self.model.is_moe)

    def attended(self, ctx):
        """Keys a query attends to, averaged over the layers: ``ctx`` in full-attention
        layers, at most the window in sliding-window ones (gpt-oss: every other layer)."""
        ctx = np.asarray(ctx, dtype=float)
        m = self.model
        if not m.sliding_layers:
            return ctx
        window = np.minimum(ctx, m.sliding_window)
        return (self.full_layers * ctx + m.sliding_layers * window) / m.layers

    def kv_seq_bytes(self, ctx):
        """KV bytes of one sequence with ``ctx`` tokens of context (whole replica)."""
        ctx = np.asarray(ctx, dtype=float)
        sliding = (
            np.minimum(ctx, self.model.sliding_window) * self.model.sliding_layers
            if self.model.sliding_layers
            else 0.0
        )
        return self.kv_per_token_layer * (self.full_layers * ctx + sliding)

    @cached_property
    def kv_capacity_tokens(self) -> float:
        """Tokens of context the replica can hold (the full-attention-layer count)."""
        # each GPU holds 1/kv_shard of every token's KV (heads split, or whole requests
        # spread over the stage with DP attention) for the 1/pp of the layers in its stage
        per_token = self.kv_per_token_layer * self.model.layers
        return self.kv_bytes_free_per_gpu * self.kv_shard * self.par.pp / per_token

    @property
    def fits(self) -> bool:
        return self.kv_bytes_free_per_gpu > 0 and self.kv_capacity_tokens >= 1

    def max_batch(self, workload: Workload) -> int:
        """``B_max``: the requests whose KV fits at the workload's mean context (or at the
        prompt plus the reserved output, where the stack reserves it at admission)."""
        ctx = workload.admitted_context
        seq = float(self.kv_seq_bytes(ctx)) / self.model.layers
        per_tok = self.kv_per_token_layer
        eq_tokens = seq / per_tok if per_tok else ctx
        cap = MAX_BATCH * (self.n_stage if self.par.dp_attention else 1)
        return int(min(cap, self.kv_capacity_tokens // max(eq_tokens, 1.0)))

    # ----------------------------------------------------------------------------------
    def step(
        self,
        batch,
        context,
        prefill_tokens=0.0,
        prefill_context=None,
        clock: float = 1.0,
        host_steps: int = 1,
    ) -> StepCost:
        """One engine step for ``batch`` running requests of mean ``context`` plus
        ``prefill_tokens`` prompt tokens (mean causal context ``prefill_context``).

        Vectorised: every argument may be an array. ``clock`` < 1 is a power-capped or
        thermally throttled GPU: compute slows with the clock, memory streaming much less.
        ``host_steps`` > 1: the stack schedules once per that many steps (multi-step
        scheduling), so each step carries that share of the host's work.
        """
        e, par, m = self.eff, self.par, self.model
        B = np.asarray(batch, dtype=float)
        b = B / par.pp  # one micro-batch per pipeline stage
        q = 1 + par.mtp  # query tokens per running request (1 + speculative drafts)
        p = np.asarray(prefill_tokens, dtype=float) / par.pp
        pctx = np.asarray(context if prefill_context is None else prefill_context, dtype=float)
        T = b * q + p
        hbm = self.hbm_bytes_s * (1 - self.mem_clock_sens * (1 - clock))
        mem_rate, dense_mem_rate = self.mem_eff * hbm, self.dense_mem_eff * hbm
        lin_rate, dense_rate = e.comp * self.flops_s * clock, e.comp * self.dense_flops_s * clock
        att_rate = e.decode_attn * self.attn_flops_s * clock
        # prompt tokens' attention is its own kernel (FMHA over the decompressed K/V)
        pf_att_rate = e.prefill_attn * self.prefill_attn_flops_s * clock
        g = self.n_stage
        # tokens one GPU's GEMMs see: all T with tensor-parallel attention, T/g with DP attention
        t_gemm = T / g if (m.is_moe and par.dp_attention) else T

        # linear layers (per GPU of a stage); a GEMM shorter than a tile pays a whole tile
        if m.is_moe:
            touched = 1.0 - np.power(1.0 - m.experts_per_token / m.experts, T)
            dense_shard = 1 if par.dp_attention else par.tp
            # expert matrices stream at the grouped GEMM's rate (η_moe of a dense GEMM's)
            dense_b = self.dense_stream_bytes / (par.pp * dense_shard)
            expert_b = touched * self.expert_bytes / (self.n * e.moe)
            dense_flops = (
                2.0
                * self.dense_active
                * np.maximum(t_gemm, self.tile_m)
                / (1 if par.dp_attention else g)
            )
            # the hottest rank's experts get (1 + imbalance)× the mean rows; the step waits for it
            rows = T * m.experts_per_token / m.experts * (1.0 + self.ep_imbalance)
            per_expert_rows = np.maximum(rows, touched * self.tile_m)
            expert_flops = (
                2.0 * (self.expert_active * m.experts / m.experts_per_token) * per_expert_rows / g
            )
            # the dense layers and the experts are separate kernels, each on its roofline
            # the prompt tokens' share of the GEMMs runs the recipe's prefill rate
            pf_share = np.divide(p, T, out=np.zeros_like(T), where=T > 0)
            slow = 1.0 + pf_share * (1.0 / self.prefill_gemm - 1.0)
            dm, dc = dense_b / dense_mem_rate, dense_flops / par.pp / dense_rate * slow
            em, ec = expert_b / mem_rate, expert_flops / par.pp / lin_rate * slow
            t_lin_mem, t_lin_comp = dm + em, dc + ec
            t_lin = np.maximum(dm, dc) + np.maximum(em, ec)
        else:
            lin_bytes = np.full_like(T, self.dense_stream_bytes / self.n)
            lin_flops = 2.0 * self.active_params / par.pp * np.maximum(T, self.tile_m) / g
            t_lin_mem, t_lin_comp = lin_bytes / mem_rate, lin_flops / lin_rate
            t_lin = np.maximum(t_lin_mem, t_lin_comp)

        # attention (decode reads the KV of every running request; prefill is compute)
        kv_bytes = b * self.kv_seq_bytes(context) / (par.pp * self.kv_shard)
        layers_s = m.layers / par.pp
        # keys each query attends to (a sliding-window layer reads at most its window)
        seen, pf_seen = self.attended(context), self.attended(pctx)
        dec_att = layers_s * b * q * self.attn_flops_per_ctx * seen / g
        pf_att = layers_s * p * self.prefill_attn_flops_per_ctx * pf_seen / g
        exps = layers_s * m.heads * (b * q * seen + p * pf_seen) / g
        # the special-function units run at their own rate: η_attn describes the attention
        # kernels' tensor-core side (tiling, pipeline bubbles), not the SFU's throughput
        exp_rate = self.exp_s * clock
        t_att_mem = kv_bytes / mem_rate
        # pipelined kernels (FlashAttention-3/4's ping-pong) overlap one tile's softmax with
        # another's matmuls: the slower of the two bounds the attention
        t_att_comp = np.maximum(dec_att / att_rate + pf_att / pf_att_rate, exps / exp_rate)
        t_att = np.maximum(t_att_mem, t_att_comp)

        # collectives inside a stage, α + β·bytes each, per layer
        per_layer = np.zeros_like(T)
        if g > 1:
            inv_bw = self.inv_link_bw / e.net
            ar = self.coll_latency_s + 2.0 * (g - 1) / g * T * m.hidden * self.act_bytes * inv_bw
            if m.is_moe and not par.tp_experts:
                sent = (T / g) * m.experts_per_token * m.hidden * (g - 1) / g
                moved = sent * (self.dispatch_bytes + self.act_bytes) * inv_bw
                moved = moved * (1.0 + self.ep_imbalance)  # the hottest rank receives the most
                # a prefill runs as two micro-batches (DeepSeek's prefill, SGLang's two-batch
                # overlap): one's dispatch and combine move while the other's GEMMs run
                moved = moved - pf_share * np.minimum(moved, t_lin / layers_s)
                a2a = 2 * self.a2a_latency_s + moved
                per_layer = a2a + (0.0 if par.dp_attention else ar)
            else:
                per_layer = 2 * ar
        # fixed per-layer cost: kernel launches and the gaps between them; latency-bound
        # kernels and their tails run at the SM clock, so a capped GPU pays more of it
        per_layer = per_layer + self.kernel_time_weight * e.layer_overhead_us * 1e-6 / clock
        t_stage = t_lin + t_att + layers_s * per_layer
        if par.mtp:  # each draft runs the MTP module: about one more layer of this stage
            t_stage = t_stage * (1 + par.mtp / layers_s)
        p2p = (par.pp - 1) * (self.p2p_latency_s + T * m.hidden * self.act_bytes * self.inv_p2p_bw)
        # host work per sequence (sampling, bookkeeping): one scheduler per DP-attention rank
        ranks = g if (m.is_moe and par.dp_attention) else 1
        host = e.step_overhead_ms * 1e-3 + e.seq_overhead_us * 1e-6 * B * q / ranks
        t = par.pp * t_stage + p2p + host / max(1, host_steps)
        busy = par.pp / t
        comp_busy = np.minimum(1.0, (t_lin_comp + t_att_comp) * busy)
        mem_busy = np.minimum(1.0, (t_lin_mem + t_att_mem) * busy)
        # between and inside latency-bound kernels a serving GPU keeps its clocks and draws
        # part of its dynamic range: count that share of the rest of the step as compute
        rest = np.maximum(0.0, 1.0 - comp_busy - self.power_mem_weight * mem_busy)
        comp_busy = np.minimum(1.0, comp_busy + self.power_floor * rest)
        return StepCost(t, comp_busy, mem_busy)

    def prefill_time_s(self, tokens, clock: float = 1.0):
        """Time to prefill one prompt of ``tokens`` on an otherwise idle replica."""
        tokens = np.asarray(tokens, dtype=float)
        return self.step(0.0, 0.0, tokens, tokens / 2, clock).t_s

    def power_w(self, compute_busy, memory_busy, clock: float = 1.0):
        """Board power per GPU: ``P_idle + (P_max − P_idle)·u^γ`` with u from the step mix.

        A clock below 1 (cap, throttle) lowers dynamic power roughly as clock^2.5.
        """
        u = np.minimum(
            1.0, np.asarray(compute_busy) + self.power_mem_weight * np.asarray(memory_busy)
        )
        dyn = (self.gpu.tdp_w - self.gpu.idle_w) * np.power(u, self.power_gamma)
        return self.gpu.idle_w + dyn * clock**self.clock_power_exp

    def clock_for_power_cap(self, cap_w: float, compute_busy: float, memory_busy: float) -> float:
        """The clock (0.2–1) at which this load draws at most ``cap_w`` per GPU."""
        full = float(self.power_w(compute_busy, memory_busy, 1.0))
        if cap_w >= full:
            return 1.0
        dyn_full = full - self.gpu.idle_w
        if dyn_full <= 0:
            return 1.0
        ratio = max(0.0, cap_w - self.gpu.idle_w) / dyn_full
        return max(0.2, ratio ** (1 / self.clock_power_exp))
