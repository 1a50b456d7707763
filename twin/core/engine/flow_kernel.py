"""The serving half of a tick as one compiled call (``serve_rows``): routing, admission
with the TTFT spread of prompt lengths, the KV handoff, decode with the TPOT spread.

``flow.py`` called each stage's kernel (``kernel.py``, ``routing.py``) from Python with
numpy glue between them — the prompt bins' TTFT shift, the KV links' bandwidth, the
spreads' factors, a dozen scratch arrays —, ~0.1 ms a tick of fixed Python and numpy call
overhead around ~20 µs of arithmetic over a handful of rows. Here the same stage kernels
are called in the same order from one compiled function, with that glue as loops: the
same arithmetic operation by operation (no reordered sums), so the figures are the same
to the last bit. ``NUMBA_DISABLE_JIT=1`` runs these very loops as Python.
"""

from __future__ import annotations

import numpy as np

from twin.core.engine.jit import njit
from twin.core.engine.kernel import (
    decode_rows,
    decode_times,
    handoff,
    prefill_room,
    serve_queues,
    spread_hist,
    tpot_variance,
)
from twin.core.engine.lengths import spread_tpot, ttft_shift
from twin.core.engine.routing import route_all
from twin.core.engine.sessions import prefix_survival


@njit(cache=True, error_model="numpy", inline="always")
def _v1(buf, tab, i):
    """Packed array ``i`` of ``buf`` (``flow.pack``: offset and shape in ``tab[i]``), 1-D."""
    return buf[tab[i, 0] : tab[i, 0] + tab[i, 1]]


@njit(cache=True, error_model="numpy", inline="always")
def _v2(buf, tab, i):
    """Packed array ``i`` of ``buf``, 2-D."""
    return buf[tab[i, 0] : tab[i, 0] + tab[i, 1] * tab[i, 2]].reshape((tab[i, 1], tab[i, 2]))


@njit(cache=True, error_model="numpy", inline="always")
def _v3(buf, tab, i):
    """Packed array ``i`` of ``buf``, 3-D."""
    n = tab[i, 1] * tab[i, 2] * tab[i, 3]
    return buf[tab[i, 0] : tab[i, 0] + n].reshape((tab[i, 1], tab[i, 2], tab[i, 3]))


@njit(cache=True, error_model="numpy")
def serve_rows(
    # the tick
    route, policy, t0, dt, pf_share, first, has_disagg, has_sessions, arrivals, retry_frac,
    retry_t, lam,
    # the fixed inputs, packed (``flow.SERVE_FLOATS``, ``SERVE_INTS``: classes,
    # deployments, replicas, the serving model's tables, the length spreads)
    fbuf, ftab, ibuf, itab,
    # deployments
    n_dep, dep_ptr, dep_idx,
    # replicas (the class's prefill replica, KV links)
    cw, slow, kv_on, kv_base, kv_pf, link_load, kv_lat, link_healthy, link_capacity, link_out,
    # rows: static
    row_rep, w, role, dep, prof, bmax, bslo, qcap, eff, tps, dyn_w, cap_tok_s, kv_tokens,
    slot_cls, slot_cls0, slot_osl, eps_row, m2_slot,
    # rows: this tick's inputs
    up, acc, clock, cw_r, slow_r,
    # rows: state
    run, q_cnt, q_t, q_tok, q_cls, t_dec_prev, t_dec, tau_last, pf_rho, out_s, user_s,
    # the serving model's and the length spreads' scalars
    chunk, pf_scale, gamma, has_isl,
    # outputs and scratch
    counts, add, tok_req, B, load, ttft_out, tpot_out, dyn_full, util, pf_tokens,
):  # fmt: skip
    """Route → admit → hand off → decode over the rows, in one call: ``flow.py``'s
    stages, each the same kernel as before. The fixed inputs come packed in two flat
    buffers (a call costs ~0.1 µs per array argument). ``route`` False: ``add``, ``tok_req``,
    ``B``, ``load`` and ``counts`` rows 2-3 are routed already (a policy written in
    Python). ``first``: no decode step time yet (``t_dec_prev`` is computed here).
    ``ttft_out`` and ``tpot_out`` get the tick's latency histograms, spread over the
    classes' lengths; ``t_dec``, ``out_s``, ``user_s``, ``dyn_full``, ``util`` and
    ``pf_tokens`` each row's figures; ``link_out`` each fabric link's load (``kv_on``:
    the KV of prefill replicas crosses the fabric). Returns (output tokens, KV traffic
    GB/s)."""
    cls_prompt, cls_reusable = _v1(fbuf, ftab, 0), _v1(fbuf, ftab, 1)
    cls_followup, cls_timeout = _v1(fbuf, ftab, 2), _v1(fbuf, ftab, 3)
    cls_slo_ttft, cls_slo_tpot = _v1(fbuf, ftab, 4), _v1(fbuf, ftab, 5)
    cls_kv_bpt, sess_kv_tok = _v1(fbuf, ftab, 6), _v1(fbuf, ftab, 7)
    sess_pause, len_kingman = _v1(fbuf, ftab, 8), _v1(fbuf, ftab, 9)
    len_cumw, dep_kv_bpt = _v2(fbuf, ftab, 10), _v1(fbuf, ftab, 11)
    norm_grid, prof_tdec = _v1(fbuf, ftab, 12), _v3(fbuf, ftab, 13)
    prof_ud, tpf, pfu = _v2(fbuf, ftab, 14), _v1(fbuf, ftab, 15), _v1(fbuf, ftab, 16)
    pf_grid, isl_d, len_w = _v1(fbuf, ftab, 17), _v2(fbuf, ftab, 18), _v2(fbuf, ftab, 19)
    mids, ones, eps2 = _v1(fbuf, ftab, 20), _v2(fbuf, ftab, 21), _v1(fbuf, ftab, 22)
    len_g, len_osl, len_z = _v2(fbuf, ftab, 23), _v2(fbuf, ftab, 24), _v1(fbuf, ftab, 25)
    zeros, tpot_w = _v2(fbuf, ftab, 26), _v2(fbuf, ftab, 27)
    mix_q, tmix, umix = _v1(fbuf, ftab, 28), _v1(fbuf, ftab, 29), _v1(fbuf, ftab, 30)
    cls_dep, cls_slot, dep_slot_cls = _v1(ibuf, itab, 0), _v1(ibuf, itab, 1), _v2(ibuf, itab, 2)
    rep_prof, len_rep = _v1(ibuf, itab, 3), _v1(ibuf, itab, 4)
    n_rep, n_slot = run.shape
    n_cls = len(arrivals)
    if route:
        survive = np.ones(n_cls)
        if has_sessions:
            prefix_survival(
                run, bmax, kv_tokens, up, dep, w, n_dep, cls_dep, lam, sess_kv_tok, sess_pause,
                survive,
            )  # fmt: skip
        route_all(
            policy, survive, arrivals, cls_dep, cls_slot, cls_prompt, cls_reusable,
            cls_followup, dep_ptr, dep_idx, run, q_cnt, bslo, qcap, eff, clock, slow_r, acc,
            role, w, counts, add, tok_req, B, load,
        )  # fmt: skip
    if first:
        decode_times(B, bmax, norm_grid, prof, prof_tdec, cw_r, slow_r, t_dec_prev)
    room = bmax
    if has_disagg:
        room = np.empty(n_rep)
        prefill_room(dep_ptr, dep_idx, role, up, acc, bmax, B, w, room)
    # KV of prefill replicas crosses the fabric, slowed by what other transfers use of it
    kv_bw = np.full(n_rep, -1.0)
    kv_bytes = np.zeros(n_cls)
    lat = 0.0
    if kv_on:
        busy = 0.0  # the busy links' load: the traffic is spread evenly, so their maximum
        for i in range(len(link_load)):
            busy = busy if link_load[i] <= busy else link_load[i]
        busy = min(busy, 0.95)
        for r in range(n_rep):
            if kv_pf[row_rep[r]]:
                kv_bw[r] = kv_base[row_rep[r]] * (1 - busy)
        for c in range(n_cls):
            kv_bytes[c] = tok_req[c] * cls_kv_bpt[c]
        lat = kv_lat
    # each request's own prompt moves its TTFT off the cohort's (``lengths.py``)
    shift = np.zeros(isl_d.shape)
    spread = False
    if has_isl and len(cw):
        spread = ttft_shift(
            tok_req, cw, slow, len_rep, isl_d, rep_prof, tpf, chunk, pf_scale, pf_grid, shift
        )
    ttft_hist = np.zeros(ttft_out.shape)
    adm = np.empty((n_rep, n_slot))
    ok_take = np.empty((n_rep, n_cls))
    pf_time, pf_u = np.empty(n_rep), np.empty(n_rep)
    serve_queues(
        t0, dt, pf_share, add, slot_cls, tok_req, retry_frac, retry_t, q_cnt, q_t, q_tok, q_cls,
        cls_timeout, role, acc, B, bmax, room, cw_r, slow_r, t_dec_prev, tau_last, pf_rho, prof,
        chunk, pf_scale, pf_grid, tpf, pfu, kv_bw, kv_bytes, lat, cls_slo_ttft, len_kingman,
        shift, len_cumw, cls_slot, w, counts[6], ttft_hist, adm, ok_take, pf_tokens, pf_time,
        pf_u, mix_q, norm_grid, prof_tdec, prof_ud, tmix, umix,
    )  # fmt: skip
    ttft_out[:] = 0.0
    if spread:
        spread_hist(ttft_hist, mids, ones, shift, len_w, ttft_out)  # mids + shift
    else:
        ttft_out[:] = ttft_hist
    xfer_gb_s = 0.0
    if has_disagg:
        xfer_gb_s = handoff(
            dt, dep_ptr, dep_idx, dep_slot_cls, dep_kv_bpt, role, up, adm, tok_req, B, bslo,
            bmax, run, w, counts,
        )  # fmt: skip
    if kv_on:  # KV transfers spread over every healthy leaf-spine link (ECMP)
        per_link = xfer_gb_s / max(link_capacity, 1e-9)
        for i in range(len(link_out)):
            link_out[i] = per_link if link_healthy[i] > 0 else 0.0
    tpot_hist = np.zeros(tpot_out.shape)
    out_rc, B2 = np.empty((n_rep, n_slot)), np.empty(n_rep)
    grid_i0, steps = np.empty(n_rep, dtype=np.int64), np.empty(n_rep)
    out_tokens = decode_rows(
        dt, run, adm, role, up, pf_time, pf_u, cw_r, slow_r, bmax, norm_grid, prof, prof_tdec,
        prof_ud, tps, slot_osl, slot_cls0, dep, n_dep, w, ok_take, cls_slo_tpot, gamma, dyn_w,
        cap_tok_s, t_dec, tau_last, out_s, user_s, tpot_hist, counts, dyn_full, util, out_rc,
        grid_i0, steps, B2,
    )  # fmt: skip
    var = np.empty((2, n_cls))  # per class: relative TPOT variance from the batch, prefills
    tpot_out[:] = 0.0
    if tpot_variance(
        dt, out_rc, slot_cls, B2, bmax, eps2, eps_row, grid_i0, adm, m2_slot, pf_time, steps,
        tps, w, var,
    ):  # fmt: skip
        factor = np.empty(tpot_w.shape)
        spread_tpot(var, tpot_hist, mids, len_g, len_osl, len_z, zeros, tpot_w, factor, tpot_out)
    else:
        tpot_out[:] = tpot_hist
    return out_tokens, xfer_gb_s
