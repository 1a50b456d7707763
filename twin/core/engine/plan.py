"""The static plan of a factory: replicas placed on racks, and step-time tables.

The serving model is called here, once per (deployment, GPU SKU), never per tick: each
``Profile`` holds the decode step time over a grid of batch sizes (at full clock and at
half clock, for caps and throttling), the prefill cost per step and per token, and the
power activity of each — the engine interpolates these with numpy for every replica.
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
    gpus: int
    bmax: float
    context: float
    b_grid: np.ndarray
    t_dec: np.ndarray  # (2, G): clock 1 and LOW_CLOCK
    dec_comp: np.ndarray  # (G,) compute busy fraction of a decode step
    dec_mem: np.ndarray
    pf_fixed_s: np.ndarray  # (2,) a prefill step's cost regardless of tokens (weights)
    pf_token_s: np.ndarray  # (2,) marginal cost per prompt token
    pf_comp: float
    pf_mem: float
    chunk: int
    tokens_per_step: float
    kv_bytes_per_token: float
    tok_per_joule: float  # at max throughput: for power-aware ordering
    b_slo: float  # the batch at which the pace meets the tightest per-token SLO: 100 % load
    q_cap: float  # queued requests it prefills within half the tightest TTFT SLO
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
    prefill_share: float = 0.6,
) -> Profile:
    gpu, model = catalog.gpu(sku), catalog.model(d.model)
    mine = [(s, r) for s, r in zip(shapes, rates, strict=True) if s.deployment == dep_i]
    total = sum(r for _, r in mine) or 1.0
    isl = sum(s.prompt_tokens * r for s, r in mine) / total if mine else 1024.0
    osl = sum(s.osl * r for s, r in mine) / total if mine else 1024.0
    tpot = min((s.slo_tpot_s for s, _ in mine), default=0.05)
    w = serving.Workload(max(1, round(isl)), max(1, round(osl)))
    par = choose_parallelism(gpu, model, d.precision, w, gpus, 1.0 / tpot, catalog, rack_gpus)
    rep = serving.Replica(gpu, model, d.precision, par, catalog)
    bmax = float(max(1, rep.max_batch(w)))
    grid = NORM_GRID * bmax
    ctx = w.mean_context
    t1, t2 = rep.step(grid, ctx), rep.step(grid, ctx, clock=LOW_CLOCK)
    chunk = serving.prefill_chunk_tokens(catalog)
    one1, full1 = rep.step(0.0, 0.0, 1.0, isl / 2), rep.step(0.0, 0.0, float(chunk), isl / 2)
    one2, full2 = (
        rep.step(0.0, 0.0, 1.0, isl / 2, LOW_CLOCK),
        rep.step(0.0, 0.0, float(chunk), isl / 2, LOW_CLOCK),
    )
    per1 = (float(full1.t_s) - float(one1.t_s)) / (chunk - 1)
    per2 = (float(full2.t_s) - float(one2.t_s)) / (chunk - 1)
    cv = serving.curve(rep, w, catalog)
    best = serving.max_throughput([cv])
    # 100 % load: the largest batch whose pace meets the SLO while prefill stays within
    # the engine's per-tick prefill budget (else the queue, not the batch, limits it)
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
        gpus=par.gpus,
        bmax=bmax,
        context=ctx,
        b_grid=grid,
        t_dec=np.stack([t1.t_s, t2.t_s]),
        dec_comp=np.asarray(t1.compute_busy),
        dec_mem=np.asarray(t1.memory_busy),
        pf_fixed_s=np.array([float(one1.t_s), float(one2.t_s)]),
        pf_token_s=np.array([per1, per2]),
        pf_comp=float(full1.compute_busy),
        pf_mem=float(full1.memory_busy),
        chunk=chunk,
        tokens_per_step=rep.tokens_per_step,
        kv_bytes_per_token=float(rep.kv_seq_bytes(1)),
        tok_per_joule=best.tok_s_per_gpu / max(best.power_w_per_gpu, 1.0),
        b_slo=b_slo,
        q_cap=q_cap,
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
        by_sku: dict[str, int] = {}
        racks = [rack_index[r] for r in d.racks]
        mine: list[Placement] = []
        i = 0
        while i < len(racks) and (d.replicas is None or len(mine) < d.replicas):
            ri = racks[i]
            sku = rack_sku[ri]
            if sku not in by_sku:
                rack_gpus = counts[ri]
                profiles.append(
                    build_profile(di, d, sku, d.gpus_per_replica, shapes, rates, catalog, rack_gpus)
                )
                by_sku[sku] = len(profiles) - 1
            pi = by_sku[sku]
            g = profiles[pi].gpus
            rack_gpus = counts[ri]
            if g <= rack_gpus:
                for k in range(rack_gpus // g):
                    if d.replicas is not None and len(mine) >= d.replicas:
                        break
                    mine.append(Placement(di, pi, (ri,), k * g, ROLE_AGG))
                i += 1
            else:
                span = math.ceil(g / rack_gpus)
                group = racks[i : i + span]
                if len(group) == span and all(rack_sku[x] == sku for x in group):
                    mine.append(Placement(di, pi, tuple(group), 0, ROLE_AGG))
                i += span
        if not mine:
            raise TwinError(f"deployment {d.id}: no replica fits on its racks")
        if d.disaggregated and len(mine) >= 2:
            n_pf = min(len(mine) - 1, max(1, round(len(mine) * d.prefill_share)))
            mine = [
                Placement(
                    p.deployment,
                    p.profile,
                    p.racks,
                    p.first_gpu,
                    ROLE_PREFILL if k < n_pf else ROLE_DECODE,
                )
                for k, p in enumerate(mine)
            ]
        placements.extend(mine)
    return profiles, placements
