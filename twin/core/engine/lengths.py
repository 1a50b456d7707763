"""Length distributions: what a class's spread of prompt and output lengths does to latency.

The engine's flow is a fluid of cohorts at each class's *mean* lengths: requests in flight,
KV occupancy, batch sizes and throughput follow the means (Little's law holds for any
length distribution with that mean). What the spread changes is who waits how long, so it
acts on the latency histograms, not on the flow:

- **Quantile bins.** Each class's prompt (``isl``) and output (``osl``) distribution is
  stood for by ``len(BIN_EDGES) - 1`` weighted bins: the bin's length is the distribution's
  mean over that slice of probability (lognormal with its ``sigma``, uniform, or fixed,
  clamped to ``min``/``max``), scaled so the bins' weighted mean is the declared mean. The
  bins are deterministic (no sampling), the slices put p50, p95 and p99 each inside a bin.
- **TTFT follows a request's own prompt.** A request waits for the step in progress and
  the prefill queued ahead of it (``kernel.serve_queues``), then its own prefill: the
  engine's cohort TTFT holds the mean prompt's prefill time, so a request of prompt bin j
  is ``own_j − own_mean`` later (earlier for a short one), ``own`` being one prompt's
  prefill alone, in chunks, on the class's prefill replica at its clock. An agentic
  step's prompt is its context plus the spread of its new input.
- **TPOT varies with the batch a request saw.** A replica's batch fluctuates around its
  fluid mean B̄ (Poisson arrivals into B_max slots: variance B̄·(1 − B̄/B_max)), correlated
  over a mean request's decode time. A request that decodes x times the mean output length
  sees the batch averaged over its life, with variance shrunk by
  ``g(x) = 2(x − 1 + e^−x)/x²``; its TPOT is the replica's pace times
  ``1 + ε·z·√(var·g(x))/B̄`` (ε = d ln t_step / d ln B from the profile's table, z over
  fixed normal quantile nodes). Short requests scatter, long ones average out; a saturated
  replica (B̄ = B_max) or a weight-bound one (ε ≈ 0) has no spread. The TPOT histogram
  counts requests (a request's mean TPOT once, the MLPerf and vLLM convention), so a
  short request counts as much as a long one and a long-output class does not drown
  the others in the site's percentiles.
- **SLO attainment** counts, of each admitted cohort, the share of its prompt bins whose
  own TTFT met the class's SLO.

Cost: the spread is applied to the per-class histograms a tick pushes (nonzero buckets ×
a fixed kernel of ≤ 42 entries), and to the admitted cohorts' SLO test (× 6 bins) — never
per request, never per replica × bin in the histograms. No state: everything is rebuilt
from the layout and the tick's arrays, so checkpoints are unchanged.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np

from twin.core.engine import kernel as K
from twin.core.engine import plan as P
from twin.core.engine.jit import njit
from twin.core.layout import LengthDist

#: Probability slices that stand for a length distribution (p50, p95 and p99 each fall
#: inside one, so the three percentiles come from different bins).
BIN_EDGES = (0.0, 0.3, 0.7, 0.9, 0.97, 0.995, 1.0)
#: Normal quantile slices for the batch a request saw (symmetric; tails resolved).
Z_EDGES = (0.0, 0.01, 0.05, 0.3, 0.7, 0.95, 0.99, 1.0)
#: Points of the fine quantile grid the bins average over.
FINE = 4000
#: A request's TPOT is at least this share of its replica's pace (a batch never empties
#: around one request for its whole life).
TPOT_FLOOR = 0.3

_U = (np.arange(FINE) + 0.5) / FINE
_Z = np.array([NormalDist().inv_cdf(float(u)) for u in _U])


def _slices(values: np.ndarray, edges) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``values`` (on the fine quantile grid) over each probability slice."""
    cut = np.round(np.asarray(edges) * FINE).astype(int)
    w = np.diff(np.asarray(edges, dtype=float))
    x = np.array([values[a:b].mean() for a, b in zip(cut[:-1], cut[1:], strict=True)])
    return x, w


def length_bins(d: LengthDist) -> tuple[np.ndarray, np.ndarray]:
    """(lengths, weights) of the quantile bins of one length distribution; the weighted
    mean is ``d.mean`` and every length lies within ``min``..``max``."""
    if d.kind == "lognormal" and d.sigma > 0:
        fine = np.exp(d.sigma * _Z - d.sigma**2 / 2)  # mean 1
    elif d.kind == "uniform" and d.max > d.min:
        fine = (d.min + (d.max - d.min) * _U) / max((d.min + d.max) / 2, 1e-9)
    else:
        return np.full(len(BIN_EDGES) - 1, d.mean), np.diff(np.asarray(BIN_EDGES))
    lo, hi = max(1.0, float(d.min)), float(d.max) if d.max else np.inf
    scale = d.mean
    for _ in range(30):  # the clamp moves the mean: rescale until it is the declared one
        x = np.clip(fine * scale, lo, hi)
        m = x.mean()
        if abs(m - d.mean) <= 1e-9 * d.mean:
            break
        scale *= d.mean / m
    return _slices(np.clip(fine * scale, lo, hi), BIN_EDGES)


def _shrink(x: np.ndarray) -> np.ndarray:
    """Variance of a batch averaged over x correlation times, as a share of its variance."""
    x = np.maximum(x, 1e-6)
    return np.where(x < 1e-3, 1.0 - x / 3, 2.0 * (x - 1.0 + np.exp(-x)) / x**2)


class Lengths:
    """Per-class length bins and the spread they put on TTFT, TPOT and SLO counts."""

    def _init_lengths(self) -> None:
        """Static per-class bins (from the layout); called once the replicas exist."""
        W = self.layout.workloads
        isl = [length_bins(w.isl) for w in W]
        osl = [length_bins(w.osl) for w in W]
        self.len_w = np.array([w for _, w in isl])  # (C, J) bin weights (same for both)
        # their cumulative weights, from 0 (``kernel.serve_queues``' SLO shares)
        self._len_cumw = np.concatenate(
            [np.zeros((len(W), 1)), np.cumsum(self.len_w, axis=1)], axis=1
        )
        self.len_isl_d = np.array([x - w.isl.mean for (x, _), w in zip(isl, W, strict=True)])
        x_out = np.array([x / w.osl.mean for (x, _), w in zip(osl, W, strict=True)])
        self.len_z, zw = _slices(_Z, Z_EDGES)
        # TPOT kernel: output bin j × normal node z, each request counted once (the
        # kernel's histogram counts tokens: a class's tokens over its mean output length
        # are its requests' worth)
        per_req = self.len_w / np.array([w.osl.mean for w in W])[:, None]
        self.len_tpot_w = per_req[:, :, None] * zw[None, None, :]  # (C, J, Z)
        self.len_g = _shrink(x_out)  # (C, J) batch variance a request's life averages to
        self.len_osl = np.array([x for x, _ in osl])  # (C, J) output tokens
        # second moment of prompt lengths over the squared mean (1 + CV²)
        self.len_m2 = np.array([(w * x**2).sum() / (w * x).sum() ** 2 for x, w in isl])
        # Kingman's queueing factor (c_a² + c_s²)/2 per class: burstiness is the CV of
        # inter-arrival times, a prefill's time follows its prompt (c_s² = m2 − 1)
        self.len_kingman = (np.square(self.cls_burst) + self.len_m2 - 1.0) / 2.0
        self.len_has_isl = np.abs(self.len_isl_d).max(axis=1) > 0
        self._len_any_isl = bool(self.len_has_isl.any())
        # the histogram spread's kernel (``kernel.spread_hist``) takes (C, K) tables
        self._len_ones = np.ones_like(self.len_isl_d)
        self._len_tpot_w2 = self.len_tpot_w.reshape(self.n_cls, -1).copy()
        self._len_zeros = np.zeros_like(self._len_tpot_w2)

    def _len_reps(self) -> None:
        """Per-replica tables the spread needs (rebuilt with the replicas, after a swap): the
        replica that stands for each class's prefill, each profile's step-time elasticity
        over the batch grid, and each slot's prompt-length second moment."""
        rep = np.zeros(self.n_cls, dtype=int)
        for c, sh in enumerate(self.shapes):
            idx = self.dep_reps[sh.deployment]
            pf = idx[self.rep_role[idx] != P.ROLE_DECODE]
            rep[c] = pf[0] if len(pf) else (idx[0] if len(idx) else 0)
        self.len_rep = rep
        t = self.prof_tdec[:, 0, :]  # (P, G) at full clock
        g = np.maximum(P.NORM_GRID, 1e-12)
        seg = np.diff(t, axis=1) / np.diff(g)[None, :]  # dt/d(B/B_max) on each segment
        mid = (g[1:] + g[:-1]) / 2
        self.len_eps2 = (seg * mid / np.maximum((t[:, 1:] + t[:, :-1]) / 2, 1e-12)) ** 2
        self.len_eps_row = self.rep_prof * self.len_eps2.shape[1]  # into len_eps2, flattened
        self.len_m2_slot = np.where(self.rep_slot_cls >= 0, self.len_m2[self._slot_cls0], 0.0)
        self._len_eps2_flat = self.len_eps2.ravel().copy()


@njit(cache=True, error_model="numpy", inline="always")
def _maximum(a, b):
    """``np.maximum`` of two floats (NaN if either is)."""
    if a != a or b != b:
        return a + b
    return a if a >= b else b


@njit(cache=True, error_model="numpy")
def ttft_shift(tok_req, cw, slow, len_rep, isl_d, rep_prof, tpf, chunk, pf_scale, pf_grid, out):
    """(C, J) seconds a request of each prompt bin gets its first token after the
    cohort's (mean-prompt) TTFT: its own prompt's prefill alone, in chunks, on the class's
    prefill replica ``len_rep[c]`` at its clock (``cw``, ``slow``: per replica), less the
    mean prompt's. Returns whether any is nonzero (else the TTFT has no length spread)."""
    some = False
    for c in range(out.shape[0]):
        r = len_rep[c]
        p = rep_prof[r]
        mean = K.prompt_time(tpf, p, tok_req[c], cw[r], chunk, pf_scale, pf_grid) * slow[r]
        for j in range(out.shape[1]):
            x = _maximum(1.0, tok_req[c] + isl_d[c, j])
            out[c, j] = K.prompt_time(tpf, p, x, cw[r], chunk, pf_scale, pf_grid) * slow[r] - mean
            some = some or out[c, j] != 0.0
    return some


@njit(cache=True, error_model="numpy")
def spread_tpot(var, hist, mids, len_g, len_osl, len_z, zeros, tpot_w, factor, out):
    """A (C, HIST_BUCKETS) TPOT histogram at each replica's pace (counting output tokens)
    spread over output bins × the batch and the prefills each request saw, into ``out``,
    counted per request (each request's mean TPOT once, as MLPerf and vLLM count it).

    ``var[0, c]`` and ``var[1, c]`` are the class's relative TPOT variance from the batch
    and from prefill stalls (``kernel.tpot_variance``: ``batch = ε²(1 − B̄/B_max)/B̄``;
    ``prefill = ρ·m2·p̄²/(tps·TPOT²)`` for ρ prompts admitted per decode step, each
    stalling the batch p̄ seconds on average, m2 = 1 + CV² of the prompts), averaged over
    its replicas by output tokens. A request of output bin j at normal node z runs at
    its replica's pace × max(TPOT_FLOOR, 1 + z·sd), sd² = batch·g(x_j) + prefill/osl_j."""
    n_z = len(len_z)
    for c in range(len_g.shape[0]):
        for j in range(len_g.shape[1]):
            sd = np.sqrt(var[0, c] * len_g[c, j] + var[1, c] / len_osl[c, j])
            for z in range(n_z):
                factor[c, j * n_z + z] = _maximum(TPOT_FLOOR, 1.0 + sd * len_z[z])
    K.spread_hist(hist, mids, factor, zeros, tpot_w, out)  # mids × factor
