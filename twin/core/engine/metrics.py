"""Latency histograms over a sliding window, and bounded gauge histories.

Cohorts of requests add their *count* to log-bucketed histograms, so percentiles cost
the same whether a tick completed ten requests or ten million.
"""

from __future__ import annotations

import numpy as np

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
    total = hist.sum()
    if total <= 0:
        return float("nan")
    cum = np.cumsum(hist)
    i = int(np.searchsorted(cum, q * total))
    return float(_MIDS[min(i, HIST_BUCKETS - 1)])


def percentiles(hist: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    """Several quantiles of one histogram with a single cumulative sum."""
    cum = np.cumsum(hist)
    total = cum[-1] if len(cum) else 0.0
    if total <= 0:
        return [float("nan")] * len(qs)
    idx = np.searchsorted(cum, np.asarray(qs) * total)
    return [float(_MIDS[min(int(i), HIST_BUCKETS - 1)]) for i in idx]


class Window:
    """Per-tick accumulators over the last ``n`` ticks, with running sums."""

    def __init__(self, n: int, shape: tuple[int, ...]):
        self.ring = np.zeros((n, *shape))
        self.sum = np.zeros(shape)
        self.head = 0

    def push(self, value: np.ndarray) -> None:
        self.sum += value - self.ring[self.head]
        self.ring[self.head] = value
        self.head = (self.head + 1) % len(self.ring)
        np.maximum(self.sum, 0.0, out=self.sum)  # float drift never goes negative


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
