"""Routing policies: how a tick's arrivals of one class split over a deployment's replicas.

Each policy is a function of the eligible replicas' current state — load (running over
the SLO-knee batch plus queued over what it prefills in time), capacity (requests that
raise its load by 1), efficiency (tokens per joule) and clock — that returns the share of
the arrivals each one receives. They are compiled (numba, like ``kernel.py``), so routing
costs the same for ten requests or ten million, and the whole tick's routing is one call
(``route_all``). Add a policy: a function here, a code in ``POLICIES``, a branch in
``split``.

Arrivals are a fluid split, not requests dealt one by one, so policies part only where
replicas differ: on a healthy factory a deployment's replicas are identical, start
equally loaded and stay so, and least-loaded's water-fill gives each the same share as
round-robin (``default`` runs the same under both). A straggler, a capped or throttled
rack, a partial drain or a repaired rack coming back empty makes loads unequal; then
least-loaded sends the loaded replicas less and round-robin keeps an equal share. Every
policy gives identical replicas identical shares (power-aware fills equally efficient ones
together), so the engine runs them as one weighted row (``rows.py``): the kernels here
take each row's weight ``w`` and return the row's total share.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from twin.core.engine.jit import njit
from twin.core.engine.sessions import KV_ROUTE_HIT

#: power-aware fills the most efficient replicas up to this load before the next ones.
POWER_AWARE_TARGET_LOAD = 0.8

#: Policy name → code (``split`` dispatches on it).
POLICY_CODES: dict[str, int] = {
    "round-robin": 0,
    "least-loaded": 1,
    "kv-aware": 2,  # balances like least-loaded; its gain is cache hits (prefill tokens)
    "power-aware": 3,
    "slo-aware": 4,  # balances like least-loaded; sheds what would miss the TTFT SLO
}
ROUND_ROBIN, LEAST_LOADED, KV_AWARE, POWER_AWARE, SLO_AWARE = range(5)


@dataclass
class View:
    """What a policy may look at, for the eligible replicas of one deployment."""

    load: np.ndarray  # (queue + running) / KV capacity
    capacity: np.ndarray  # requests the replica holds at full KV (B_max)
    efficiency: np.ndarray  # tokens per joule of the replica's GPU profile
    clock: np.ndarray  # 1 = full clocks; lower is capped or throttled


@njit(cache=True, error_model="numpy")
def waterfill(load, width, n):
    """Split ``n`` so the least-loaded replicas rise to a common level (join-shortest-queue
    in the fluid limit). ``width`` is how many requests raise a replica's load by 1."""
    share = np.zeros(len(load))
    if n <= 0 or len(load) == 0:
        return share
    order = np.argsort(load, kind="mergesort")
    lo, wi = load[order], width[order]
    cw = np.cumsum(wi)
    # filling up to lo[k] needs sum_{i<k} (lo[k] - lo[i]) * w_i
    need = lo * cw - np.cumsum(lo * wi)
    k = max(np.searchsorted(need, n, side="right") - 1, 0)
    level = lo[k] + (n - need[k]) / cw[k]
    for i in range(len(order)):
        share[order[i]] = max(0.0, level - lo[i]) * wi[i]
    return share / share.sum()


@njit(cache=True, error_model="numpy")
def even(w):
    """An equal share per replica: each row ``w[i]`` of them."""
    return w / w.sum()


@njit(cache=True, error_model="numpy")
def power_aware(load, capacity, efficiency, clock, w, n):
    """Most tokens per joule first, full-clock replicas before capped ones, each up to
    a target load; the rest water-filled over everyone. Equally efficient replicas fill
    together, each in proportion to its room, so identical replicas get identical shares
    (whichever order they are listed in, and whether or not they share a row)."""
    score = efficiency * np.where(clock < 0.999, 0.5, 1.0)
    # one GPU profile at full clocks (the common case): every replica ranks the same
    if score.min() == score.max():
        order = np.arange(len(score))
    else:
        order = np.argsort(-score, kind="mergesort")
    width = capacity * w  # requests that raise each row's replicas' load by 1
    room = np.maximum(0.0, POWER_AWARE_TARGET_LOAD - load[order]) * width[order]
    share = np.zeros(len(load))
    cum = 0.0
    a = 0
    while a < len(order):
        b, block = a, 0.0
        while b < len(order) and score[order[b]] == score[order[a]]:
            block += room[b]
            b += 1
        take = min(max(n - cum, 0.0), block)
        if block > 0:
            for x in range(a, b):
                share[order[x]] = take * (room[x] / block)
        cum += block
        a = b
    rest = n - share.sum()
    if rest > 1e-9:
        share += rest * waterfill(load + share / np.maximum(width, 1e-9), width, rest)
    total = share.sum()
    return share / total if total > 0 else even(w)


@njit(cache=True, error_model="numpy")
def split(policy, load, capacity, efficiency, clock, w, n):
    """The share (summing to 1) of ``n`` arrivals each eligible row of ``w`` identical
    replicas receives (the row's total)."""
    if policy == ROUND_ROBIN:
        return even(w)
    if policy == POWER_AWARE:
        return power_aware(load, capacity, efficiency, clock, w, n)
    return waterfill(load, capacity * w, n)


@njit(cache=True, error_model="numpy")
def route_all(
    policy,
    survive,
    arrivals,
    cls_dep,
    cls_slot,
    cls_prompt,
    cls_reusable,
    cls_followup,
    dep_ptr,
    dep_idx,
    run,
    q_cnt,
    bslo,
    qcap,
    eff,
    clock,
    slow,
    accepting,
    role,
    w,
    counts,
    add,
    tok_req,
    B,
    load,
):
    """Split each class's arrivals over its deployment's accepting replicas (prefill or
    co-located): ``add`` (replica × slot) gets the shares, ``tok_req`` each class's prompt
    tokens to prefill (less the cached prefix KV-aware routing finds), ``B`` each replica's
    running batch; ``counts`` row 2 the shed requests, row 3 those with no replica up.
    Each row stands for ``w`` identical replicas: ``add`` is what each of them gets."""
    n_rep, n_slot = run.shape
    qsum = np.empty(n_rep)
    for r in range(n_rep):
        b = 0.0
        for s in range(n_slot):
            b += run[r, s]
            add[r, s] = 0.0
        q = 0.0
        for j in range(q_cnt.shape[1]):
            q += q_cnt[r, j]
        B[r], qsum[r] = b, q
        # load: running over the SLO-knee batch, plus queued work over what the replica
        # prefills within half the TTFT SLO (a long queue is what breaks TTFT)
        load[r] = b / bslo[r] + q / qcap[r]
    for c in range(len(arrivals)):
        d = cls_dep[c]
        members = dep_idx[dep_ptr[d] : dep_ptr[d + 1]]
        idx = members[accepting[members] & (role[members] != 2)]  # not decode-only
        n_up = 0.0
        for i in idx:
            n_up += w[i]
        n_all = 0.0
        for i in members:
            n_all += w[i]
        # the share of the reusable prefix found cached (``sessions.py``: it survived the
        # session's tool pause with chance ``survive``)
        if policy == KV_AWARE:
            hit = survive[c] * (KV_ROUTE_HIT * (n_up / max(1.0, n_all)))
        else:
            hit = survive[c] * (1.0 / max(n_up, 1.0))
        tok_req[c] = max(1.0, cls_prompt[c] - hit * cls_reusable[c] * cls_followup[c])
        counts[2, c] = 0.0
        n = arrivals[c]
        if n <= 0:
            continue
        if len(idx) == 0:
            counts[3, c] += n
            continue
        if policy < 0:  # a policy in Python: the caller splits (``load`` is left for it)
            continue
        wi = w[idx]
        share = split(policy, load[idx], qcap[idx], eff[idx], clock[idx], wi, n) * n
        if policy == SLO_AWARE:
            # admit only what the replica can prefill within the TTFT SLO: q_cap is what it
            # drains in half of it (capacity, not recent admissions, so shedding never
            # feeds on itself)
            room_q = np.maximum(0.0, qcap[idx] * clock[idx] / slow[idx] - qsum[idx]) * wi
            kept = np.minimum(share, room_q)
            counts[2, c] = (share - kept).sum()
            share = kept
        for i in range(len(idx)):
            add[idx[i], cls_slot[c]] = share[i] / wi[i]


def _policy(code: int) -> Callable[[View, float], np.ndarray]:
    def shares(v: View, n: float) -> np.ndarray:
        arrays = (np.asarray(x, dtype=float) for x in (v.load, v.capacity, v.efficiency, v.clock))
        return split(code, *arrays, np.ones(len(v.load)), float(n))

    return shares


round_robin = _policy(ROUND_ROBIN)


#: Policy name → the share each replica of a ``View`` receives of ``n`` arrivals. The
#: built-in ones are the compiled ``split`` (the tick runs them inside ``route_all``); a
#: policy added here as a plain Python function is called per class by the tick instead.
POLICIES: dict[str, Callable[[View, float], np.ndarray]] = {
    "round-robin": round_robin,
    "least-loaded": _policy(LEAST_LOADED),
    "kv-aware": _policy(KV_AWARE),
    "power-aware": _policy(POWER_AWARE),
    "slo-aware": _policy(SLO_AWARE),
}
