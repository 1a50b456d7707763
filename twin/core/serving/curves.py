"""Operating points and the throughput–interactivity curve of a replica, co-located or
disaggregated (a decode pool fed by a prefill pool), and the frontier over every split."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from twin.core.catalog import GPU, LLM, Catalog, load_catalog
from twin.core.serving.replica import (
    Parallelism,
    Replica,
    ServingError,
    Workload,
    mtp_tokens_per_step,
)

_BATCH_POINTS = 64


@dataclass(frozen=True)
class OperatingPoint:
    """One point of a replica's throughput–interactivity curve, with its economics.

    ``tok_s_per_gpu`` counts output tokens (MLPerf's convention); the ``total_`` fields
    count input + output (InferenceX's). ``usd_per_mtok`` is per million output tokens.
    ``gpus`` counts every GPU of the deployment unit: with disaggregation, the decode
    replica plus its share of the prefill pool (``prefill_gpus``, fractional: a pool
    serves many decode replicas).
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
    prefill_gpus: float = 0.0
    usd_per_gpu_hr: float = 0.0
    #: TTFT of the 99th-percentile prompt (``Workload.isl_cv``; = ``ttft_s`` without a spread)
    ttft_p99_s: float = 0.0

    def as_dict(self) -> dict:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class Curve:
    """A replica's points over the batch range (arrays), for one parallelism.

    ``prefill`` is set for a disaggregated curve: the replica that prefills for this
    decode replica; ``gpus`` is then the GPUs each point needs (decode + prefill share).
    """

    replica: Replica
    workload: Workload
    batch: np.ndarray
    step_s: np.ndarray
    ttft_s: np.ndarray
    power_w: np.ndarray
    gpus: np.ndarray | None = None
    prefill: Replica | None = None
    ttft_p99_s: np.ndarray | None = None  # the p99 prompt's (None: no prompt spread)

    @property
    def ttft_tail_s(self) -> np.ndarray:
        """TTFT of the 99th-percentile prompt (the mean prompt's without a spread)."""
        return self.ttft_s if self.ttft_p99_s is None else self.ttft_p99_s

    @property
    def tok_s_per_user(self) -> np.ndarray:
        return 1.0 / self.step_s

    @property
    def gpu_count(self) -> np.ndarray:
        return (
            self.gpus if self.gpus is not None else np.full_like(self.batch, float(self.replica.n))
        )

    @property
    def tok_s_per_gpu(self) -> np.ndarray:
        return self.batch / (self.step_s * self.gpu_count)

    @property
    def label(self) -> str:
        r = self.replica
        if self.prefill is None:
            return r.label
        return f"D{r.n}, {r.par.short(r.model.is_moe)}"

    def point(self, i: int) -> OperatingPoint:
        from twin.core.economics import cost_parts

        r, w = self.replica, self.workload
        out = float(self.tok_s_per_gpu[i])
        total = out * (w.isl + w.osl) / w.osl
        g = r.gpu
        gpus = float(self.gpu_count[i])
        pf = gpus - r.n
        share = (
            f"{pf:.2f}" if pf < 0.995 else f"{pf:.1f}" if pf < 9.95 else f"{pf:.0f}"
        )  # a pool's share
        label = self.label if self.prefill is None else f"P{share} + {self.label}"
        usd_hr = cost_parts(g).usd_per_gpu_hr
        return OperatingPoint(
            gpu=g.id,
            model=r.model.id,
            precision=r.precision,
            parallelism=label,
            gpus=int(round(gpus)),
            batch=int(self.batch[i]),
            isl=w.isl,
            osl=w.osl,
            step_s=float(self.step_s[i]),
            tok_s_per_user=float(1.0 / self.step_s[i]),
            tok_s_per_gpu=out,
            total_tok_s_per_gpu=total,
            ttft_s=float(self.ttft_s[i]),
            power_w_per_gpu=float(self.power_w[i]),
            usd_per_mtok=usd_per_mtok(usd_hr, out),
            usd_per_mtok_total=usd_per_mtok(usd_hr, total),
            tok_s_per_mw=tok_s_per_mw(out, g.allin_kw_per_gpu),
            total_tok_s_per_mw=tok_s_per_mw(total, g.allin_kw_per_gpu),
            j_per_tok=j_per_tok(g.allin_kw_per_gpu, out),
            prefill_gpus=float(pf),
            usd_per_gpu_hr=usd_hr,
            ttft_p99_s=float(self.ttft_tail_s[i]),
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
    """Steady-state schedule of a co-located replica holding ``batch`` running requests.

    Every step decodes one token (plus accepted drafts) for each running request and,
    within the step's token budget (``prefill_chunk_tokens``: vLLM's
    max_num_batched_tokens, TensorRT-LLM's max_num_tokens), carries a chunk of the
    prompts waiting (chunked prefill, mixed batches). A mixed step reads the weights once:
    its time is the rooflines of decode + chunk tokens together, so a chunk rides partly
    on the memory-bound weight read and slows the running requests only by its extra
    compute and attention. In steady state ``batch/OSL`` requests arrive per step; the
    prompt tokens the budget cannot carry run in prefill-only steps of a full chunk.
    """

    tpot_s: np.ndarray  # mean step (decode, mixed and prefill-only) per output token
    decode_s: np.ndarray  # a decode step without a chunk
    ttft_s: np.ndarray  # half a step's wait, then the prompt in chunks on mixed steps
    power_w: np.ndarray
    mixed_share: np.ndarray | float = 0.0  # share of decode steps that carry a chunk


def tokens_per_step(replica: Replica, workload: Workload, catalog: Catalog) -> float:
    """Output tokens a request gains per decode step: the replica's drafts, accepted as
    often as the workload's prompts allow."""
    if workload.mtp_acceptance is None or not replica.par.mtp:
        return replica.tokens_per_step
    decay = float(catalog.constants["mtp_acceptance_decay"])
    return mtp_tokens_per_step(replica.par.mtp, workload.mtp_acceptance, decay)


def mixes_prefill(replica: Replica, catalog: Catalog) -> bool:
    """Whether the replica's serving stack carries prompt chunks on its decode steps
    (``mixed_prefill_batches`` in the catalog's constants, by dense or MoE recipe)."""
    rule = catalog.constants["mixed_prefill_batches"]
    return bool(rule["moe" if replica.model.is_moe else "dense"])


def schedule(
    replica: Replica,
    batch,
    workload: Workload,
    catalog: Catalog | None = None,
    clock: float = 1.0,
    mixed: bool | None = None,
) -> Round:
    """``mixed``: whether prompts ride on decode steps (None: as the replica's stack does)."""
    catalog = catalog or load_catalog()
    w = workload
    B = np.asarray(batch, dtype=float)
    budget = step_token_budget(replica, w, catalog)
    gain = tokens_per_step(replica, w, catalog)
    n = w.scheduler_steps
    dec = replica.step(B, w.mean_context, clock=clock, host_steps=n)
    need = B * gain / w.osl * w.isl  # prompt tokens arriving per decode step
    # the budget a step leaves after the running requests' tokens (1 + drafts each); a
    # stack that prefills in batches of their own leaves none
    if mixed is None:
        mixed = (
            mixes_prefill(replica, catalog) if w.inflight_batching is None else w.inflight_batching
        )
    room = np.maximum(budget - B * (1 + replica.par.mtp), 0.0) if mixed else np.zeros_like(B)
    # a mixed step takes the waiting prompts whole (at least one), up to the room left
    chunk = np.minimum(room, np.maximum(need, float(w.isl)))
    carried = np.minimum(need, room)
    share = np.divide(carried, chunk, out=np.zeros_like(B), where=chunk > 0)
    mix = replica.step(B, w.mean_context, chunk, w.isl / 2, clock, n)
    # the rest in prefill-only steps, each the prompts waiting (at least one, at most the
    # budget), re-reading the weights
    rest = need - carried
    alone_tokens = np.minimum(np.maximum(rest, float(w.isl)), budget)
    # (a prefill-only step is scheduled on its own: multi-step scheduling runs decodes)
    alone = replica.step(0.0, 0.0, alone_tokens, w.isl / 2, clock)
    extra = rest / alone_tokens  # prefill-only steps per decode step
    cycle = dec.t_s + share * (mix.t_s - dec.t_s) + extra * alone.t_s
    # TTFT: half a step's wait, then the prompt's chunks on mixed steps (or, where the
    # stack does not mix or the running batch leaves no room, on prefill-only steps)
    rides = room >= 1.0
    own = np.where(rides, np.minimum(room, float(w.isl)), min(float(w.isl), budget))
    first = replica.step(np.where(rides, B, 0.0), w.mean_context, own, w.isl / 2, clock, n)
    ttft = np.ceil(w.isl / own) * first.t_s + dec.t_s / 2
    w_dec = (1 - share) * dec.t_s / cycle
    w_mix, w_pf = share * mix.t_s / cycle, extra * alone.t_s / cycle
    comp = w_dec * dec.compute_busy + w_mix * mix.compute_busy + w_pf * alone.compute_busy
    mem = w_dec * dec.memory_busy + w_mix * mix.memory_busy + w_pf * alone.memory_busy
    return Round(cycle / gain, dec.t_s, ttft, replica.power_w(comp, mem, clock), share)


def step_token_budget(replica: Replica, workload: Workload, catalog: Catalog) -> float:
    """Tokens one step of the replica may carry (``prefill_chunk_tokens``). Under
    TensorRT-LLM's in-flight batching a MoE replica with DP attention runs one scheduler per
    attention rank, each with its own budget (``max_num_tokens`` is per rank), so the
    replica's step carries that many per rank; SGLang divides its chunk over the DP ranks
    (one budget per replica)."""
    per = float(max(prefill_chunk_tokens(catalog), 1))
    ranks = replica.n_stage if (replica.model.is_moe and replica.par.dp_attention) else 1
    return per * ranks if workload.inflight_batching else per


def _batch_grid(replica: Replica, workload: Workload) -> np.ndarray:
    bmax = replica.max_batch(workload)
    if bmax < 1:
        raise ServingError(
            f"{replica.model.id} {replica.precision} on {replica.n}× {replica.gpu.id}: no room for the "
            f"KV cache of one {workload.isl}+{workload.osl}-token request"
        )
    return np.unique(np.round(np.geomspace(1, bmax, _BATCH_POINTS)).astype(int)).astype(float)


def curve(replica: Replica, workload: Workload, catalog: Catalog | None = None) -> Curve:
    """Sweep the batch from 1 to ``B_max`` (log-spaced): the throughput–interactivity curve."""
    return curve_at(replica, workload, _batch_grid(replica, workload), catalog)


def curve_at(
    replica: Replica, workload: Workload, batch: np.ndarray, catalog: Catalog | None = None
) -> Curve:
    rd = schedule(replica, batch, workload, catalog)
    c = Curve(replica, workload, np.asarray(batch, dtype=float), rd.tpot_s, rd.ttft_s, rd.power_w)
    return _with_tail(c, replica, catalog)


def own_prefill_s(replica: Replica, prompt: float, catalog: Catalog) -> float:
    """Prefill of one prompt alone, in chunks (the part of TTFT that grows with it)."""
    chunk = prefill_chunk_tokens(catalog)
    one = replica.step(0.0, 0.0, min(prompt, chunk), prompt / 2).t_s
    return math.ceil(prompt / chunk) * float(one)


def _with_tail(c: Curve, prefill: Replica, catalog: Catalog | None, kv=None) -> Curve:
    """The curve with the TTFT of the 99th-percentile prompt: the mean prompt's, plus the
    longer prompt's own prefill (and, disaggregated, its larger KV transfer ``kv``); the
    wait for the others' prefill and for a decode step is the same."""
    w = c.workload
    if w.isl_cv <= 0:
        return c
    catalog = catalog or load_catalog()
    p99 = w.prompt_p99
    extra = own_prefill_s(prefill, p99, catalog) - own_prefill_s(prefill, w.isl, catalog)
    if kv is not None:
        extra += kv(p99) - kv(w.isl)
    return dataclasses.replace(c, ttft_p99_s=c.ttft_s + extra)


# --------------------------------------------------------------------------------------
# Disaggregated prefill/decode


def full_prefill_chunk(workload: Workload, catalog: Catalog) -> float:
    """Prompt tokens in one step of a replica that only prefills: a full token budget, or
    one whole prompt where the prompt is longer."""
    return float(max(prefill_chunk_tokens(catalog), workload.isl))


def prefill_rate_per_gpu(replica: Replica, workload: Workload, catalog: Catalog) -> float:
    """Prompt tokens per second per GPU of a replica that only prefills, in full chunks."""
    chunk = full_prefill_chunk(workload, catalog)
    return chunk / (float(replica.step(0.0, 0.0, chunk, workload.isl / 2).t_s) * replica.n)


def disagg_curve(
    decode: Replica,
    prefill: Replica,
    workload: Workload,
    catalog: Catalog | None = None,
    batch: np.ndarray | None = None,
) -> Curve:
    """A decode replica that never prefills, fed by a prefill pool sized to its arrivals.

    Each request's prompt is prefilled on ``prefill`` (run at ``disagg_prefill_utilisation``
    so its queue stays short) and its KV cache moves to the decode replica over the
    scale-up domain (NVL72) or the scale-out fabric. The curve's GPUs count the decode
    replica plus the fraction of the prefill pool its arrivals keep busy.
    """
    catalog = catalog or load_catalog()
    k = catalog.constants
    w = workload
    B = _batch_grid(decode, w) if batch is None else np.asarray(batch, dtype=float)
    dec = decode.step(B, w.mean_context, host_steps=w.scheduler_steps)
    tpot = dec.t_s / tokens_per_step(decode, w, catalog)
    util = float(k["disagg_prefill_utilisation"])
    rate = B / (tpot * w.osl)  # requests per second per decode replica
    per_gpu = prefill_rate_per_gpu(prefill, w, catalog)
    pf_gpus = rate * w.isl / (per_gpu * util)
    chunk = prefill_chunk_tokens(catalog)
    one = float(prefill.step(0.0, 0.0, min(w.isl, chunk), w.isl / 2).t_s) * math.ceil(w.isl / chunk)
    gpu = decode.gpu
    same_domain = gpu.scale_up_domain_gpus > 8
    link = (gpu.scale_up_gb_s if same_domain else gpu.scale_out_gb_s) * 1e9
    lat = (k["scale_up_latency_us"] if same_domain else k["scale_out_latency_us"]) * 1e-6

    def kv(prompt):  # moving one prompt's KV cache to the decode replica
        return float(decode.kv_seq_bytes(prompt)) / link

    transfer = kv(w.isl) + lat
    ttft = one * (1 + util / (2 * (1 - util))) + transfer + dec.t_s / 2
    pfc = prefill.step(0.0, 0.0, float(chunk), w.isl / 2)
    p_pf = (
        util * float(prefill.power_w(pfc.compute_busy, pfc.memory_busy)) + (1 - util) * gpu.idle_w
    )
    p_dec = decode.power_w(dec.compute_busy, dec.memory_busy)
    gpus = decode.n + pf_gpus
    power = (decode.n * p_dec + pf_gpus * p_pf) / gpus
    c = Curve(
        decode, w, B, tpot, np.broadcast_to(ttft, B.shape).astype(float), power, gpus, prefill
    )
    return _with_tail(c, prefill, catalog, kv)


def best_prefill_replica(
    gpu: GPU, model: LLM, precision: str, workload: Workload, catalog: Catalog
) -> Replica | None:
    """The split that prefills the most prompt tokens per second per GPU (no speculation)."""
    best, best_rate = None, 0.0
    for p in candidate_parallelisms(gpu, model, precision, catalog, mtp=False, wide=True):
        if p.gpus > 8:  # prefill pools are built from 8-GPU (or smaller) replicas
            continue
        r = Replica(gpu, model, precision, p, catalog)
        rate = prefill_rate_per_gpu(r, workload, catalog)
        if rate > best_rate:
            best, best_rate = r, rate
    return best


def resample(c: Curve, batch) -> Curve:
    """The same curve evaluated at other batch sizes (between grid points, say)."""
    b = np.atleast_1d(np.asarray(batch, dtype=float))
    if c.prefill is not None:
        return disagg_curve(c.replica, c.prefill, c.workload, None, b)
    return curve_at(c.replica, c.workload, b)


# --------------------------------------------------------------------------------------
# Candidate splits and the frontier

#: stage sizes tried inside a scale-up domain (48: wide expert parallelism on NVL72)
_SIZES = (1, 2, 4, 8, 16, 32, 48, 64, 72)


def candidate_parallelisms(
    gpu: GPU,
    model: LLM,
    precision: str,
    catalog: Catalog | None = None,
    mtp: bool = True,
    wide: bool = False,
) -> list[Parallelism]:
    """Every sensible split that fits: sizes inside the scale-up domain, then whole domains
    (pipeline stages for dense models, wider expert groups for MoE); with ``mtp``, each
    also with draft tokens when the model has a multi-token-prediction head.

    ``wide`` (``twin perf``'s search) adds EP48 inside an NVL72 domain and 2–3 MTP drafts;
    without it (the factory engine's placement, for now) the splits are powers of two with
    at most one draft. The splits are the ones the public serving recipes run
    (``moe_recipes`` in the catalog's constants): a MoE model's expert group is at most
    ``max_expert_parallel`` wide and leaves its scale-up domain only when its weights do
    not fit one; it spans domains with wider expert groups, never with pipeline stages.
    """
    catalog = catalog or load_catalog()
    rules = catalog.constants["moe_recipes"]
    domain = gpu.scale_up_domain_gpus
    pow2 = (1, 2, 4, 8, 16, 32, 64)
    widest = int(rules["max_expert_parallel"]) if model.is_moe else 64
    split_like_dense = rules.get("experts_split_like_dense", ())
    sizes = [
        s
        for s in (_SIZES if wide else pow2)
        if s <= domain and s <= widest and (s <= 8 or s % 16 == 0 or s == domain)
    ]
    out: list[Parallelism] = []
    for tp in sizes:
        if not model.is_moe or tp <= 8:
            out.append(Parallelism(tp))
        if model.is_moe and tp > 1:
            out.append(Parallelism(tp, dp_attention=True))
        if wide and model.is_moe and 1 < tp <= 8 and gpu.vendor in split_like_dense:
            # experts split like dense layers (TP8 EP1), where the vendor's recipes run it
            out.append(Parallelism(tp, tp_experts=True))
    # the deepest speculation a vendor's public recipes run (AMD's: ATOM drafts one
    # token, SGLang's ROCm MTP recipes at most two)
    depth = int(
        catalog.constants.get("vendor_mtp_max_drafts", {}).get(
            gpu.vendor, catalog.constants["mtp_max_drafts"]
        )
    )
    depth = depth if wide else min(1, depth)
    # speculation with an expert group wider than the recipes that draft run it (a
    # serving stack's MTP and its widest expert parallelism are different recipes)
    mtp_widest = int(rules.get("mtp_max_expert_parallel", widest)) if model.is_moe else 64
    fitting = [p for p in out if Replica(gpu, model, precision, p, catalog).fits]
    if fitting:
        if wide and model.is_moe and domain < 16:
            # wide expert parallelism across the fabric: the dispatch and combine leave the
            # 8-GPU board for the scale-out fabric (SGLang's DEP32-DEP72 H100 deployments)
            fitting += [Parallelism(k * domain, dp_attention=True) for k in (2, 4)]
        return _with_mtp(model, fitting, depth, mtp_widest) if mtp else fitting
    # multi-domain replicas: the weights need more than one scale-up domain
    for k in (2, 4, 8):
        if model.is_moe:  # expert parallelism across the fabric (H100 DeepSeek: TEP16/DEP16)
            multi = [Parallelism(domain * k), Parallelism(domain * k, dp_attention=True)]
        else:
            multi = [Parallelism(domain, pp=k)]
        multi = [p for p in multi if Replica(gpu, model, precision, p, catalog).fits]
        if multi:
            return _with_mtp(model, multi, depth, mtp_widest) if mtp else multi
    return []


def _with_mtp(
    model: LLM, pars: list[Parallelism], depth: int, widest: int = 64
) -> list[Parallelism]:
    """Models that carry a multi-token-prediction head may serve with it (speculation),
    drafting up to ``depth`` tokens per step by reusing the head — on splits at most
    ``widest`` GPUs wide, where the recipes that draft run."""
    if not model.mtp_drafts:
        return pars
    drafting = [p for p in pars if p.tp <= widest]
    return pars + [dataclasses.replace(p, mtp=d) for d in range(1, depth + 1) for p in drafting]


def default_precision(gpu: GPU, model: LLM) -> str:
    """The precision a plain query serves a model in: its checkpoint's own where the GPU
    computes in it; a checkpoint the GPU cannot compute natively (gpt-oss's MXFP4 experts
    on Hopper and CDNA3) runs as it ships, its 4-bit experts read as stored and computed
    in its other layers' precision (BF16: vLLM's weight-only MXFP4 MoE path; InferenceX's
    H100/H200/MI300X/MI325X gpt-oss recipes serve openai/gpt-oss-120b unquantised), not
    re-quantised to fp8; any other model in fp8 where the GPU has it."""
    native = model.native_precision
    if native and native in gpu.peak_tflops:
        return native
    if native and model.native_dense_precision in gpu.peak_tflops:
        return str(model.native_dense_precision)
    return "fp8" if "fp8" in gpu.peak_tflops else "bf16"


def best_precision(gpu: GPU, model: LLM) -> str:
    """The lowest precision the GPU computes in (fp4 on Blackwell and MI355X, else fp8)."""
    return "fp4" if "fp4" in gpu.peak_tflops else default_precision(gpu, model)


def recipe_placement(model: LLM, catalog: Catalog | None = None) -> bool | None:
    """``curves``' ``disagg`` for a query that names no serving mode: the best of co-located
    and disaggregated (None) for the models whose public serving recipes disaggregate
    prefill from decode (``disagg_recipes`` in the catalog's constants: DeepSeek-R1), and
    co-located (False) for the rest, as their recipes serve them; ``--disagg`` still prices
    a prefill pool for any model."""
    catalog = catalog or load_catalog()
    rule = catalog.constants.get("disagg_recipes", {})
    return None if model.id in rule.get("models", ()) else False


def curves(
    gpu: GPU,
    model: LLM,
    precision: str,
    workload: Workload,
    parallelism: Parallelism | None = None,
    catalog: Catalog | None = None,
    disagg: bool | None = False,
    mtp: bool = True,
) -> list[Curve]:
    """One curve per candidate parallelism (or the one given).

    ``disagg``: False = co-located replicas only; True = disaggregated only (each decode
    split fed by the best prefill split); None = both, the frontier picks.
    """
    catalog = catalog or load_catalog()
    if precision not in gpu.peak_tflops:
        Replica(gpu, model, precision, Parallelism(1), catalog)  # raises the clear error
    pars = (
        [parallelism]
        if parallelism
        else candidate_parallelisms(gpu, model, precision, catalog, mtp, wide=True)
    )
    if not pars:
        need = model.params_b * catalog.constants["bytes_per_param"][precision]
        raise ServingError(
            f"{model.id} {precision} ({need:,.0f} GB of weights) does not fit on up to 8 scale-up domains of {gpu.id}"
        )
    out = []
    prefill = (
        best_prefill_replica(gpu, model, precision, workload, catalog)
        if disagg is not False
        else None
    )
    for p in pars:
        r = Replica(gpu, model, precision, p, catalog)
        if not r.fits:
            raise ServingError(
                f"{model.id} {precision} does not fit on {p.gpus}× {gpu.id} ({r.label})"
            )
        if disagg is not True:
            out.append(curve(r, workload, catalog))
        if prefill is not None:
            out.append(disagg_curve(r, prefill, workload, catalog))
    if not out:
        raise ServingError(
            f"{model.id} {precision} on {gpu.id}: no split can prefill for a disaggregated decode pool"
        )
    return out


def _mask(c: Curve, ttft_max: float | None) -> np.ndarray:
    """Points within a TTFT bound, held by the 99th-percentile prompt (as MLPerf's TTFT
    limits are p99 limits; without a prompt spread every prompt is the mean)."""
    return np.ones(len(c.batch), bool) if ttft_max is None else c.ttft_tail_s <= ttft_max


def frontier(cs: list[Curve], ttft_max: float | None = None) -> list[OperatingPoint]:
    """The Pareto frontier over all curves: for each interactivity, the best tok/s/GPU."""
    pts = []
    for ci, c in enumerate(cs):
        ok, ups, gps = _mask(c, ttft_max), c.tok_s_per_user, c.tok_s_per_gpu
        pts += [(float(ups[i]), float(gps[i]), ci, i) for i in range(len(c.batch)) if ok[i]]
    if not pts:
        raise ServingError(f"no operating point has a time to first token within {ttft_max:g} s")
    pts.sort(key=lambda x: (-x[0], -x[1]))
    best, out = -1.0, []
    for _, tps, ci, i in pts:
        if tps > best:
            best = tps
            out.append(cs[ci].point(i))
    return out


def max_throughput(cs: list[Curve], ttft_max: float | None = None) -> OperatingPoint:
    best = None
    for c in cs:
        ok = _mask(c, ttft_max)
        if ok.any():
            i = int(np.argmax(np.where(ok, c.tok_s_per_gpu, -1.0)))
            if best is None or c.tok_s_per_gpu[i] > best[0]:
                best = (float(c.tok_s_per_gpu[i]), c, i)
    if best is None:
        raise ServingError(f"no operating point has a time to first token within {ttft_max:g} s")
    return best[1].point(best[2])


def _largest_batch_at(c: Curve, j: int, tok_s_per_user: float, guess: float) -> float:
    """The largest batch between grid point ``j − 1`` and the interpolated ``guess`` that
    still gives each user ``tok_s_per_user`` (where the step time bends, the guess can be a
    hair too large): one vectorised evaluation of 33 batches between them."""
    tries = np.linspace(float(c.batch[j - 1]), guess, 33)
    ok = resample(c, tries).tok_s_per_user >= tok_s_per_user
    return float(tries[ok].max()) if ok.any() else float(c.batch[j - 1])


def at_interactivity(
    cs: list[Curve], tok_s_per_user: float, ttft_max: float | None = None
) -> OperatingPoint:
    """The highest-throughput point that still gives each user ``tok_s_per_user``.

    Between grid points the batch is interpolated (step time is smooth in the batch), so
    the answer is the operating point a scheduler would pick, not the nearest grid point.
    """
    lo = min(float(c.tok_s_per_user[-1]) for c in cs)
    hi = max(float(c.tok_s_per_user[0]) for c in cs)
    if tok_s_per_user > hi or tok_s_per_user <= 0:
        raise ServingError(
            f"{tok_s_per_user:g} tok/s per user is out of reach: this configuration gives "
            f"{lo:.1f}–{hi:.1f} tok/s per user (batch {int(max(c.batch[-1] for c in cs))} down to 1)"
        )
    cands = []
    for c in cs:
        ups = c.tok_s_per_user
        if tok_s_per_user > ups[0]:
            continue
        if tok_s_per_user <= ups[-1]:
            j = len(ups) - 1
            est, batch = float(c.tok_s_per_gpu[j]), None  # even the largest batch is fast enough
        else:
            # ups is decreasing; at least 1: exactly batch 1's speed is between grid points 0 and 1
            j = max(1, int(np.searchsorted(-ups, -tok_s_per_user)))
            # a step's time is close to linear in the batch: interpolate the batch in it
            batch = float(
                np.interp(1.0 / tok_s_per_user, c.step_s[j - 1 : j + 1], c.batch[j - 1 : j + 1])
            )
            est = float(
                np.interp(
                    tok_s_per_user, ups[j - 1 : j + 1][::-1], c.tok_s_per_gpu[j - 1 : j + 1][::-1]
                )
            )
        cands.append((est, c, j, batch))
    cands.sort(key=lambda x: -x[0])
    best: OperatingPoint | None = None
    for _, c, j, batch in cands[:3]:  # re-evaluate the few best exactly
        if batch is not None:
            batch = _largest_batch_at(c, j, tok_s_per_user, batch)
        one = c if batch is None else resample(c, batch)
        p = one.point(j if batch is None else 0)
        if ttft_max is not None and p.ttft_p99_s > ttft_max:
            continue
        if best is None or p.tok_s_per_gpu > best.tok_s_per_gpu:
            best = p
    if best is None:
        if ttft_max is None:
            raise ServingError(f"{tok_s_per_user:g} tok/s per user is out of reach")
        masked = [c for c in cs if _mask(c, ttft_max).any()]
        if not masked:
            raise ServingError(
                f"no operating point has a time to first token within {ttft_max:g} s"
            )
        good = [
            (c, i)
            for c in masked
            for i in np.flatnonzero(_mask(c, ttft_max) & (c.tok_s_per_user >= tok_s_per_user))
        ]
        if not good:
            raise ServingError(
                f"{tok_s_per_user:g} tok/s per user is out of reach with a TTFT within {ttft_max:g} s"
            )
        c, i = max(good, key=lambda x: x[0].tok_s_per_gpu[x[1]])
        best = c.point(int(i))
    return best
