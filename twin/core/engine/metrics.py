"""Latency histograms over a sliding window, and bounded gauge histories.

Cohorts of requests add their *count* to log-bucketed histograms, so percentiles cost
the same whether a tick completed ten requests or ten million.
"""

from __future__ import annotations

import math

import numpy as np

from twin.core import kpis
from twin.core.economics import cost_parts
from twin.core.engine.jit import njit

#: Latency percentiles and SLO attainment cover this much recent simulated time.
WINDOW_S = 60.0
#: Gauge history kept for sparklines, in ticks.
HISTORY_TICKS = 600
#: Request counts per class and tick: admitted, met (SLO), shed, failed, output tokens,
#: arrived, abandoned (by the client after its timeout, while still queued).
N_COUNTS = 7

#: Latency histogram: log-spaced buckets from 1 ms to ~3 h (4 % wide).
HIST_MIN_S = 1e-3
HIST_BUCKETS = 300
_LOG_STEP = np.log(1e4 / HIST_MIN_S) / HIST_BUCKETS
_MIDS = HIST_MIN_S * np.exp((np.arange(HIST_BUCKETS) + 0.5) * _LOG_STEP)


#: The per-second rates a tick records for its gauges (``Metrics._record_tick``); the
#: window's counts and latency histograms are recorded beside them.
RAW_RATES = (
    "t_s",
    "output_tok_s",
    "prefill_tok_s",
    "it_kw",
    "facility_kw",
    "capital_usd_s",
    "energy_usd_s",
    "queue_depth",
    "utilisation",
    "envelope_kw",
    "shed_rps",
)


def bucket(values: np.ndarray) -> np.ndarray:
    """Histogram bucket of each latency; infinite or undefined ones go to the last bucket
    (a request that cannot be served in the histogram's range is as late as it gets)."""
    v = np.nan_to_num(np.asarray(values, dtype=float), nan=np.inf)
    v = np.clip(v, HIST_MIN_S, HIST_MIN_S * np.exp(HIST_BUCKETS * _LOG_STEP))
    return np.minimum((np.log(v / HIST_MIN_S) / _LOG_STEP).astype(np.int64), HIST_BUCKETS - 1)


#: Requests below which a window's count is the running sums' rounding, not requests: a
#: window's sums are added and taken off tick by tick, and their counts reach ~1e7, so the
#: rounding left once the requests left reaches ~1e-9. A histogram holding less is empty
#: (no percentile), a class admitting less has no goodput (met ÷ rounding would be noise).
ROUNDING_COUNT = 1e-6


def percentile(hist: np.ndarray, q: float) -> float:
    """The q-quantile (0..1) of a histogram's counts; NaN when it is empty."""
    return percentiles(hist, (q,))[0]


def percentiles(hist: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    """Several quantiles of one histogram with a single cumulative sum.

    Within the bucket where the q-th count falls, the quantile is interpolated (linearly in
    log latency, as the buckets are spaced): a bucket is 4 % wide, so returning its middle
    made p95 and p99 of a narrow distribution the same figure whenever both fell in one
    bucket, though the counts below them differ."""
    if not len(hist):
        return [float("nan")] * len(qs)
    return batch_percentiles(np.asarray(hist, dtype=float).reshape(1, -1), qs)[0].tolist()


def batch_percentiles(hists: np.ndarray, qs: tuple[float, ...]) -> np.ndarray:
    """``percentiles`` of each row of ``hists`` (rows × HIST_BUCKETS), as a (rows, qs)
    array, in a few numpy calls; NaN for an empty row."""
    cum = np.cumsum(hists, axis=1)
    total = cum[:, -1]
    target = np.asarray(qs, dtype=float)[None, :] * total[:, None]
    idx = np.minimum((cum[:, None, :] < target[:, :, None]).sum(axis=2), HIST_BUCKETS - 1)
    below = np.where(idx > 0, np.take_along_axis(cum, np.maximum(idx - 1, 0), axis=1), 0.0)
    at = np.maximum(np.take_along_axis(hists, idx, axis=1), 1e-300)
    inside = np.clip((target - below) / at, 0.0, 1.0)
    out = HIST_MIN_S * np.exp((idx + inside) * _LOG_STEP)
    out[total <= ROUNDING_COUNT] = np.nan
    return out


def _computed(values: list[float], qs: tuple[float, ...]) -> list[float]:
    """``Quantities``' percentile function when they are computed already."""
    return values


class Window:
    """Per-tick accumulators over the last ``n`` ticks, with running sums."""

    def __init__(self, n: int, shape: tuple[int, ...]):
        self.ring = np.zeros((n, *shape))
        self.sum = np.zeros(shape)
        self.head = 0

    def push(self, value: np.ndarray) -> None:
        _push(self.ring, self.sum, self.head, np.ascontiguousarray(value))
        self.advance()

    def advance(self) -> None:
        """The next slot (after ``value`` went into ``ring[head]``, as ``push`` does)."""
        self.head = (self.head + 1) % len(self.ring)


@njit(cache=True, error_model="numpy")
def _push(ring, total, head, value):
    """``total += value - ring[head]``, ``ring[head] = value``, and float drift never takes
    ``total`` below 0 (one pass, for ``Window.push``; any shape, as flat C arrays)."""
    ring_h, tot, val = ring[head].reshape(-1), total.reshape(-1), value.reshape(-1)
    for i in range(len(tot)):
        x = tot[i] + (val[i] - ring_h[i])
        tot[i] = 0.0 if x < 0.0 else x
        ring_h[i] = val[i]


@njit(cache=True, error_model="numpy")
def record_windows(
    ttft_ring, ttft_sum, ttft_head, ttft, tpot_ring, tpot_sum, tpot_head, tpot, cnt_ring,
    cnt_sum, cnt_head, cnt, run_ttft, run_tpot, run_counts, hists, counts,
):  # fmt: skip
    """One pass at the end of a tick: the tick's latency histograms and counts join their
    windows (``Window.push``: ``ttft`` into ``ttft_ring[ttft_head]``, ...) and the run's
    totals; ``hists`` gets the windows' latency histograms summed over classes and
    ``counts`` the window's counts (the gauges' raw inputs)."""
    _push(ttft_ring, ttft_sum, ttft_head, ttft)
    _push(tpot_ring, tpot_sum, tpot_head, tpot)
    _push(cnt_ring, cnt_sum, cnt_head, cnt)
    n_cls, n_b = ttft_sum.shape
    for b in range(n_b):
        hists[0, b] = ttft_sum[0, b]
        hists[1, b] = tpot_sum[0, b]
    for c in range(n_cls):
        for b in range(n_b):
            run_ttft[c, b] += ttft[c, b]
            run_tpot[c, b] += tpot[c, b]
            if c > 0:
                hists[0, b] += ttft_sum[c, b]
                hists[1, b] += tpot_sum[c, b]
    for i in range(cnt_sum.shape[0]):
        for c in range(cnt_sum.shape[1]):
            run_counts[i, c] += cnt[i, c]
            counts[i, c] = cnt_sum[i, c]


class History:
    """The last ``n`` samples of each gauge (oldest first on read)."""

    def __init__(self, keys: tuple[str, ...], n: int):
        self.keys = keys
        self.data = np.full((len(keys), n), np.nan)
        self.count = 0
        self.n = n

    def push(self, values: dict[str, float]) -> None:
        self.data[:, self.count % self.n] = [values[k] for k in self.keys]
        self.count += 1

    def push_gauges(self, t_s: float, gauges: dict[str, float]) -> None:
        """``push({"t_s": t_s, **gauges})`` where ``keys`` is ``("t_s", *gauges)``."""
        self.data[:, self.count % self.n] = [t_s, *[gauges[k] for k in self.keys[1:]]]
        self.count += 1

    def read(self) -> dict[str, np.ndarray]:
        if self.count <= self.n:
            view = self.data[:, : self.count]
        else:
            start = self.count % self.n
            view = np.concatenate([self.data[:, start:], self.data[:, :start]], axis=1)
        out = {}
        for i, k in enumerate(self.keys):
            a = view[i].copy()
            a.setflags(write=False)
            out[k] = a
        return out


class Metrics:
    """Gauges of the last tick, windows for percentiles and SLOs, and whole-run totals."""

    STATE_METRICS = (
        "w_ttft",
        "w_tpot",
        "w_counts",
        "history",
        "gauges",
        "totals",
        "run_ttft",
        "run_tpot",
        "run_counts",
    )

    def _init_metrics(self) -> None:
        wn = max(1, int(round(WINDOW_S / self.dt)))
        self.w_ttft = Window(wn, (self.n_cls, HIST_BUCKETS))
        self.w_tpot = Window(wn, (self.n_cls, HIST_BUCKETS))
        self.w_counts = Window(wn, (N_COUNTS, self.n_cls))
        gauge_keys = kpis.gauge_keys()  # the registry's, as it is when the factory is built
        self._live_formulas = [(m.name, m.formula) for m in kpis.metrics() if m.formula and m.live]
        self._init_raw()
        self.history = History(("t_s", *gauge_keys), HISTORY_TICKS)
        # no value before the first tick (not 0: an SLO at 0 % would read as an outage,
        # and a scenario's "when slo_attainment < 0.9" would fire at once)
        self.gauges: dict[str, float] = dict.fromkeys(gauge_keys, math.nan)
        self.totals = {
            "output_tokens": 0.0,
            "energy_kwh": 0.0,
            "cost_usd": 0.0,
            "capital_usd": 0.0,
            "energy_usd": 0.0,
            "it_kwh": 0.0,
            "seconds": 0.0,
            "prefill_tokens": 0.0,
        }
        # whole-run latency histograms and request counts (the report's run aggregates)
        self.run_ttft = np.zeros((self.n_cls, HIST_BUCKETS))
        self.run_tpot = np.zeros((self.n_cls, HIST_BUCKETS))
        self.run_counts = np.zeros((N_COUNTS, self.n_cls))

    # ---- gauges when read -------------------------------------------------------------
    # A tick records its raw quantities (``_record_tick``): the per-second rates that need
    # the replicas' arrays, the window's request counts and its class-summed latency
    # histograms. The registry's formulas (and the six percentiles) run over them only
    # when ``gauges`` or ``history`` is read, once per tick recorded, in tick order — the
    # same figures an eager evaluation gives, at no cost for ticks nobody reads (a long
    # ``advance_to`` needs only the last HISTORY_TICKS of them).

    @property
    def gauges(self) -> dict[str, float]:
        """The registry's live metrics at the last tick (computed on read, from that
        tick's raw quantities alone)."""
        if self._gauges_at != self._recorded:
            self._gauge_rows([self._recorded - 1], None)
        return self._gauges

    @gauges.setter
    def gauges(self, value: dict[str, float]) -> None:
        self._gauges = value
        self._gauges_at = self._recorded

    @property
    def history(self) -> History:
        """The last HISTORY_TICKS gauge values (computed on read)."""
        h = self._history
        pending = self._recorded - h.count
        if pending > 0:
            if pending > h.n:  # older ones would be overwritten in the history anyway
                h.count += pending - h.n
            self._gauge_rows(range(h.count, self._recorded), h)
        return h

    @history.setter
    def history(self, value: History) -> None:
        self._history = value
        self._recorded = self._gauges_at = value.count  # a restored history: none pending

    def _init_raw(self) -> None:
        n = HISTORY_TICKS
        self._raw_rates: list[tuple[float, ...]] = [()] * n
        self._raw_counts = np.zeros((n, N_COUNTS, self.n_cls))
        self._raw_hists = np.zeros((n, 2, HIST_BUCKETS))
        # ticks recorded; ``_history.count`` of them are in the history, and ``_gauges``
        # holds the gauges of the first ``_gauges_at``
        self._recorded = self._gauges_at = 0
        self._serving_rows = None  # ``_record_tick``'s serving rows (a cache)

    def _record_tick(self, k) -> None:
        """The tick's latency histograms and counts into their windows (``k.ttft``,
        ``k.tpot``, ``k.counts``), its raw quantities for the gauges, and the run's
        totals (``k.out_tokens``, ``k.pf_total``; ``k.it_kw``: the racks' power)."""
        dt = self.dt
        it_kw = k.it_kw
        fac_kw = it_kw * self.pue
        capital_s, opex_s = self._cost_rates()
        energy_s = fac_kw * self.layout.site.usd_per_kwh / 3600.0
        i = self._recorded % HISTORY_TICKS
        wt, wp, wc = self.w_ttft, self.w_tpot, self.w_counts
        record_windows(
            wt.ring, wt.sum, wt.head, k.ttft, wp.ring, wp.sum, wp.head, k.tpot, wc.ring, wc.sum,
            wc.head, k.counts, self.run_ttft, self.run_tpot, self.run_counts,
            self._raw_hists[i], self._raw_counts[i],
        )  # fmt: skip
        wt.advance()
        wp.advance()
        wc.advance()
        # per row of identical replicas (rows.py), each counted ``row_w`` times; the rows
        # that serve and their capacity, cached while the rows and ``up_r`` are the same
        sv = self._serving_rows
        if sv is None or sv[0] is not k.up_r or sv[1] is not self.rw_serves:
            serving = k.up_r & self.rw_serves
            w = self.row_w[serving]
            sv = self._serving_rows = (
                k.up_r,
                self.rw_serves,
                serving,
                w,
                float(self.rw_cap_tok_s[serving] @ w),
            )
        _, _, serving, w, cap = sv
        self._raw_rates[i] = (
            self.now,
            k.out_tokens / dt,
            k.pf_total / dt,
            it_kw,
            fac_kw,
            capital_s + opex_s,
            energy_s,
            float(self.q_cnt.sum(axis=1) @ self.row_w),
            float(self.row_out_s[serving] @ w / cap) if cap > 0 else 0.0,
            self._envelope_kw(),
            float(self._cls_shed_rate.sum()),
        )
        self._recorded += 1
        t = self.totals
        t["output_tokens"] += k.out_tokens
        t["prefill_tokens"] += k.pf_total
        t["energy_kwh"] += fac_kw * dt / 3600.0
        t["it_kwh"] += it_kw * dt / 3600.0
        t["cost_usd"] += (capital_s + energy_s + opex_s) * dt
        t["capital_usd"] += (capital_s + opex_s) * dt
        t["energy_usd"] += energy_s * dt
        t["seconds"] += dt

    def _envelope_kw(self) -> float:
        site = self.layout.site
        if self.site_cap_kw is None:
            return site.envelope_kw
        return min(site.envelope_kw, self.site_cap_kw)

    def _gauge_rows(self, ticks, history: History | None) -> None:
        """The gauges of recorded ticks (in order; their raw rows are in the ring), each
        pushed to ``history`` if given; ``gauges`` ends as the last one's. The numpy parts
        run over all the ticks at once, with the same arithmetic per tick."""
        rows = np.array([j % HISTORY_TICKS for j in ticks], dtype=np.int64)
        w = self._raw_counts[rows]  # (ticks, N_COUNTS, classes)
        admitted, met, failed, out_c = w[:, 0], w[:, 1], w[:, 3], w[:, 4]
        # the windows' running sums leave rounding behind, not requests: a class admitting
        # none has no goodput, and none met is none (met ÷ rounding would be noise)
        met = np.where(met > ROUNDING_COUNT, met, 0.0)
        some = admitted > ROUNDING_COUNT
        good = np.sum(
            np.where(some, out_c * met / np.maximum(admitted, ROUNDING_COUNT), 0.0), axis=1
        )
        out_window = out_c.sum(axis=1)
        failed_rps = (failed.sum(axis=1) / WINDOW_S).tolist()
        counts = w.sum(axis=2).tolist()
        ttft = batch_percentiles(self._raw_hists[rows, 0], kpis.PERCENTILES).tolist()
        tpot = batch_percentiles(self._raw_hists[rows, 1], kpis.PERCENTILES).tolist()
        g = self._gauges
        for n, i in enumerate(rows.tolist()):
            r = dict(zip(RAW_RATES, self._raw_rates[i], strict=True))
            r["goodput_tok_s"] = (
                r["output_tok_s"] * float(good[n] / out_window[n]) if out_window[n] > 0 else 0.0
            )
            r["failed_rps"] = failed_rps[n]
            c = counts[n]
            q = kpis.Quantities(
                r,
                {
                    "admitted": c[0],
                    "met": c[1],
                    "shed": c[2],
                    "failed": c[3],
                    "requests": c[5],
                    "abandoned": c[6],
                },
                {"ttft": ttft[n], "tpot": tpot[n]},
                self.dt,
                _computed,
            )
            for name, formula in self._live_formulas:  # kpis.compute(q, live=True), unfiltered
                g[name] = formula(q)
            if history is not None:
                history.push_gauges(r["t_s"], g)
        self._gauges_at = self._recorded

    def _cost_rates(self) -> tuple[float, float]:
        """$/s of capital (servers, fabric and facility, paid off with interest) and of
        opex for every GPU on the floor, idle or not — the parts of ``economics.cost_parts``,
        the model ``twin perf`` prices with; the layout's ``economics`` overrides any part.
        Energy is not here: the engine meters it (facility power × $/kWh)."""
        if self._capex_cache is not None:
            return self._capex_cache
        site = self.layout.site
        base = {
            "usd_per_kwh": site.usd_per_kwh,
            "amortisation_years": site.amortisation_years,
            **dict(site.cost_overrides),
        }
        per: dict[str, tuple[float, float]] = {}
        capital = opex = 0.0
        for s, n in zip(self.rack_sku, self.rack_gpus, strict=True):
            if s not in per:
                o = dict(base)
                if s in site.capex_usd_per_gpu:
                    o["capex_usd_per_gpu"] = site.capex_usd_per_gpu[s]
                c = cost_parts(self.catalog.gpu(s), o, self.catalog)
                fixed_opex = site.opex_usd_per_gpu_hr
                per[s] = (
                    c.system + c.network + c.facility,
                    c.opex if fixed_opex is None else fixed_opex,
                )
            capital += per[s][0] * n
            opex += per[s][1] * n
        self._capex_cache = (capital / 3600.0, opex / 3600.0)
        return self._capex_cache

    def reset_run_totals(self) -> None:
        """Start the run aggregates afresh (after a warm-up): gauges and windows carry on."""
        for k in self.totals:
            self.totals[k] = 0.0
        self.run_ttft[:] = 0.0
        self.run_tpot[:] = 0.0
        self.run_counts[:] = 0.0

    def run_summary(self) -> dict[str, float]:
        """Aggregates over everything simulated so far (not averages of windowed gauges):
        the registry's formulas over the whole run's totals."""
        t = self.totals
        secs = max(t["seconds"], 1e-9)
        rates = {
            "output_tok_s": t["output_tokens"] / secs,
            "prefill_tok_s": t["prefill_tokens"] / secs,
            "it_kw": t["it_kwh"] * 3600.0 / secs,
            "facility_kw": t["energy_kwh"] * 3600.0 / secs,
            "capital_usd_s": t["capital_usd"] / secs,
            "energy_usd_s": t["energy_usd"] / secs,
        }
        hists = {"ttft": self.run_ttft.sum(axis=0), "tpot": self.run_tpot.sum(axis=0)}
        q = kpis.Quantities(rates, _counts(self.run_counts), hists, secs, percentiles)
        return kpis.compute(q, live=False)


def _counts(c: np.ndarray) -> dict[str, float]:
    """Request counts by outcome from a (N_COUNTS, classes) array (see ``N_COUNTS``)."""
    return {
        "admitted": c[0].sum(),
        "met": c[1].sum(),
        "shed": c[2].sum(),
        "failed": c[3].sum(),
        "requests": c[5].sum(),
        "abandoned": c[6].sum(),
    }
