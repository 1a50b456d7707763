"""The serving model: one model replica on one GPU generation, from first principles.

A replica is a model instance on ``n = tp × pp`` GPUs serving with continuous batching.
Each engine step produces one token for every running request and pushes a chunk of
prompt (prefill) tokens. Its time is a sum of operator rooflines, each divided by an
efficiency fitted to measurements (``Efficiency`` in the GPU catalog):

* linear layers: ``max(weight bytes / (η_mem·HBM_BW), 2·P_active·tokens / (η_comp·F_peak))``
  — for MoE only the experts the step's tokens touch are read,
  ``1 − (1 − k/E)^tokens`` of them;
* attention: ``max(KV bytes / (η_mem·HBM_BW), attention FLOPs / (η_comp·F_bf16))``;
* communication over the scale-up domain (or the scale-out fabric when a group spans
  domains): tensor-parallel all-reduces and expert-parallel all-to-alls per layer,
  ``bytes / (η_net·link_BW) + latency``. This is where a 72-GPU NVL72 domain beats an
  8-GPU HGX board for wide expert parallelism;
* a fixed per-step overhead and a per-sequence overhead (scheduling, sampling).

This refines MODEL.md's ``t_step ≈ max(t_mem, t_comp) + t_comm + t_overhead`` operator by
operator, as NVIDIA's AIConfigurator does; it reduces to it when one term dominates.

The module is a pure numpy library: the factory engine precomputes step-time tables from
it once per configuration and interpolates in its tick.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from twin.core.catalog import GPU, LLM, Catalog, Efficiency, load_catalog
from twin.core.errors import TwinError

#: Largest number of concurrent requests one replica schedules (serving stacks cap their
#: running batch; beyond this the curve is flat anyway: compute-bound).
MAX_BATCH = 4096
_BATCH_POINTS = 64


class ServingError(TwinError):
    """A configuration that cannot serve: it does not fit, or cannot reach a target."""


@dataclass(frozen=True)
class Parallelism:
    """How a replica is split: ``tp`` GPUs per pipeline stage, ``pp`` stages.

    For a MoE model the experts of a stage are spread over its ``tp`` GPUs (expert
    parallelism, EP = tp); ``dp_attention`` runs attention data-parallel (each GPU its own
    requests, whole KV of those requests) instead of tensor-parallel.
    """

    tp: int
    pp: int = 1
    dp_attention: bool = False
    mtp: int = 0  # speculative draft tokens per step from the model's own MTP head

    @property
    def gpus(self) -> int:
        return self.tp * self.pp

    def label(self, moe: bool) -> str:
        if moe:
            core = f"{'DP' if self.dp_attention else 'TP'}{self.tp}-EP{self.tp}"
        else:
            core = f"TP{self.tp}"
        return core + (f"xPP{self.pp}" if self.pp > 1 else "") + ("+MTP" if self.mtp else "")


@dataclass(frozen=True)
class Workload:
    """Mean prompt (ISL) and output (OSL) lengths of the requests, in tokens."""

    isl: int = 1024
    osl: int = 1024

    @property
    def mean_context(self) -> float:
        """Context of a running request averaged over its life (prompt + half its output)."""
        return self.isl + self.osl / 2


@dataclass(frozen=True)
class StepCost:
    """Time of one engine step and what the GPUs were doing (arrays or floats)."""

    t_s: np.ndarray
    compute_busy: np.ndarray  # fraction of the step a GPU spends at its achieved FLOP rate
    memory_busy: np.ndarray  # fraction of the step a GPU spends streaming HBM


class Replica:
    """The physics of one (GPU, model, precision, parallelism): memory, step time, power."""

    def __init__(self, gpu: GPU, model: LLM, precision: str, par: Parallelism, catalog: Catalog | None = None):
        catalog = catalog or load_catalog()
        if precision not in gpu.peak_tflops:
            raise ServingError(
                f"{gpu.id} cannot run {precision} (it has no {precision} tensor cores); "
                f"precisions: {', '.join(gpu.precisions)}"
            )
        k = catalog.constants
        self.gpu, self.model, self.precision, self.par = gpu, model, precision, par
        self.eff: Efficiency = gpu.efficiency_for(model.id, precision)
        self.n = par.gpus
        self.n_stage = par.tp
        moe = model.is_moe

        # --- bytes of weights -------------------------------------------------------
        bpp = k["bytes_per_param"][precision]
        expert_bpp = min(bpp, k["mxfp4_bytes_per_param"]) if model.native_precision == "fp4" else bpp
        self.expert_bytes = model.expert_params_b * 1e9 * expert_bpp
        self.dense_bytes = (model.params_b - model.expert_params_b) * 1e9 * bpp
        self.weight_bytes = self.expert_bytes + self.dense_bytes
        # non-expert weights: split over the stage's GPUs, or replicated with DP attention
        dense_shard = 1 if (moe and par.dp_attention) else par.tp
        self.weights_per_gpu = self.dense_bytes / (par.pp * dense_shard) + self.expert_bytes / self.n

        # --- KV cache ---------------------------------------------------------------
        kv_b = k["kv_bytes"][precision]
        if model.attention == "mla":
            self.kv_per_token_layer = (model.kv_lora_rank + model.qk_rope_dim) * kv_b
            kv_shard = par.tp if par.dp_attention else 1  # the latent is shared by all heads
            # absorbed MLA decode: QK over (latent + rope), AV over the latent, every head
            self.attn_flops_per_ctx = 2 * model.heads * ((model.kv_lora_rank + model.qk_rope_dim) + model.kv_lora_rank)
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

        # --- rates ----------------------------------------------------------------------
        self.hbm_bytes_s = gpu.hbm_tb_s * 1e12
        self.flops_s = gpu.peak_tflops[precision] * 1e12
        self.attn_flops_s = gpu.peak_tflops["bf16"] * 1e12
        self.active_params = model.active_params_b * 1e9
        self.act_bytes = k["activation_bytes"]
        self.dispatch_bytes = k["dispatch_bytes"]
        self.mem_clock_sens = k["memory_clock_sensitivity"]
        self.power_mem_weight = k["power_mem_weight"]
        self.power_gamma = k["power_gamma"]
        self.clock_power_exp = k["clock_power_exponent"]

        # --- the collective fabric of one stage --------------------------------------
        up_bw, out_bw = gpu.scale_up_gb_s * 1e9, gpu.scale_out_gb_s * 1e9
        domain = gpu.scale_up_domain_gpus
        if self.n_stage <= domain:
            self.inv_link_bw = 1 / up_bw
            self.coll_latency_s = k["scale_up_latency_us"] * 1e-6
        else:  # the part of the traffic that leaves the domain rides the slower fabric
            cross = 1 - domain / self.n_stage
            self.inv_link_bw = (1 - cross) / up_bw + cross / out_bw
            self.coll_latency_s = k["scale_out_latency_us"] * 1e-6
        self.p2p_latency_s = k["scale_out_latency_us"] * 1e-6 if par.pp > 1 else 0.0
        #: output tokens a request gains per decode step (speculation accepts some drafts)
        self.tokens_per_step = 1.0 + par.mtp * k["mtp_acceptance"]
        self.inv_p2p_bw = 1 / out_bw if self.n > domain else 1 / up_bw

    # ----------------------------------------------------------------------------------
    @property
    def label(self) -> str:
        return self.par.label(self.model.is_moe)

    def kv_seq_bytes(self, ctx):
        """KV bytes of one sequence with ``ctx`` tokens of context (whole replica)."""
        ctx = np.asarray(ctx, dtype=float)
        sliding = np.minimum(ctx, self.model.sliding_window) * self.model.sliding_layers if self.model.sliding_layers else 0.0
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
        """``B_max``: the requests whose KV fits at the workload's mean context."""
        seq = float(self.kv_seq_bytes(workload.mean_context)) / self.model.layers
        per_tok = self.kv_per_token_layer
        eq_tokens = seq / per_tok if per_tok else workload.mean_context
        return int(min(MAX_BATCH, self.kv_capacity_tokens // max(eq_tokens, 1.0)))

    # ----------------------------------------------------------------------------------
    def step(self, batch, context, prefill_tokens=0.0, prefill_context=None, clock: float = 1.0) -> StepCost:
        """One engine step for ``batch`` running requests of mean ``context`` plus
        ``prefill_tokens`` prompt tokens (mean causal context ``prefill_context``).

        Vectorised: every argument may be an array. ``clock`` < 1 is a power-capped or
        thermally throttled GPU: compute slows with the clock, memory streaming much less.
        """
        e, par, m = self.eff, self.par, self.model
        B = np.asarray(batch, dtype=float)
        b = B / par.pp  # one micro-batch per pipeline stage
        q = 1 + par.mtp  # query tokens per running request (1 + speculative drafts)
        p = np.asarray(prefill_tokens, dtype=float) / par.pp
        pctx = np.asarray(context if prefill_context is None else prefill_context, dtype=float)
        T = b * q + p
        mem_rate = e.mem * self.hbm_bytes_s * (1 - self.mem_clock_sens * (1 - clock))
        lin_rate = e.comp * self.flops_s * clock
        att_rate = (e.attn or e.comp) * self.attn_flops_s * clock

        # linear layers (per GPU of a stage)
        if m.is_moe:
            touched = 1.0 - np.power(1.0 - m.experts_per_token / m.experts, T)
            dense_shard = 1 if par.dp_attention else par.tp
            lin_bytes = self.dense_bytes / (par.pp * dense_shard) + touched * self.expert_bytes / self.n
        else:
            lin_bytes = np.full_like(T, self.dense_bytes / self.n)
        lin_flops = 2.0 * self.active_params / par.pp * T / self.n_stage
        t_lin_mem, t_lin_comp = lin_bytes / mem_rate, lin_flops / lin_rate
        t_lin = np.maximum(t_lin_mem, t_lin_comp)

        # attention (decode reads the KV of every running request; prefill is compute)
        kv_bytes = b * self.kv_seq_bytes(context) / (par.pp * self.kv_shard)
        layers_s = m.layers / par.pp
        att_flops = layers_s * (b * q * self.attn_flops_per_ctx * np.asarray(context, dtype=float)
                                + p * self.prefill_attn_flops_per_ctx * pctx) / self.n_stage
        t_att_mem, t_att_comp = kv_bytes / mem_rate, att_flops / att_rate
        t_att = np.maximum(t_att_mem, t_att_comp)

        # communication inside a stage
        t_comm = np.zeros_like(T)
        if self.n_stage > 1:
            g = self.n_stage
            inv_bw = self.inv_link_bw / e.net
            ar_bytes = 2.0 * (g - 1) / g * T * m.hidden * self.act_bytes
            if m.is_moe:
                a2a_bytes = (T / g) * m.experts_per_token * m.hidden * (self.dispatch_bytes + self.act_bytes) * (g - 1) / g
                per_layer = 2 * self.coll_latency_s + a2a_bytes * inv_bw
                if not par.dp_attention:
                    per_layer = per_layer + self.coll_latency_s + ar_bytes / 2 * inv_bw
            else:
                per_layer = 2 * (self.coll_latency_s + ar_bytes / 2 * inv_bw)
            t_comm = layers_s * per_layer
        t_stage = t_lin + t_att + t_comm
        p2p = (par.pp - 1) * (self.p2p_latency_s + T * m.hidden * self.act_bytes * self.inv_p2p_bw)
        t = par.pp * t_stage + p2p + e.step_overhead_ms * 1e-3 + e.seq_overhead_us * 1e-6 * B * q
        busy = par.pp / t
        comp_busy = np.minimum(1.0, (t_lin_comp + t_att_comp) * busy)
        mem_busy = np.minimum(1.0, (t_lin_mem + t_att_mem) * busy)
        return StepCost(t, comp_busy, mem_busy)

    def prefill_time_s(self, tokens, clock: float = 1.0):
        """Time to prefill one prompt of ``tokens`` on an otherwise idle replica."""
        tokens = np.asarray(tokens, dtype=float)
        return self.step(0.0, 0.0, tokens, tokens / 2, clock).t_s

    def power_w(self, compute_busy, memory_busy, clock: float = 1.0):
        """Board power per GPU: ``P_idle + (P_max − P_idle)·u^γ`` with u from the step mix.

        A clock below 1 (cap, throttle) lowers dynamic power roughly as clock^2.5.
        """
        u = np.minimum(1.0, np.asarray(compute_busy) + self.power_mem_weight * np.asarray(memory_busy))
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


# --------------------------------------------------------------------------------------
# Operating points and the throughput–interactivity curve


@dataclass(frozen=True)
class OperatingPoint:
    """One point of a replica's throughput–interactivity curve, with its economics.

    ``tok_s_per_gpu`` counts output tokens (MLPerf's convention); the ``total_`` fields
    count input + output (InferenceX's). ``usd_per_mtok`` is per million output tokens.
    """

    gpu: str
    model: str
    precision: str
    parallelism: str
    gpus: int
    batch: int
    isl: int
    osl: int
    step_s: float
    tok_s_per_user: float
    tok_s_per_gpu: float
    total_tok_s_per_gpu: float
    ttft_s: float
    power_w_per_gpu: float
    usd_per_mtok: float
    usd_per_mtok_total: float
    tok_s_per_mw: float
    total_tok_s_per_mw: float
    j_per_tok: float

    def as_dict(self) -> dict:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class Curve:
    """A replica's points over the batch range (arrays), for one parallelism."""

    replica: Replica
    workload: Workload
    batch: np.ndarray
    step_s: np.ndarray
    ttft_s: np.ndarray
    power_w: np.ndarray

    @property
    def tok_s_per_user(self) -> np.ndarray:
        return 1.0 / self.step_s

    @property
    def tok_s_per_gpu(self) -> np.ndarray:
        return self.batch / (self.step_s * self.replica.n)

    def point(self, i: int) -> OperatingPoint:
        r, w = self.replica, self.workload
        out = float(self.tok_s_per_gpu[i])
        total = out * (w.isl + w.osl) / w.osl
        g = r.gpu
        return OperatingPoint(
            gpu=g.id, model=r.model.id, precision=r.precision, parallelism=r.label, gpus=r.n,
            batch=int(self.batch[i]), isl=w.isl, osl=w.osl, step_s=float(self.step_s[i]),
            tok_s_per_user=float(1.0 / self.step_s[i]), tok_s_per_gpu=out, total_tok_s_per_gpu=total,
            ttft_s=float(self.ttft_s[i]), power_w_per_gpu=float(self.power_w[i]),
            usd_per_mtok=usd_per_mtok(g.usd_per_gpu_hr, out), usd_per_mtok_total=usd_per_mtok(g.usd_per_gpu_hr, total),
            tok_s_per_mw=tok_s_per_mw(out, g.allin_kw_per_gpu), total_tok_s_per_mw=tok_s_per_mw(total, g.allin_kw_per_gpu),
            j_per_tok=j_per_tok(g.allin_kw_per_gpu, out),
        )


# The analysts' identities (MODEL.md §3), reproduced to the digit by tests.
def usd_per_mtok(usd_per_gpu_hr: float, tok_s_per_gpu: float) -> float:
    return usd_per_gpu_hr * 1e6 / (3600.0 * tok_s_per_gpu) if tok_s_per_gpu > 0 else math.inf


def tok_s_per_mw(tok_s_per_gpu: float, allin_kw_per_gpu: float) -> float:
    return tok_s_per_gpu * 1000.0 / allin_kw_per_gpu


def j_per_tok(allin_kw_per_gpu: float, tok_s_per_gpu: float) -> float:
    return allin_kw_per_gpu * 1000.0 / tok_s_per_gpu if tok_s_per_gpu > 0 else math.inf


def prefill_chunk_tokens(catalog: Catalog) -> int:
    return int(catalog.constants["prefill_chunk_tokens"])


@dataclass(frozen=True)
class Round:
    """Steady-state schedule of a replica holding ``batch`` running requests.

    Decode steps advance every request by one token; prompts of arriving requests are
    prefilled in separate steps (the default of SGLang and of TensorRT-LLM's
    non-overlapped scheduler), each re-reading the weights, so a prefill is never free.
    In steady state ``batch/OSL`` requests arrive per decode step; they are prefilled
    together, up to a chunk of ``prefill_chunk_tokens``.
    """

    tpot_s: np.ndarray  # decode step + prefill share: time per output token of a request
    decode_s: np.ndarray
    ttft_s: np.ndarray  # prefill of one prompt in chunks, after half a decode step's wait
    power_w: np.ndarray


def schedule(replica: Replica, batch, workload: Workload, catalog: Catalog | None = None, clock: float = 1.0) -> Round:
    catalog = catalog or load_catalog()
    B = np.asarray(batch, dtype=float)
    chunk = prefill_chunk_tokens(catalog)
    dec = replica.step(B, workload.mean_context, clock=clock)
    arrivals = B * replica.tokens_per_step / workload.osl  # requests per decode step
    per_step = np.minimum(np.maximum(arrivals, 1.0) * workload.isl, max(chunk, 1))
    per_step = np.minimum(per_step, max(workload.isl, chunk)) if workload.isl > chunk else per_step
    pf = replica.step(0.0, 0.0, per_step, workload.isl / 2, clock)
    pf_steps = arrivals * workload.isl / per_step  # prefill steps per decode step
    tpot = (dec.t_s + pf_steps * pf.t_s) / replica.tokens_per_step
    first = min(workload.isl, chunk)
    one = replica.step(0.0, 0.0, first, workload.isl / 2, clock).t_s
    ttft = math.ceil(workload.isl / chunk) * one + dec.t_s / 2
    cycle = dec.t_s + pf_steps * pf.t_s
    w_dec, w_pf = dec.t_s / cycle, pf_steps * pf.t_s / cycle
    comp = w_dec * dec.compute_busy + w_pf * pf.compute_busy
    mem = w_dec * dec.memory_busy + w_pf * pf.memory_busy
    return Round(tpot, dec.t_s, ttft, replica.power_w(comp, mem, clock))


def curve(replica: Replica, workload: Workload, catalog: Catalog | None = None) -> Curve:
    """Sweep the batch from 1 to ``B_max`` (log-spaced): the throughput–interactivity curve."""
    bmax = replica.max_batch(workload)
    if bmax < 1:
        raise ServingError(
            f"{replica.model.id} {replica.precision} on {replica.n}× {replica.gpu.id}: no room for the "
            f"KV cache of one {workload.isl}+{workload.osl}-token request"
        )
    batch = np.unique(np.round(np.geomspace(1, bmax, _BATCH_POINTS)).astype(int)).astype(float)
    return curve_at(replica, workload, batch, catalog)


def curve_at(replica: Replica, workload: Workload, batch: np.ndarray, catalog: Catalog | None = None) -> Curve:
    rd = schedule(replica, batch, workload, catalog)
    return Curve(replica, workload, np.asarray(batch, dtype=float), rd.tpot_s, rd.ttft_s, rd.power_w)


def candidate_parallelisms(gpu: GPU, model: LLM, precision: str, catalog: Catalog | None = None) -> list[Parallelism]:
    """Every sensible split that fits: powers of two inside the scale-up domain, then
    whole domains (pipeline stages for dense models, wider expert groups for MoE)."""
    catalog = catalog or load_catalog()
    domain = gpu.scale_up_domain_gpus
    sizes = [s for s in (1, 2, 4, 8, 16, 32, 64) if s <= domain]
    out: list[Parallelism] = []
    for tp in sizes:
        out.append(Parallelism(tp))
        if model.is_moe and tp > 1:
            out.append(Parallelism(tp, dp_attention=True))
    fitting = [p for p in out if Replica(gpu, model, precision, p, catalog).fits]
    if fitting:
        return _with_mtp(model, fitting)
    # multi-domain replicas: the weights need more than one scale-up domain
    for k in (2, 4, 8):
        multi = [Parallelism(domain, pp=k)]
        if model.is_moe:
            multi += [Parallelism(domain * k), Parallelism(domain * k, dp_attention=True)]
        multi = [p for p in multi if Replica(gpu, model, precision, p, catalog).fits]
        if multi:
            return _with_mtp(model, multi)
    return []


def _with_mtp(model: LLM, pars: list[Parallelism]) -> list[Parallelism]:
    """Models that carry a multi-token-prediction head may serve with it (speculation)."""
    if not model.mtp_drafts:
        return pars
    return pars + [dataclasses.replace(p, mtp=model.mtp_drafts) for p in pars]


def default_precision(gpu: GPU, model: LLM) -> str:
    if model.native_precision and model.native_precision in gpu.peak_tflops:
        return model.native_precision
    return "fp8" if "fp8" in gpu.peak_tflops else "bf16"


def curves(gpu: GPU, model: LLM, precision: str, workload: Workload,
           parallelism: Parallelism | None = None, catalog: Catalog | None = None) -> list[Curve]:
    """One curve per candidate parallelism (or the one given)."""
    catalog = catalog or load_catalog()
    if precision not in gpu.peak_tflops:
        Replica(gpu, model, precision, Parallelism(1), catalog)  # raises the clear error
    pars = [parallelism] if parallelism else candidate_parallelisms(gpu, model, precision, catalog)
    if not pars:
        need = model.params_b * catalog.constants["bytes_per_param"][precision]
        raise ServingError(f"{model.id} {precision} ({need:,.0f} GB of weights) does not fit on up to 8 scale-up domains of {gpu.id}")
    out = []
    for p in pars:
        r = Replica(gpu, model, precision, p, catalog)
        if not r.fits:
            raise ServingError(f"{model.id} {precision} does not fit on {p.gpus}× {gpu.id} ({r.label})")
        out.append(curve(r, workload, catalog))
    return out


def frontier(cs: list[Curve]) -> list[OperatingPoint]:
    """The Pareto frontier over all curves: for each interactivity, the best tok/s/GPU."""
    pts = [(float(c.tok_s_per_user[i]), float(c.tok_s_per_gpu[i]), ci, i) for ci, c in enumerate(cs) for i in range(len(c.batch))]
    pts.sort(key=lambda x: (-x[0], -x[1]))
    best, out = -1.0, []
    for _, tps, ci, i in pts:
        if tps > best:
            best = tps
            out.append(cs[ci].point(i))
    return out


def max_throughput(cs: list[Curve]) -> OperatingPoint:
    ci, i = max(((ci, int(np.argmax(c.tok_s_per_gpu))) for ci, c in enumerate(cs)), key=lambda x: cs[x[0]].tok_s_per_gpu[x[1]])
    return cs[ci].point(i)


def at_interactivity(cs: list[Curve], tok_s_per_user: float) -> OperatingPoint:
    """The highest-throughput point that still gives each user ``tok_s_per_user``.

    Between grid points the batch is interpolated (step time is smooth in the batch), so
    the answer is the operating point a scheduler would pick, not the nearest grid point.
    """
    best: OperatingPoint | None = None
    lo = min(float(c.tok_s_per_user[-1]) for c in cs)
    hi = max(float(c.tok_s_per_user[0]) for c in cs)
    if tok_s_per_user > hi or tok_s_per_user <= 0:
        raise ServingError(
            f"{tok_s_per_user:g} tok/s per user is out of reach: this configuration gives "
            f"{lo:.1f}–{hi:.1f} tok/s per user (batch {int(max(c.batch[-1] for c in cs))} down to 1)"
        )
    for c in cs:
        ups = c.tok_s_per_user
        if tok_s_per_user > ups[0]:
            continue
        if tok_s_per_user <= ups[-1]:
            p = c.point(len(ups) - 1)  # even the largest batch is fast enough: max throughput
        else:
            j = int(np.searchsorted(-ups, -tok_s_per_user))  # ups is decreasing
            bj = np.interp(tok_s_per_user, ups[j - 1:j + 1][::-1], c.batch[j - 1:j + 1][::-1])
            p = _point_at_batch(c, bj)
        if best is None or p.tok_s_per_gpu > best.tok_s_per_gpu:
            best = p
    assert best is not None
    return best


def _point_at_batch(c: Curve, batch: float) -> OperatingPoint:
    r, w = c.replica, c.workload
    one = curve_at(r, w, np.array([batch]))
    return one.point(0)
