"""The compiled part of a tick: every replica's queue, admission, decode and power activity.

Per replica (a row), in one pass each, compiled with numba (``cache=True``: the machine
code is kept in ``__pycache__``, so only the first run on a machine pays the compile):

- ``serve_queues``: new cohorts join the FIFO, clients give up on cohorts waiting past
  their class's timeout, FIFO admission within KV room and the prefill time budget,
  TTFT of each admitted cohort into the histogram, emptied cohorts leave the head;
- ``decode_rows``: decode steps in the time the tick leaves, completions (never past a
  request's OSL), TPOT into the histogram, SLO counts, and each replica's power
  activity and utilisation.

Why loops and not numpy: a tick over ~2,000 replicas was ~900 Python/numpy calls of
fixed overhead (each a few µs) around little arithmetic per row; one compiled call per
stage costs a few µs plus the arithmetic. The loops are the only implementation of this
physics: ``NUMBA_DISABLE_JIT=1`` runs the very same code as plain Python (slowly), which
is what a debugger or coverage sees.

The caller (``flow.py``) owns the state arrays; every array passed is float64, int64 or
bool and C-contiguous, so each function compiles once. A "replica" here is a *row* of
``w[r]`` identical replicas (``rows.py``): its arrays are one replica's, and the kernels
multiply by ``w`` where they sum requests, tokens and histogram counts.
"""

from __future__ import annotations

import math

import numpy as np

from twin.core.engine.jit import njit
from twin.core.engine.metrics import _LOG_STEP, HIST_BUCKETS, HIST_MIN_S
from twin.core.engine.mixed import (
    M_ROOM,
    MX_LEN,
    mixed_cost,
    mixed_plan,
    mixed_prompt_time,
    pf_pos,
)
from twin.core.engine.routing import waterfill

ROLE_AGG, ROLE_PREFILL, ROLE_DECODE = 0, 1, 2
#: Prefill utilisation at which a replica's queueing wait (Kingman) stops growing: beyond
#: it the tick's work does not fit, and the backlog waits in the FIFO instead.
RHO_MAX = 0.95
#: Time constant of the prefill utilisation a replica's queueing wait is priced at: a
#: rate over many arrivals, not one tick's draw (a tick that happened to bring 4 prompts
#: instead of 2 is not a replica at 95 % load), and the same whatever the tick.
RHO_TAU_S = 10.0
_HIST_MAX_S = HIST_MIN_S * math.exp(HIST_BUCKETS * _LOG_STEP)


@njit(cache=True, error_model="numpy", inline="always")
def bucket1(v: float) -> int:
    """``metrics.bucket`` for one latency (NaN and infinity go to the last bucket)."""
    if v != v or v > _HIST_MAX_S:
        v = _HIST_MAX_S
    elif v < HIST_MIN_S:
        v = HIST_MIN_S
    return min(int(math.log(v / HIST_MIN_S) / _LOG_STEP), HIST_BUCKETS - 1)


@njit(cache=True, error_model="numpy", inline="always")
def grid_pos(x: float, grid: np.ndarray):
    """Where ``x`` falls on an increasing grid: (index of the point below, fraction),
    computed as ``np.interp(x, grid, arange)`` does (its slope times the offset, plus the
    index), so the fraction is the same to the last bit as the numpy engine's."""
    n = len(grid)
    if x <= grid[0]:
        return 0, 0.0
    if x >= grid[n - 1]:
        return n - 2, 1.0
    j = np.searchsorted(grid, x, side="right") - 1
    slope = 1.0 / (grid[j + 1] - grid[j])
    pos = float(j) if x == grid[j] else slope * (x - grid[j]) + j
    i0 = min(int(pos), n - 2)
    return i0, pos - i0


@njit(cache=True, error_model="numpy", inline="always")
def decode_step(tdec, p, i0, f, cw):
    """Decode step time of profile ``p`` at grid position (i0, f) and clock weight ``cw``."""
    t1 = tdec[p, 0, i0] * (1 - f) + tdec[p, 0, i0 + 1] * f
    t2 = tdec[p, 1, i0] * (1 - f) + tdec[p, 1, i0 + 1] * f
    return t1 + (t2 - t1) * cw


@njit(cache=True, error_model="numpy")
def decode_times(B, bmax, norm_grid, prof, tdec, cw, slow, out):
    """Each replica's decode step time at batch ``B`` (its slowdown included)."""
    for r in range(len(B)):
        i0, f = grid_pos(min(B[r] / bmax[r], 1.0), norm_grid)
        out[r] = decode_step(tdec, prof[r], i0, f, cw[r]) * slow[r]


@njit(cache=True, error_model="numpy", inline="always")
def pf_step(tpf, p, i0, f, cw, n):
    """One prefill step's time (table ``tpf`` flattened from (P, 2, n))."""
    base = p * 2 * n + i0
    t1 = tpf[base] + (tpf[base + 1] - tpf[base]) * f
    t2 = tpf[base + n] + (tpf[base + n + 1] - tpf[base + n]) * f
    return t1 + (t2 - t1) * cw


@njit(cache=True, error_model="numpy", inline="always")
def prompt_time(tpf, p, prompt, cw, chunk, pf_scale, pf_grid):
    """Prefill of one prompt alone, in chunks (twin perf's TTFT), on profile ``p``."""
    i0, f = pf_pos(min(prompt, chunk), chunk, pf_scale, pf_grid)
    return math.ceil(max(prompt, 1.0) / chunk) * pf_step(tpf, p, i0, f, cw, len(pf_grid))


@njit(cache=True, error_model="numpy", inline="always")
def compact(r, q_cnt, q_t, q_tok, q_cls):
    """Drop emptied cohorts from replica ``r``'s FIFO, wherever they are (the head is
    where admission empties them; a client gives up on a cohort further back when a
    retried, older cohort waits behind younger ones), keeping the others' order."""
    Q = q_cnt.shape[1]
    k = 0
    moved = False
    for j in range(Q):
        if q_cnt[r, j] <= 1e-9:
            q_cnt[r, j] = 0.0
            continue
        if k != j:
            moved = True
            q_cnt[r, k], q_t[r, k], q_tok[r, k], q_cls[r, k] = (
                q_cnt[r, j],
                q_t[r, j],
                q_tok[r, j],
                q_cls[r, j],
            )
        k += 1
    if moved:  # clear the slots the cohorts moved up from
        for j in range(k, Q):
            q_cnt[r, j], q_t[r, j], q_tok[r, j], q_cls[r, j] = 0.0, 0.0, 1.0, 0


@njit(cache=True, error_model="numpy", inline="always")
def push_cohort(r, qlen, t, tok, c, n, q_cnt, q_t, q_tok, q_cls) -> int:
    """Cohort (``n`` requests of class ``c``, mean arrival ``t``) joins replica ``r``'s
    FIFO of ``qlen`` cohorts; returns the new length. A full queue first merges the two
    cohorts of one class closest in arrival (into the older one's place), so a long
    backlog keeps its classes apart and its ages evenly resolved; with no two of a class
    the newcomer merges into the last slot."""
    Q = q_cnt.shape[1]
    if qlen >= Q:
        best, a, b = math.inf, -1, -1
        for i in range(Q):
            for j in range(i + 1, Q):
                if q_cls[r, j] == q_cls[r, i]:
                    if q_t[r, j] - q_t[r, i] < best:
                        best, a, b = q_t[r, j] - q_t[r, i], i, j
                    break
        if a < 0:
            p = Q - 1
            old = q_cnt[r, p]
            tot = old + n
            q_t[r, p] = (q_t[r, p] * old + t * n) / tot
            q_tok[r, p] = (q_tok[r, p] * old + tok * n) / tot
            q_cnt[r, p] = tot
            return qlen
        na, nb = q_cnt[r, a], q_cnt[r, b]
        tot = na + nb
        q_t[r, a] = (q_t[r, a] * na + q_t[r, b] * nb) / tot
        q_tok[r, a] = (q_tok[r, a] * na + q_tok[r, b] * nb) / tot
        q_cnt[r, a] = tot
        for j in range(b, Q - 1):
            q_cnt[r, j], q_t[r, j], q_tok[r, j], q_cls[r, j] = (
                q_cnt[r, j + 1],
                q_t[r, j + 1],
                q_tok[r, j + 1],
                q_cls[r, j + 1],
            )
        qlen = Q - 1
    q_t[r, qlen], q_tok[r, qlen], q_cls[r, qlen], q_cnt[r, qlen] = t, tok, c, n
    return qlen + 1


@njit(cache=True, error_model="numpy", inline="always")
def enqueue(r, ta, add, slot_cls, tok_req, retry_frac, retry_t, q_cnt, q_t, q_tok, q_cls):
    """One cohort per class with arrivals joins replica ``r``'s FIFO, at the tick's mean
    arrival ``ta``; a full queue merges cohorts (``push_cohort``), so no request is lost
    (the numpy engine dropped the cohorts that did not fit when a queue filled within a
    tick: ~1 % of arrivals under overload, uncounted).
    A share ``retry_frac[c]`` of class c's requests are retries (queued on a replica that
    went down or stopped accepting): they join as a cohort of their own that keeps its
    first arrival ``retry_t[c]``, so the client's timeout and their TTFT run on."""
    Q = q_cnt.shape[1]
    qlen = 0
    for j in range(Q):
        if q_cnt[r, j] > 1e-12:
            qlen += 1
    for s in range(add.shape[1]):
        n = add[r, s]
        if n <= 0:
            continue
        c = slot_cls[r, s]
        if retry_frac[c] > 0.0:
            old = n * retry_frac[c]
            qlen = push_cohort(r, qlen, retry_t[c], tok_req[c], c, old, q_cnt, q_t, q_tok, q_cls)
            n -= old
            if n <= 0:
                continue
        qlen = push_cohort(r, qlen, ta, tok_req[c], c, n, q_cnt, q_t, q_tok, q_cls)


@njit(cache=True, error_model="numpy", inline="always")
def abandon(r, t0, timeout, q_cnt, q_t, q_tok, q_cls, w, abandoned) -> None:
    """Clients give up on the cohorts that waited past their class's timeout (counted per
    class in ``abandoned``, times the row's weight ``w``): at the head of the FIFO, or
    further back where a retried cohort, older than those ahead of it, joined."""
    gone = False
    for j in range(q_cnt.shape[1]):
        if q_cnt[r, j] > 1e-12 and (t0 - q_t[r, j]) > timeout[q_cls[r, j]]:
            abandoned[q_cls[r, j]] += q_cnt[r, j] * w
            q_cnt[r, j] = 0.0
            gone = True
    if gone:
        compact(r, q_cnt, q_t, q_tok, q_cls)


@njit(cache=True, error_model="numpy", inline="always")
def fresh_wait(dt, a, b) -> float:
    """The mean wait, behind the backlog carried over, of the requests that arrived during
    a tick and were served in it, as a fluid: the backlog takes the share ``a`` of the
    tick's prefill (or of its free slots), the tick's arrivals ``b`` of it, arriving
    evenly. One arriving at x (a share of the tick) waits dt·(a + (b − 1)·x) while that
    is positive, and those arriving before X = (1 − a)/b are served in the tick. With no
    backlog it is 0 (their queueing among themselves is Kingman's); a backlog that drains
    at D gives D²/2dt; under overload the wait grows through the tick."""
    if a >= 1.0:
        return dt * a
    x = 1.0 if b <= 1.0 - a else (1.0 - a) / b
    if b >= 1.0 or a >= (1.0 - b) * x:
        return dt * (a + 0.5 * (b - 1.0) * x)
    return dt * a * a / (2.0 * (1.0 - b) * x)


@njit(cache=True, error_model="numpy")
def serve_queues(
    t0,
    dt,
    pf_share,
    add,
    slot_cls,
    tok_req,
    retry_frac,
    retry_t,
    q_cnt,
    q_t,
    q_tok,
    q_cls,
    timeout,
    role,
    accepting,
    B,
    bmax,
    room_pf,
    cw,
    slow,
    t_dec,
    tau_last,
    pf_rho,
    prof,
    chunk,
    pf_scale,
    pf_grid,
    tpf,
    pfu,
    kv_bw,
    kv_bytes,
    kv_lat,
    cls_slo_ttft,
    cls_kingman,
    len_shift,
    len_cumw,
    cls_slot,
    w,
    abandoned,
    ttft_hist,
    adm,
    ok_take,
    pf_tokens,
    pf_time,
    pf_u,
    mix_q,
    norm_grid,
    tdec,
    prof_ud,
    tmix,
    umix,
) -> bool:
    """Enqueue, abandonment and FIFO admission on every replica; returns whether any
    cohort was admitted. ``kv_bw`` > 0 (bytes/s) on a prefill replica whose KV crosses
    the fabric, 0 when its leaf is cut off, < 0 where no transfer applies. ``len_shift``
    (class × prompt bin, increasing) is how much later than the cohort's TTFT a request
    of each bin gets its first token, ``len_cumw`` the bins' cumulative weights (from 0).
    Each row stands for ``w[r]`` identical replicas: its arrays are one replica's, its
    sums into ``abandoned`` and ``ttft_hist`` count them all. A co-located replica whose
    profile mixes (``mix_q`` > 0, room left in a step's chunk) carries its prompts on its
    decode steps (``mixed.py``; ``tmix``/``umix`` the mixed steps' tables)."""
    Q = q_cnt.shape[1]
    n_pf = len(pf_grid)
    G = len(norm_grid)
    mx = np.zeros(MX_LEN)
    cost = np.zeros(3)
    admitted = False
    takes = np.zeros(Q)
    ahead = np.zeros(Q)
    ahead_old = np.zeros(Q)
    gone = np.zeros(Q, dtype=np.bool_)
    # a cohort's time is its requests' mean arrival: this tick's arrived over it, so half
    # way through (and a cohort carried over is recognised by an earlier time)
    ta = t0 + 0.5 * dt
    for r in range(len(role)):
        for c in range(ok_take.shape[1]):
            ok_take[r, c] = 0.0
        enqueue(r, ta, add, slot_cls, tok_req, retry_frac, retry_t, q_cnt, q_t, q_tok, q_cls)
        abandon(r, t0, timeout, q_cnt, q_t, q_tok, q_cls, w[r], abandoned)
        pf_tokens[r] = pf_time[r] = pf_u[r] = 0.0
        for s in range(adm.shape[1]):
            adm[r, s] = 0.0
        if not q_cnt[r, 0] > 1e-12:
            pf_rho[r] -= (1.0 - math.exp(-dt / RHO_TAU_S)) * pf_rho[r]  # an idle tick
            continue
        if not accepting[r]:
            budget = 0.0
        elif role[r] == ROLE_PREFILL:
            budget = dt
        elif role[r] == ROLE_DECODE:
            budget = 0.0
        else:
            budget = dt * pf_share
        room = room_pf[r] if role[r] == ROLE_PREFILL else max(0.0, bmax[r] - B[r])
        q_n = 0.0
        toks = 0.0
        toks_new = 0.0
        n_new = 0.0
        for j in range(Q):
            q_n += q_cnt[r, j]
            toks += q_cnt[r, j] * q_tok[r, j]
            if q_t[r, j] == ta:
                toks_new += q_cnt[r, j] * q_tok[r, j]
                n_new += q_cnt[r, j]
        q_n1 = max(q_n, 1e-12)
        share = min(1.0, room / q_n1)
        # prompt tokens per prefill step, as twin perf's schedule groups them: a
        # co-located replica prefills, once per decode step, the prompts waiting then (at
        # least one whole prompt, at most a chunk): the backlog carried over waits at the
        # tick's first step, this tick's arrivals come spread over its steps; a
        # prefill-only replica full chunks
        if role[r] == ROLE_PREFILL:
            g = chunk
        else:
            spread = ((toks - toks_new) + toks_new * min(tau_last[r], dt) / dt) * share
            g = min(chunk, max(min(toks / q_n1, chunk), spread))
        i0, f = pf_pos(g, chunk, pf_scale, pf_grid)
        step_g = pf_step(tpf, prof[r], i0, f, cw[r], n_pf)
        t_allow = budget / slow[r] * g / step_g
        pb = prof[r] * n_pf + i0
        u_pf = pfu[pb] + (pfu[pb + 1] - pfu[pb]) * f
        q_mix = mix_q[prof[r]] if role[r] == ROLE_AGG else 0.0
        mixed = q_mix > 0.0 and chunk - B[r] * q_mix >= 1.0
        bi0, bf = 0, 0.0
        if mixed:  # the prompts ride on the decode steps, in chunks (``mixed.py``)
            bi0, bf = grid_pos(min(B[r] / bmax[r], 1.0), norm_grid)
            td = decode_step(tdec, prof[r], bi0, bf, cw[r])
            ud = prof_ud[prof[r], bi0] * (1 - bf) + prof_ud[prof[r], bi0 + 1] * bf
            t_allow = mixed_plan(
                dt, budget, B[r], q_mix, prof[r], bi0, bf, td, ud, cw[r], slow[r],
                min(toks / q_n1, chunk), spread, g, step_g, u_pf, chunk, pf_scale, pf_grid,
                tmix, umix, G, mx,
            )  # fmt: skip
        cum_n = 0.0
        cum_t = 0.0
        old_n = 0.0
        old_t = 0.0
        tok_r = 0.0
        for j in range(Q):
            qc, qk = q_cnt[r, j], q_tok[r, j]
            # how far into the tick cohort j's turn comes: the share of the tick's
            # prefill budget (or of its free slots) the cohorts ahead of it use up (and
            # the share the backlog carried over uses up, ahead of this tick's arrivals)
            ahead[j] = max(cum_t / max(t_allow, 1e-12), cum_n / max(room, 1e-12))
            ahead_old[j] = max(old_t / max(t_allow, 1e-12), old_n / max(room, 1e-12))
            fresh = q_t[r, j] == ta
            # a client whose request is still waiting when its turn comes has given up
            gone[j] = (
                qc > 1e-12
                and not fresh
                and ahead[j] < 1.0
                and t0 + dt * ahead[j] - q_t[r, j] > timeout[q_cls[r, j]]
            )
            if gone[j]:
                takes[j] = 0.0
                continue
            take = min(room - cum_n, (t_allow - cum_t) / max(qk, 1.0))
            take = min(max(take, 0.0), qc)
            cum_n += qc
            cum_t += qc * qk
            if not fresh:
                old_n += qc
                old_t += qc * qk
            takes[j] = take
            tok_r += take * qk
        pf_tokens[r] = tok_r
        if mixed:
            mixed_cost(dt, tok_r, mx, cost)
            pf_time[r], pf_u[r], busy = cost[0], cost[1], cost[2]
        else:
            pf_time[r] = tok_r / g * step_g * slow[r]  # fluid: a share of a step
            pf_u[r], busy = u_pf, pf_time[r]
        pf_rho[r] += (1.0 - math.exp(-dt / RHO_TAU_S)) * (busy / dt - pf_rho[r])
        if tok_r > 0.0:
            # TTFT: the decode step in progress, the prefill queued ahead of it and its own
            # step. The queue is Kingman's: (c_a² + c_s²)/2 · ρ/(1 − ρ) · s̄ for the replica's
            # prefill utilisation ρ and mean prefill s̄ per request, rates and not the tick's
            # bulk, so a 5 s tick gives the TTFT a 1 s tick does
            n_take = 0.0
            for j in range(Q):
                n_take += takes[j]
            rho = min(pf_rho[r], RHO_MAX)
            queue = rho / (1.0 - rho) * busy / max(n_take, 1e-12)
            for j in range(Q):
                take = takes[j]
                if take <= 1e-12:
                    continue
                admitted = True
                c = q_cls[r, j]
                # its own prefill: its prompt alone, in chunks (the rest is the queue ahead)
                if mixed:  # in chunks on mixed steps
                    own = mixed_prompt_time(
                        tmix, prof[r], bi0, bf, cw[r], q_tok[r, j], mx[M_ROOM], chunk,
                        pf_scale, pf_grid, G,
                    )  # fmt: skip
                else:
                    own = prompt_time(tpf, prof[r], q_tok[r, j], cw[r], chunk, pf_scale, pf_grid)
                base = t_dec[r] / 2 + cls_kingman[c] * queue + own * slow[r]
                # and the backlog ahead of it: one carried over waits from its mean
                # arrival until, on average, its requests' turn in this tick comes (the
                # prefill ahead of them at the tick's prefill rate: a position in the
                # queue, not whole ticks); this tick's arrivals, spread over it, wait for
                # the backlog carried over to drain (``fresh_wait``)
                if q_t[r, j] == ta:
                    load_new = max(toks_new / max(t_allow, 1e-12), n_new / max(room, 1e-12))
                    waited = fresh_wait(dt, ahead_old[j], load_new)
                else:
                    span = max(take * q_tok[r, j] / max(t_allow, 1e-12), take / max(room, 1e-12))
                    turn = t0 + dt * min(1.0, ahead[j] + 0.5 * span)
                    waited = max(0.0, turn - q_t[r, j])
                ttft = waited + base
                if kv_bw[r] == 0.0:  # the prefill replica's leaf is cut off
                    ttft = math.inf
                elif kv_bw[r] > 0.0:  # its KV crosses the fabric to a decode replica
                    ttft += kv_lat + kv_bytes[c] / kv_bw[r]
                ttft_hist[c, bucket1(ttft)] += take * w[r]
                adm[r, cls_slot[c]] += take
                # the share of the cohort whose own TTFT met the SLO: its prompt bins
                # (lengths.py) shift it, in prompt order, so the ones that met it lead
                slack = cls_slo_ttft[c] - ttft
                met = 0
                while met < len_shift.shape[1] and len_shift[c, met] <= slack:
                    met += 1
                ok_take[r, c] += take * len_cumw[c, met]
        for j in range(Q):
            if gone[j]:
                abandoned[q_cls[r, j]] += q_cnt[r, j] * w[r]
                q_cnt[r, j] = 0.0
                continue
            left = q_cnt[r, j] - takes[j]
            if q_t[r, j] == ta and takes[j] > 0.0 and left > 0.0:
                # FIFO within the cohort too: what is left arrived last, over the final
                # share of the tick, so it waits from there
                q_t[r, j] = t0 + dt * (1.0 - 0.5 * left / q_cnt[r, j])
            q_cnt[r, j] = left
        compact(r, q_cnt, q_t, q_tok, q_cls)
    return admitted


@njit(cache=True, error_model="numpy")
def tpot_variance(
    dt, out_rc, slot_cls, B, bmax, eps2, eps_row, i0, adm, m2_slot, pf_time, steps, tps, w, var
):
    """Per class, the output-token-weighted relative TPOT variance of its replicas
    (``lengths._spread_tpot``): ``var[0, c]`` from the batch, ``var[1, c]`` from prefill
    stalls; returns whether any class decoded a token this tick."""
    n_cls = var.shape[1]
    tok = np.zeros(n_cls)
    var[:] = 0.0
    for r in range(out_rc.shape[0]):
        batch = eps2[eps_row[r] + i0[r]] * (1.0 - min(B[r] / bmax[r], 1.0)) / max(B[r], 1e-12)
        n_adm = 0.0
        m2 = 0.0
        for s in range(adm.shape[1]):
            n_adm += adm[r, s]
            m2 += adm[r, s] * m2_slot[r, s]
        # ρ·p̄²/(tps·TPOT²) with ρ = n/steps, p̄ = pf_time/n, TPOT = dt/(steps·tps)
        pf = m2 * pf_time[r] ** 2 * steps[r] * tps[r] / max(n_adm * dt, 1e-12) ** 2
        for s in range(out_rc.shape[1]):
            c = slot_cls[r, s]
            if c >= 0:
                o = out_rc[r, s] * w[r]
                tok[c] += o
                var[0, c] += o * batch
                var[1, c] += o * pf
    some = False
    for c in range(n_cls):
        some = some or tok[c] != 0.0
        var[0, c] /= max(tok[c], 1e-12)
        var[1, c] /= max(tok[c], 1e-12)
    return some


@njit(cache=True, error_model="numpy")
def spread_hist(hist, mids, scale, shift, w, out):
    """The length spread of a latency histogram (``lengths.py``): every nonzero
    ``hist[c, b]`` lands, for each k, in the bucket of ``mids[b] * scale[c, k] + shift[c, k]``
    with weight ``hist[c, b] * w[c, k]``, added in the order ``np.bincount`` adds them."""
    for c in range(hist.shape[0]):
        for b in range(hist.shape[1]):
            h = hist[c, b]
            if h != 0.0:
                for k in range(w.shape[1]):
                    out[c, bucket1(mids[b] * scale[c, k] + shift[c, k])] += h * w[c, k]


@njit(cache=True, error_model="numpy")
def decode_rows(
    dt,
    run,
    adm,
    role,
    up,
    pf_time,
    pf_u,
    cw,
    slow,
    bmax,
    norm_grid,
    prof,
    tdec,
    prof_ud,
    tps,
    slot_osl,
    slot_cls0,
    dep,
    n_dep,
    w,
    ok_take,
    cls_slo_tpot,
    gamma,
    dyn_w,
    cap_tok_s,
    t_dec,
    tau_last,
    out_s,
    user_s,
    tpot_hist,
    counts,
    dyn_full,
    util,
    out_rc,
    grid_i0,
    steps_out,
    B_out,
) -> float:
    """Decode steps in the time the tick leaves; completions, TPOT and SLO counts, and
    each replica's power activity. Admitted requests of co-located replicas join their
    batch first (disaggregated handoffs were added by the caller). Returns the tick's
    output tokens; ``out_rc`` gets them per replica and slot, ``B_out`` each batch,
    ``grid_i0`` where it falls on the batch grid and ``steps_out`` the decode steps run.
    Per row of ``w[r]`` identical replicas: the arrays are one replica's, the counts,
    histograms and the returned total count them all."""
    n_rep, n_slot = run.shape
    tpot = np.empty(n_rep)
    out_total = 0.0
    for r in range(n_rep):
        if role[r] == ROLE_AGG:
            for s in range(n_slot):
                run[r, s] += adm[r, s]
        B = 0.0
        wr = w[r]
        for s in range(n_slot):
            B += run[r, s]
            counts[0, slot_cls0[r, s]] += adm[r, s] * wr
        i0, f = grid_pos(min(B / bmax[r], 1.0), norm_grid)
        B_out[r], grid_i0[r] = B, i0
        t_dec[r] = decode_step(tdec, prof[r], i0, f, cw[r]) * slow[r]
        left = 0.0 if role[r] == ROLE_PREFILL else max(0.0, dt - pf_time[r])
        if not up[r]:
            left = 0.0
        steps = left / t_dec[r] if B > 0 else 0.0
        steps_out[r] = steps
        # a co-located replica gets a chance to prefill once per decode step: the next tick
        # groups its waiting prompts by this spacing (an idle one prefills each on arrival)
        tau_last[r] = dt / max(steps, 1e-12) if steps > 0 else 0.0
        per_req = steps * tps[r]  # output tokens each running request gains
        tpot[r] = dt / max(per_req, 1e-12) if per_req > 0 else math.inf
        b = bucket1(tpot[r])
        out_r = 0.0
        for s in range(n_slot):
            # a request generates at most its OSL: one that finishes inside the tick stops
            # there, so output = completions × OSL whatever the tick (token conservation)
            gen = min(per_req, slot_osl[r, s])
            o = run[r, s] * gen
            out_rc[r, s] = o
            run[r, s] -= run[r, s] * (gen / slot_osl[r, s])
            out_r += o
            counts[4, slot_cls0[r, s]] += o * wr
            if per_req > 0:
                tpot_hist[slot_cls0[r, s], b] += o * wr
        out_total += out_r * wr
        out_s[r] = out_r / dt
        user_s[r] = per_req / dt
        # power: decode activity over the steps run (a fluid fraction of a request runs
        # steps only that share of the tick) plus prefill activity
        ud = prof_ud[prof[r], i0] * (1 - f) + prof_ud[prof[r], i0 + 1] * f
        dec_time = steps * t_dec[r] * min(B, 1.0)
        u = min(dec_time / dt, 1.0) * ud + min(pf_time[r] / dt, 1.0) * pf_u[r]
        u = min(u, 1.0) if up[r] else 0.0
        dyn_full[r] = dyn_w[r] * (u if gamma == 1.0 else u**gamma)  # W per GPU, full clock
        # utilisation: output over capacity at the SLO pace (prefill: its busy time)
        if role[r] == ROLE_PREFILL:
            util[r] = min(pf_time[r] / dt, 1.0)
        else:
            util[r] = out_s[r] / cap_tok_s[r]
    # SLO: an admitted request meets it if its TTFT did and its pace does; a
    # disaggregated deployment's pace is its decode replicas' median
    pace = tpot.copy()
    for d in range(n_dep):
        n_dec = 0
        for r in range(n_rep):
            if dep[r] == d and role[r] == ROLE_DECODE:
                n_dec += 1
        if n_dec == 0:
            continue
        fin = np.empty(n_dec)
        fw = np.empty(n_dec)
        m = 0
        for r in range(n_rep):
            if dep[r] == d and role[r] == ROLE_DECODE and math.isfinite(tpot[r]):
                fin[m], fw[m] = tpot[r], w[r]
                m += 1
        med = weighted_median(fin[:m], fw[:m]) if m > 0 else math.inf
        for r in range(n_rep):
            if dep[r] == d and role[r] != ROLE_DECODE:
                pace[r] = med
    for r in range(n_rep):
        for c in range(ok_take.shape[1]):
            if ok_take[r, c] > 0 and pace[r] <= cls_slo_tpot[c]:
                counts[1, c] += ok_take[r, c] * w[r]
    return out_total


@njit(cache=True, error_model="numpy")
def weighted_median(x, w):
    """``np.median`` of ``x`` with each ``x[i]`` repeated ``w[i]`` (whole) times."""
    order = np.argsort(x, kind="mergesort")
    total = 0.0
    for i in range(len(w)):
        total += w[i]
    n = int(total + 0.5)
    k1, k2 = (n - 1) // 2, n // 2
    lo = hi = x[order[len(order) - 1]]
    cum = 0.0
    found = False
    for i in range(len(order)):
        cum += w[order[i]]
        if not found and cum > k1:
            lo, found = x[order[i]], True
        if cum > k2:
            hi = x[order[i]]
            break
    return lo if k1 == k2 else (lo + hi) / 2


@njit(cache=True, error_model="numpy")
def prefill_room(dep_ptr, dep_idx, role, up, accepting, bmax, B, w, room):
    """Requests each prefill replica may take this tick (``room``; ``bmax`` elsewhere): a
    disaggregated deployment's decode replicas admit handoffs only while they have KV
    room, so a full decode pool backs up prefill (its queue, hence TTFT, grows; then
    clients give up)."""
    room[:] = bmax
    for d in range(len(dep_ptr) - 1):
        free = 0.0
        n_pf = 0.0
        has_pf = False
        for i in range(dep_ptr[d], dep_ptr[d + 1]):
            r = dep_idx[i]
            if role[r] == ROLE_PREFILL:
                has_pf = True
                n_pf += accepting[r] * w[r]
            elif role[r] == ROLE_DECODE and up[r]:
                free += max(0.0, bmax[r] - B[r]) * w[r]
        if not has_pf:
            continue
        per = free / max(1.0, n_pf)
        for i in range(dep_ptr[d], dep_ptr[d + 1]):
            r = dep_idx[i]
            if role[r] == ROLE_PREFILL:
                room[r] = min(bmax[r], per)


@njit(cache=True, error_model="numpy")
def handoff(
    dt, dep_ptr, dep_idx, dep_slot_cls, dep_kv_bpt, role, up, adm, tok_req, B, bslo, bmax, run,
    w, counts,
):  # fmt: skip
    """Disaggregated deployments: what their prefill replicas admitted moves to their
    decode replicas (least-loaded, never past a decode replica's KV room); with no decode
    replica up, those requests fail. Returns the KV traffic (GB/s) across the fabric."""
    n_slot = run.shape[1]
    xfer_gb_s = 0.0
    for d in range(len(dep_ptr) - 1):
        members = dep_idx[dep_ptr[d] : dep_ptr[d + 1]]
        pre = members[role[members] == ROLE_PREFILL]
        if not len(pre):
            continue
        moved = np.zeros(n_slot)  # per slot of this deployment
        for r in pre:
            for s in range(n_slot):
                moved[s] += adm[r, s] * w[r]
        total = moved.sum()
        dec = members[(role[members] == ROLE_DECODE) & up[members]]
        if not len(dec) or total <= 0:
            for s in range(n_slot):
                counts[3, max(dep_slot_cls[d, s], 0)] += moved[s]
            continue
        kv = 0.0
        for s in range(n_slot):
            if dep_slot_cls[d, s] >= 0:
                kv += moved[s] * tok_req[dep_slot_cls[d, s]]
        xfer_gb_s += kv * dep_kv_bpt[d] / 1e9 / dt
        share = waterfill(B[dec] / bslo[dec], bslo[dec] * w[dec], total) * total
        # never past a decode replica's KV room: the excess goes where room is left
        room = np.empty(len(dec))
        for i in range(len(dec)):
            room[i] = max(0.0, bmax[dec[i]] - run[dec[i]].sum()) * w[dec[i]]
        give = np.minimum(share, room)
        rest, spare = total - give.sum(), room - give
        if rest > 1e-9 and spare.sum() > 0:
            give += spare * min(1.0, rest / spare.sum())
        for i in range(len(dec)):
            for s in range(n_slot):
                run[dec[i], s] += (give[i] / w[dec[i]] / total) * moved[s]
    return xfer_gb_s
