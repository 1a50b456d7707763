"""Routing policies: how a tick's arrivals of one class split over a deployment's replicas.

Each policy is a function of the replicas' current state (arrays) that returns the
share of the arrivals each one receives; they are vectorised, so routing costs the same
for ten requests or ten million. Add a policy by adding a function to ``POLICIES``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

#: power-aware fills the most efficient replicas up to this load before the next ones.
POWER_AWARE_TARGET_LOAD = 0.8


@dataclass
class View:
    """What a policy may look at, for the eligible replicas of one deployment."""

    load: np.ndarray  # (queue + running) / KV capacity
    capacity: np.ndarray  # requests the replica holds at full KV (B_max)
    efficiency: np.ndarray  # tokens per joule of the replica's GPU profile
    clock: np.ndarray  # 1 = full clocks; lower is capped or throttled


def waterfill(load: np.ndarray, width: np.ndarray, n: float) -> np.ndarray:
    """Split ``n`` so the least-loaded replicas rise to a common level (join-shortest-queue
    in the fluid limit). ``width`` is how many requests raise a replica's load by 1."""
    if n <= 0 or len(load) == 0:
        return np.zeros_like(load)
    order = np.argsort(load, kind="stable")
    lo, wi = load[order], width[order]
    cw = np.cumsum(wi)
    # filling up to lo[k] needs sum_{i<k} (lo[k] - lo[i]) * w_i
    need = lo * cw - np.cumsum(lo * wi)
    k = int(np.searchsorted(need, n, side="right")) - 1
    k = max(k, 0)
    level = lo[k] + (n - need[k]) / cw[k]
    share = np.zeros_like(load)
    share[order] = np.maximum(0.0, level - lo) * wi
    return share / share.sum()


def round_robin(v: View, n: float) -> np.ndarray:
    return np.full(len(v.load), 1.0 / len(v.load))


def least_loaded(v: View, n: float) -> np.ndarray:
    return waterfill(v.load, v.capacity, n)


def power_aware(v: View, n: float) -> np.ndarray:
    """Most tokens per joule first, full-clock replicas before capped ones, each up to
    a target load; the rest water-filled over everyone."""
    score = v.efficiency * np.where(v.clock < 0.999, 0.5, 1.0)
    # one GPU profile at full clocks (the common case): every replica ranks the same
    order = (
        np.arange(len(score)) if score.min() == score.max() else np.argsort(-score, kind="stable")
    )
    room = np.maximum(0.0, POWER_AWARE_TARGET_LOAD - v.load[order]) * v.capacity[order]
    cum = np.cumsum(room)
    take = np.clip(n - (cum - room), 0.0, room)
    share = np.zeros_like(v.load)
    share[order] = take
    rest = n - take.sum()
    if rest > 1e-9:
        share += rest * waterfill(v.load + share / np.maximum(v.capacity, 1e-9), v.capacity, rest)
    return share / share.sum() if share.sum() > 0 else round_robin(v, n)


POLICIES: dict[str, Callable[[View, float], np.ndarray]] = {
    "round-robin": round_robin,
    "least-loaded": least_loaded,
    "kv-aware": least_loaded,  # balances like least-loaded; its gain is cache hits (engine)
    "power-aware": power_aware,
    "slo-aware": least_loaded,  # balances like least-loaded; the engine sheds what would miss
}
