"""Latency histograms over a sliding window, and bounded gauge histories.

Cohorts of requests add their *count* to log-bucketed histograms, so percentiles cost
the same whether a tick completed ten requests or ten million.
"""

from __future__ import annotations

import math

import numpy as np

from twin.core import kpis
from twin.core.economics import cost_parts
from twin.core.engine import plan as P
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


def bucket(values: np.ndarray) -> np.ndarray:
    """Histogram bucket of each latency; infinite or undefined ones go to the last bucket
    (a request that cannot be served in the histogram's range is as late as it gets)."""
    v = np.nan_to_num(np.asarray(values, dtype=float), nan=np.inf)
    v = np.clip(v, HIST_MIN_S, HIST_MIN_S * np.exp(HIST_BUCKETS * _LOG_STEP))
    return np.minimum((np.log(v / HIST_MIN_S) / _LOG_STEP).astype(np.int64), HIST_BUCKETS - 1)


def percentile(hist: np.ndarray, q: float) -> float:
    """The q-quantile (0..1) of a histogram's counts; NaN when it is empty."""
    return percentiles(hist, (q,))[0]


def percentiles(hist: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    """Several quantiles of one histogram with a single cumulative sum.

    Within the bucket where the q-th count falls, the quantile is interpolated (linearly in
    log latency, as the buckets are spaced): a bucket is 4 % wide, so returning its middle
    made p95 and p99 of a narrow distribution the same figure whenever both fell in one
    bucket, though the counts below them differ."""
    cum = np.cumsum(hist)
    total = cum[-1] if len(cum) else 0.0
    if total <= 0:
        return [float("nan")] * len(qs)
    target = np.asarray(qs, dtype=float) * total
    idx = np.minimum(np.searchsorted(cum, target), HIST_BUCKETS - 1)
    below = np.where(idx > 0, cum[np.maximum(idx - 1, 0)], 0.0)
    inside = np.clip((target - below) / np.maximum(hist[idx], 1e-300), 0.0, 1.0)
    return [float(v) for v in HIST_MIN_S * np.exp((idx + inside) * _LOG_STEP)]


class Window:
    """Per-tick accumulators over the last ``n`` ticks, with running sums."""

    def __init__(self, n: int, shape: tuple[int, ...]):
        self.ring = np.zeros((n, *shape))
        self.sum = np.zeros(shape)
        self.head = 0

    def push(self, value: np.ndarray) -> None:
        n = len(self.ring)
        _push(self.ring.reshape(n, -1), self.sum.reshape(-1), self.head, value.reshape(-1))
        self.head = (self.head + 1) % n


@njit(cache=True, error_model="numpy")
def _push(ring, total, head, value):
    """``total += value - ring[head]``, ``ring[head] = value``, and float drift never takes
    ``total`` below 0 (one pass, for ``Window.push``)."""
    for i in range(len(total)):
        x = total[i] + (value[i] - ring[head, i])
        total[i] = 0.0 if x < 0.0 else x
        ring[head, i] = value[i]


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

    def _update_gauges(self, out_tokens, pf_tokens, up) -> None:
        dt = self.dt
        site = self.layout.site
        it_kw = float(self.rack_power_kw.sum())
        fac_kw = it_kw * self.pue
        out_s = out_tokens / dt
        capital_s, opex_s = self._cost_rates()
        energy_s = fac_kw * site.usd_per_kwh / 3600.0
        cost_s = capital_s + energy_s + opex_s
        w = self.w_counts.sum
        admitted, met, failed, out_c = w[0], w[1], w[3], w[4]
        good = float(np.sum(np.where(admitted > 0, out_c * met / np.maximum(admitted, 1e-9), 0.0)))
        out_window = float(out_c.sum())
        serving = up & (self.rep_role != P.ROLE_PREFILL)
        cap = float(self.rep_cap_tok_s[serving].sum())
        serving_r = up[self.row_rep] & (self.rw_role != P.ROLE_PREFILL)  # rows.py
        rates = {
            "output_tok_s": out_s,
            "prefill_tok_s": pf_tokens / dt,
            "it_kw": it_kw,
            "facility_kw": fac_kw,
            "capital_usd_s": capital_s + opex_s,
            "energy_usd_s": energy_s,
            "goodput_tok_s": out_s * (good / out_window) if out_window > 0 else 0.0,
            "queue_depth": float(self.q_cnt.sum(axis=1) @ self.row_w),
            "utilisation": (
                float(self.row_out_s[serving_r] @ self.row_w[serving_r] / cap) if cap > 0 else 0.0
            ),
            "envelope_kw": (
                site.envelope_kw
                if self.site_cap_kw is None
                else min(site.envelope_kw, self.site_cap_kw)
            ),
            "shed_rps": float(self._cls_shed_rate.sum()),
            "failed_rps": float(failed.sum() / WINDOW_S),
        }
        q = kpis.Quantities(
            rates,
            _counts(w),
            {"ttft": self.w_ttft.sum.sum(axis=0), "tpot": self.w_tpot.sum.sum(axis=0)},
            dt,
            percentiles,
        )
        g = self.gauges
        for name, formula in self._live_formulas:  # kpis.compute(q, live=True), unfiltered
            g[name] = formula(q)
        t = self.totals
        t["output_tokens"] += out_tokens
        t["prefill_tokens"] += pf_tokens
        t["energy_kwh"] += fac_kw * dt / 3600.0
        t["it_kwh"] += it_kw * dt / 3600.0
        t["cost_usd"] += cost_s * dt
        t["capital_usd"] += (capital_s + opex_s) * dt
        t["energy_usd"] += energy_s * dt
        t["seconds"] += dt
        self.run_ttft += self.w_ttft.ring[(self.w_ttft.head - 1) % len(self.w_ttft.ring)]
        self.run_tpot += self.w_tpot.ring[(self.w_tpot.head - 1) % len(self.w_tpot.ring)]
        self.run_counts += self.w_counts.ring[(self.w_counts.head - 1) % len(self.w_counts.ring)]
        self.history.push_gauges(self.now, g)

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
