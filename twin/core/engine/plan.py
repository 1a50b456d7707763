"""The static plan of a factory: replicas placed on racks, and step-time tables.

The serving model is called here, once per (deployment, GPU SKU), never per tick: each
``Profile`` holds the decode step time over a grid of batch sizes and the time of one
prefill step over a grid of prompt tokens per step (each at full clock and at half clock,
for caps and throttling), and the power activity of each — all from the step function of
``twin perf`` (``serving.Replica.step``). The engine interpolates these with numpy for every
replica, so the same batch on the same split takes the same step time in both levels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from twin.core import serving
from twin.core.catalog import Catalog
from twin.core.errors import TwinError
from twin.core.layout import Deployment, Layout, WorkloadClass

#: Batch grid shared by every profile, as a fraction of its B_max (0, then log-spaced),
#: so one vectorised interpolation serves every replica whatever its profile.
NORM_GRID = np.concatenate([[0.0], np.geomspace(1e-3, 1.0, 48)])
#: Clock used for the second table; the engine interpolates in 1/clock between them.
LOW_CLOCK = 0.5
#: A co-located replica spends at most this share of a tick prefilling, so decode never
#: starves (the scheduler's chunked-prefill budget); overload then shows as queueing (TTFT).
PREFILL_TIME_SHARE = 0.6
#: Points of the prefill table: prompt tokens per prefill step, log-spaced from 1 to the
#: chunk (a step never holds more than a chunk).
PF_POINTS = 33


def pf_grid(chunk: int) -> np.ndarray:
    """Prompt tokens per prefill step at which every profile tabulates a step's time."""
    return np.geomspace(1.0, float(chunk), PF_POINTS)


@dataclass(frozen=True)
class ClassShape:
    """A workload class as the engine needs it: mean lengths and what a cache saves."""

    index: int
    id: str
    deployment: int
    prompt_tokens: float  # mean prompt of one request (agentic: the context at that step)
    reusable_tokens: float  # of which a replica that served the session's last step has cached
    followup_fraction: float  # share of requests that continue a session
    osl: float
    slo_ttft_s: float
    slo_tpot_s: float


def class_shape(i: int, w: WorkloadClass, dep_index: int) -> ClassShape:
    isl, osl = w.isl.mean, w.osl.mean
    if w.agentic:
        steps = max(1.0, w.agentic.steps_mean)
        growth = w.agentic.context_growth_tokens
        prompt = isl + growth * (steps - 1) / 2
        reusable = max(0.0, prompt - growth)
        follow = (steps - 1) / steps
    else:
        prompt, reusable, follow = isl, 0.0, 0.0
    return ClassShape(i, w.id, dep_index, prompt, reusable, follow, osl, w.slo_ttft_s, w.slo_tpot_s)


@dataclass
class Profile:
    """One deployment's replica on one GPU SKU, tabulated."""

    deployment: int
    sku: str
    replica: serving.Replica
    workload: serving.Workload  # the deployment's mean prompt and output lengths
    gpus: int
    bmax: float
    context: float
    b_grid: np.ndarray
    t_dec: np.ndarray  # (2, G): clock 1 and LOW_CLOCK
    dec_comp: np.ndarray  # (G,) compute busy fraction of a decode step
    dec_mem: np.ndarray
    t_pf: np.ndarray  # (2, PF_POINTS): one prefill step of pf_grid(chunk) tokens, 2 clocks
    pf_u: np.ndarray  # (PF_POINTS,) power activity of that step at full clock
    # a decode step that also carries a chunk of prompts (co-located chunked prefill, as
    # twin perf's schedule runs it): query tokens per running request per step, 0 where the
    # replica's stack prefills in steps of their own (``serving.mixes_prefill``: MoE)
    mix_q: float
    t_mix: np.ndarray  # (2, G, PF_POINTS): a mixed step of b_grid × pf_grid, 2 clocks
    u_mix: np.ndarray  # (G, PF_POINTS): its power activity at full clock
    chunk: int
    tokens_per_step: float
    kv_bytes_per_token: float
    tok_per_joule: float  # at max throughput: for power-aware ordering
    b_slo: float  # the batch at which the pace meets the tightest per-token SLO: 100 % load
    q_cap: float  # queued requests it prefills within half the tightest TTFT SLO (co-located)
    prompt_s: float  # prefill of one mean prompt, in full chunks
    slo_ttft_s: float  # the tightest TTFT SLO of its classes
    cap_tok_s: float  # output tokens/s at the SLO-knee batch: 100 % utilisation


def clock_weight(clock: np.ndarray) -> np.ndarray:
    """0 at full clock, 1 at LOW_CLOCK, linear in 1/clock (compute time ∝ 1/clock)."""
    return (1.0 / np.maximum(clock, 0.05) - 1.0) / (1.0 / LOW_CLOCK - 1.0)


def build_profile(
    dep_i: int,
    d: Deployment,
    sku: str,
    gpus: int | None,
    shapes: list[ClassShape],
    rates: list[float],
    catalog: Catalog,
    rack_gpus: int,
    prefill_share: float = PREFILL_TIME_SHARE,
    prefill_only: bool = False,
) -> Profile:
    """Tabulate one deployment's replica on one SKU. ``prefill_only``: the prefill replica
    of a disaggregated deployment; unless the layout sizes replicas, the split that
    prefills the most tokens per GPU (twin perf's prefill pool, ``best_prefill_replica``)."""
    gpu, model = catalog.gpu(sku), catalog.model(d.model)
    mine = [(s, r) for s, r in zip(shapes, rates, strict=True) if s.deployment == dep_i]
    total = sum(r for _, r in mine) or 1.0
    isl = sum(s.prompt_tokens * r for s, r in mine) / total if mine else 1024.0
    osl = sum(s.osl * r for s, r in mine) / total if mine else 1024.0
    tpot = min((s.slo_tpot_s for s, _ in mine), default=0.05)
    w = serving.Workload(max(1, round(isl)), max(1, round(osl)))
    pre = (
        serving.best_prefill_replica(gpu, model, d.precision, w, catalog)
        if prefill_only and not gpus
        else None
    )
    if pre is not None and pre.n <= rack_gpus:
        par = pre.par
    else:
        par = choose_parallelism(gpu, model, d.precision, w, gpus, 1.0 / tpot, catalog, rack_gpus)
    rep = serving.Replica(gpu, model, d.precision, par, catalog)
    bmax = float(max(1, rep.max_batch(w)))
    grid = NORM_GRID * bmax
    ctx = w.mean_context
    t1, t2 = rep.step(grid, ctx), rep.step(grid, ctx, clock=LOW_CLOCK)
    chunk = serving.prefill_chunk_tokens(catalog)
    # a prefill step of g prompt tokens (mean causal context half a prompt), as twin perf's
    # schedule runs it: for MoE each step reads every expert its tokens touch
    g = pf_grid(chunk)
    pf1, pf2 = rep.step(0.0, 0.0, g, isl / 2), rep.step(0.0, 0.0, g, isl / 2, LOW_CLOCK)
    wmem = float(catalog.constants["power_mem_weight"])
    mix_q = float(1 + rep.par.mtp) if serving.mixes_prefill(rep, catalog) else 0.0
    bb, gg = grid[:, None], g[None, :]
    mx1, mx2 = rep.step(bb, ctx, gg, isl / 2), rep.step(bb, ctx, gg, isl / 2, LOW_CLOCK)
    cv = serving.curve(rep, w, catalog)
    best = serving.max_throughput([cv])
    # 100 % load: the largest batch whose pace meets the SLO while prefill stays within
    # the engine's per-tick prefill budget (else the queue, not the batch, limits it), on
    # twin perf's schedule (mixed steps where the stack mixes)
    rd = serving.schedule(rep, cv.batch, w, catalog)
    pf_share = 1.0 - rd.decode_s / (rd.tpot_s * rep.tokens_per_step)
    ok = (rd.tpot_s <= tpot) & (pf_share <= prefill_share)
    b_slo = float(cv.batch[ok].max()) if ok.any() else 1.0
    k_slo = int(np.flatnonzero(cv.batch == b_slo)[0]) if ok.any() else 0
    cap_tok_s = float(cv.batch[k_slo] / rd.tpot_s[k_slo])
    ttft = min((s.slo_ttft_s for s, _ in mine), default=2.0)
    prompt_s = float(rep.step(0.0, 0.0, float(chunk), isl / 2).t_s) / chunk * isl
    q_cap = max(1.0, prefill_share * 0.5 * ttft / max(prompt_s, 1e-9))
    return Profile(
        deployment=dep_i,
        sku=sku,
        replica=rep,
        workload=w,
        gpus=par.gpus,
        bmax=bmax,
        context=ctx,
        b_grid=grid,
        t_dec=np.stack([t1.t_s, t2.t_s]),
        dec_comp=np.asarray(t1.compute_busy),
        dec_mem=np.asarray(t1.memory_busy),
        t_pf=np.stack([pf1.t_s, pf2.t_s]),
        pf_u=np.minimum(1.0, pf1.compute_busy + wmem * pf1.memory_busy),
        mix_q=mix_q,
        t_mix=np.stack([mx1.t_s, mx2.t_s]),
        u_mix=np.minimum(1.0, mx1.compute_busy + wmem * mx1.memory_busy),
        chunk=chunk,
        tokens_per_step=rep.tokens_per_step,
        kv_bytes_per_token=float(rep.kv_seq_bytes(1)),
        tok_per_joule=best.tok_s_per_gpu / max(best.power_w_per_gpu, 1.0),
        b_slo=b_slo,
        q_cap=q_cap,
        prompt_s=prompt_s,
        slo_ttft_s=ttft,
        cap_tok_s=cap_tok_s,
    )


def choose_parallelism(
    gpu, model, precision, w, gpus, tps_user, catalog, rack_gpus
) -> serving.Parallelism:
    """The split a serving team would pick: the best tok/s/GPU at the SLO's interactivity,
    among splits of the requested size (or, with ``auto``, any that fits in one rack)."""
    cands = serving.candidate_parallelisms(gpu, model, precision, catalog)
    if gpus:
        sized = [p for p in cands if p.gpus == gpus]
        if not sized:
            tp = min(gpus, gpu.scale_up_domain_gpus)
            sized = [serving.Parallelism(tp, pp=max(1, gpus // tp))]
        cands = sized
    else:
        cands = [p for p in cands if p.gpus <= rack_gpus] or cands
    curves = []
    for p in cands:
        r = serving.Replica(gpu, model, precision, p, catalog)
        if r.fits and r.max_batch(w) >= 1:
            curves.append(serving.curve(r, w, catalog))
    if not curves:
        raise TwinError(
            f"{model.id} {precision} does not fit on {gpus or 'any number of'} {gpu.id} GPUs"
        )
    try:
        point = serving.at_interactivity(curves, tps_user)
    except serving.ServingError:  # the SLO is out of reach: take the most interactive split
        point = max((c.point(0) for c in curves), key=lambda p: p.tok_s_per_user)
    return next(
        c.replica.par
        for c in curves
        if c.replica.label == point.parallelism and c.replica.n == point.gpus
    )


@dataclass(frozen=True)
class Placement:
    deployment: int
    profile: int
    racks: tuple[
        int, ...
    ]  # rack indices the replica's GPUs sit in (one, or several when it spans racks)
    first_gpu: int  # index of its first GPU within its first rack
    role: int  # 0 aggregated, 1 prefill, 2 decode


ROLE_AGG, ROLE_PREFILL, ROLE_DECODE = 0, 1, 2


def place(
    layout: Layout,
    catalog: Catalog,
    rack_sku: list[str],
    shapes: list[ClassShape],
    rates: list[float],
    rack_gpu_count: list[int] | None = None,
) -> tuple[list[Profile], list[Placement]]:
    """Place every deployment's replicas on its racks, in layout order.

    ``rack_sku`` and ``rack_gpu_count`` are the racks as they are now (a swap changes
    both); they default to the layout's."""
    counts = rack_gpu_count if rack_gpu_count is not None else [r.gpus for r in layout.racks]
    rack_index = {r.id: i for i, r in enumerate(layout.racks)}
    profiles: list[Profile] = []
    placements: list[Placement] = []
    for di, d in enumerate(layout.deployments):
        by_sku: dict[tuple[str, bool], int] = {}

        def profile(ri: int, pre: bool = False, di=di, d=d, by_sku=by_sku) -> int:
            key = (rack_sku[ri], pre)
            if key not in by_sku:
                profiles.append(
                    build_profile(
                        di,
                        d,
                        rack_sku[ri],
                        d.gpus_per_replica,
                        shapes,
                        rates,
                        catalog,
                        counts[ri],
                        prefill_only=pre,
                    )
                )
                by_sku[key] = len(profiles) - 1
            return by_sku[key]

        racks = [rack_index[r] for r in d.racks]
        mine = (
            _place_disagg(d, racks, counts, rack_sku, profiles, profile) if d.disaggregated else []
        )
        if not mine:
            mine = _place_role(d, racks, counts, rack_sku, profiles, profile, {}, ROLE_AGG)
        if not mine:
            raise TwinError(f"deployment {d.id}: no replica fits on its racks")
        placements.extend(mine)
    return profiles, placements


def _place_role(d, racks, counts, rack_sku, profiles, profile, used, role, limit=None):
    """Replicas of one role on the racks, in order, from each rack's first free GPU
    (``used``: GPUs already taken per rack); a replica wider than a rack spans whole free
    racks of one SKU. ``limit``: at most this many (default: the deployment's count)."""
    mine: list[Placement] = []
    cap = d.replicas if limit is None else limit
    i = 0
    while i < len(racks) and (cap is None or len(mine) < cap):
        ri = racks[i]
        pi = profile(ri, role == ROLE_PREFILL)
        dep, g, rack_gpus, first = (
            profiles[pi].deployment,
            profiles[pi].gpus,
            counts[ri],
            used.get(ri, 0),
        )
        if g <= rack_gpus:
            for k in range((rack_gpus - first) // g):
                if cap is not None and len(mine) >= cap:
                    break
                mine.append(Placement(dep, pi, (ri,), first + k * g, role))
                used[ri] = first + (k + 1) * g
            i += 1
        else:
            span = math.ceil(g / rack_gpus)
            group = racks[i : i + span]
            if (
                len(group) == span
                and all(rack_sku[x] == rack_sku[ri] for x in group)
                and not any(used.get(x, 0) for x in group)
            ):
                mine.append(Placement(dep, pi, tuple(group), 0, role))
                for x in group:
                    used[x] = counts[x]
            i += span
    return mine


def _place_disagg(d, racks, counts, rack_sku, profiles, profile) -> list[Placement]:
    """A disaggregated deployment: prefill replicas (the split that prefills the most
    tokens per GPU, as twin perf's prefill pool) on the first ``prefill_share`` of its
    GPUs, decode replicas on the rest. With a replica count, ``prefill_share`` of the GPUs
    those replicas take (the count used to go to decode after a prefill pool sized on every
    GPU of the placement: below that pool's size the deployment fell back to co-located, so
    the blackwell-ultra sweep's "2 rows" and "3 rows" both ran the same 216 co-located
    replicas). Empty when it cannot have one of each (it then serves co-located)."""
    target = max(1.0, d.prefill_share * sum(counts[r] for r in racks))
    if d.replicas is not None and racks:
        g_pre, g_dec = (
            profiles[profile(racks[0], True)].gpus,
            profiles[profile(racks[0], False)].gpus,
        )
        share = d.prefill_share
        n_pre = share * d.replicas * g_dec / (g_pre * (1 - share) + share * g_dec)
        target = min(target, max(1, round(n_pre)) * g_pre)
    used: dict[int, int] = {}
    pre: list[Placement] = []
    n_gpus = 0
    for ri in racks:
        pi = profile(ri, True)
        g = profiles[pi].gpus
        while used.get(ri, 0) + g <= counts[ri] and n_gpus < target:
            pre.append(Placement(profiles[pi].deployment, pi, (ri,), used.get(ri, 0), ROLE_PREFILL))
            used[ri] = used.get(ri, 0) + g
            n_gpus += g
        if n_gpus >= target:
            break
    if not pre:
        return []
    limit = None if d.replicas is None else d.replicas - len(pre)
    if limit is not None and limit < 1:
        return []
    dec = _place_role(d, racks, counts, rack_sku, profiles, profile, used, ROLE_DECODE, limit)
    return pre + dec if dec else []
