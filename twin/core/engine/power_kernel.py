"""The compiled part of ``power.py``: rack, PDU and feed loads, breakers' thermal elements,
and cooling loops' heat, one pass each per tick (numba, like ``kernel.py``), in two calls:
``loads`` before the caps' controllers and ``settle`` after them.

Each sums in the order ``np.bincount`` did, so the loads are the numpy engine's to the
last bit; the caller (``power.py``) keeps the decisions that write events (a breaker
tripping, a rack throttling or shutting down) and the caps' controllers.
``NUMBA_DISABLE_JIT=1`` runs the same loops as Python.
"""

from __future__ import annotations

import math

import numpy as np

from twin.core.engine.jit import njit


@njit(cache=True, error_model="numpy")
def rack_loads(
    dyn_full, clock, scaled, cexp, vfloor, span_rep, span_rack, span_kw, span_share, rep_util,
    reps_per_rack, rack_idle_kw, rack_spare_kw, rack_host_kw, idle_f, live, rack_pdus, alive,
    pdu_feed, rack_util, rack_kw, gpu_kw, dyn_rack, pdu_load, feed_load,
):  # fmt: skip
    """Per rack: utilisation, GPU and total power (0 when not live) and dynamic power at
    these clocks (``scaled``: some clock is under 1, so dynamic power follows
    ``power.clock_power``); per PDU the share of its live A/B racks; per feed its PDUs.
    A span ``s`` is a (row of replicas, rack) pair: ``span_rep[s]`` indexes ``dyn_full``
    and ``rep_util`` (per row), ``clock[s]`` is its clock, ``span_kw``/``span_share`` its
    replicas' sums (``rows.py``)."""
    n_r = len(rack_kw)
    util = rack_util  # the sum first, then over the replicas per rack
    util[:] = 0.0
    dyn_rack[:] = 0.0
    for s in range(len(span_rep)):
        i = span_rep[s]
        util[span_rack[s]] += rep_util[i] * span_share[s]
        d = dyn_full[i]
        if scaled:
            c = clock[s]
            d *= max(c, 0.0) ** cexp if c >= vfloor else vfloor**cexp * c / vfloor
        dyn_rack[span_rack[s]] += d * span_kw[s]
    n_p = len(pdu_load)
    pdu_b = pdu_load.copy()
    pdu_load[:] = 0.0
    pdu_b[:] = 0.0
    for r in range(n_r):
        nrep = reps_per_rack[r]
        rack_util[r] = util[r] / max(nrep, 1e-9) if nrep > 0 else 0.0
        gpu_kw[r] = rack_idle_kw[r] + dyn_rack[r] + rack_spare_kw[r]
        if live[r]:
            rack_kw[r] = gpu_kw[r] + rack_host_kw[r] * (
                idle_f + (1 - idle_f) * min(1.0, rack_util[r])
            )
        else:
            rack_kw[r] = 0.0
            dyn_rack[r] = 0.0
        n_alive = int(alive[r, 0]) + int(alive[r, 1])
        share = rack_kw[r] / max(n_alive, 1)
        if alive[r, 0]:
            pdu_load[rack_pdus[r, 0]] += share
        if alive[r, 1]:
            pdu_b[rack_pdus[r, 1]] += share
    feed_load[:] = 0.0
    for p in range(n_p):
        pdu_load[p] += pdu_b[p]
        feed_load[pdu_feed[p]] += pdu_load[p]


@njit(cache=True, error_model="numpy")
def breakers(dt, pdu_load, pdu_cap, tripped, failed, trip_s, instant, heat, trip):
    """Inverse-time breakers' thermal elements (``power._breakers_tripped``); returns how many trip."""
    n = 0
    for p in range(len(pdu_load)):
        m = pdu_load[p] / max(pdu_cap[p], 1e-9)
        trip[p] = False
        if tripped[p] or failed[p]:
            heat[p] = 0.0
            continue
        heat[p] = max(0.0, heat[p] + (m * m - 1.0) * dt)
        if heat[p] >= trip_s or m >= instant:
            trip[p] = True
            n += 1
    return n


@njit(cache=True, error_model="numpy")
def cooling(
    dt, ambient, rack_kw, gpu_kw, rack_loop, loop_failed, loop_cap, loop_frac, heat_kj_per_k,
    cool_tau_s, rack_gpus, sku_tdp, rise, throttle_c, shutdown_c, inlet, gpu_temp, throttled,
    tripped, loop_load, event,
):  # fmt: skip
    """Cooling loops remove up to their capacity; the rest warms the racks' coolant
    (``inlet``), GPUs run ``rise`` above it at TDP, hot racks throttle (released once they
    could run at full power again) and shut down at ``shutdown_c`` (on again once their
    coolant is within 5 K of ambient, which needs their loop working). Updates ``inlet``,
    ``gpu_temp``, ``throttled``, ``tripped`` in place; ``event[r]`` is 1 (throttles),
    2 (released), 4 (shuts down), 8 (on again) or a sum; returns how many racks have an
    event."""
    loop_load[:] = 0.0
    for r in range(len(rack_kw)):
        loop_load[rack_loop[r]] += rack_kw[r]
    n = 0
    for r in range(len(rack_kw)):
        lp = rack_loop[r]
        cap = 0.0 if loop_failed[lp] else loop_cap[lp] * loop_frac[lp]
        load = loop_load[lp]
        # the share of its heat the loop removes: a failed loop (cap 0) removes none, even
        # from racks drawing nothing, so a rack it shut down stays off (hot) until the repair
        f = min(1.0, cap / max(load, 1e-9))
        heat = rack_kw[r] * (1 - f) / heat_kj_per_k[r] * dt  # K this tick: kJ/s over kJ/K
        cool = (inlet[r] - ambient) * (1 - math.exp(-dt / cool_tau_s[r]))
        inlet[r] = inlet[r] + heat - (cool if f >= 0.999 else 0.0)
        g = rack_gpus[r]
        frac = gpu_kw[r] * 1000.0 / max(g * sku_tdp[r], 1e-9) if g > 0 else 0.0
        gpu_temp[r] = inlet[r] + rise * frac
        hot = gpu_temp[r] >= throttle_c
        # release only when the rack could run at full power without throttling again
        # (judged by its inlet, not by the halved GPUs, or the throttle would flap)
        cool_again = inlet[r] + rise < throttle_c - 5.0
        e = 0
        if hot and not throttled[r]:
            e += 1
        if throttled[r] and cool_again:
            e += 2
        throttled[r] = True if hot else (False if cool_again else throttled[r])
        trip = inlet[r] + rise * 0.25 >= shutdown_c and not tripped[r]
        if trip:
            e += 4
        back = tripped[r] and inlet[r] < ambient + 5  # cooled: powered on again
        if back:
            e += 8
        tripped[r] = (tripped[r] or trip) and not back
        event[r] = e
        if e:
            n += 1
    return n


@njit(cache=True, error_model="numpy", inline="always")
def _block(a, lo, n):
    """numpy's sum of a block of up to 128 values: 8 partial sums, then the rest."""
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            res += a[i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = 8
    while i < n - n % 8:
        j = lo + i
        r0, r1, r2, r3 = r0 + a[j], r1 + a[j + 1], r2 + a[j + 2], r3 + a[j + 3]
        r4, r5, r6, r7 = r4 + a[j + 4], r5 + a[j + 5], r6 + a[j + 6], r7 + a[j + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@njit(cache=True, error_model="numpy")
def np_sum(a):
    """``a.sum()`` of a 1-D float64 array to the last bit as numpy adds it (pairwise:
    blocks of up to 128 values, each summed by ``_block``; a longer run is split in two
    halves, a multiple of 8 long on the left, and their sums added), without recursion
    (a recursive kernel does not load back from numba's cache)."""
    n = len(a)
    if n <= 128:
        return _block(a, 0, n)
    # post-order over the halving tree: a node is (lo, n, children done)
    node_lo, node_n = np.empty(128, dtype=np.int64), np.empty(128, dtype=np.int64)
    node_done = np.zeros(128, dtype=np.bool_)
    vals = np.empty(128)
    top, nv = 1, 0
    node_lo[0], node_n[0] = 0, n
    while top:
        top -= 1
        lo, m = node_lo[top], node_n[top]
        if m <= 128:
            vals[nv] = _block(a, lo, m)
            nv += 1
        elif node_done[top]:
            nv -= 1  # both halves summed (the right one on top): a + b is b + a
            vals[nv - 1] = vals[nv] + vals[nv - 1]
        else:
            half = m // 2
            half -= half % 8
            node_done[top] = True
            node_lo[top + 1], node_n[top + 1], node_done[top + 1] = lo + half, m - half, False
            node_lo[top + 2], node_n[top + 2], node_done[top + 2] = lo, half, False
            top += 3
    return vals[0]


@njit(cache=True, error_model="numpy")
def loads(
    dyn_full, row_clock, pair_row, cexp, vfloor, pair_rack, pair_kw, pair_share, row_util,
    reps_per_rack, rack_idle_kw, rack_spare_kw, rack_host_kw, idle_f, powered, swapping,
    tripped, rack_pdus, alive, pdu_feed, rack_cap_kw, rack_budget_kw, pdu_cap_kw, rack_shed,
    clock, live, rack_util, rack_kw, gpu_kw, dyn_rack, pdu_load, feed_load,
):  # fmt: skip
    """``rack_loads`` at each row's clock (``clock`` gets each (row, rack) pair's, ``live``
    each rack's: powered, not swapping, not tripped); returns the IT and the dynamic power
    summed (kW, as numpy sums), and whether any rack, shared (``rack_budget_kw``) or PDU
    cap, or any rack's shed load, can lower a clock (else the site's clock alone does)."""
    scaled = False
    for s in range(len(pair_row)):
        clock[s] = row_clock[pair_row[s]]
        scaled = scaled or clock[s] < 1.0
    for r in range(len(live)):
        live[r] = powered[r] and not swapping[r] and not tripped[r]
    rack_loads(
        dyn_full, clock, scaled, cexp, vfloor, pair_row, pair_rack, pair_kw, pair_share,
        row_util, reps_per_rack, rack_idle_kw, rack_spare_kw, rack_host_kw, idle_f, live,
        rack_pdus, alive, pdu_feed, rack_util, rack_kw, gpu_kw, dyn_rack, pdu_load, feed_load,
    )  # fmt: skip
    capped = False
    for r in range(len(rack_cap_kw)):
        capped = capped or math.isfinite(rack_cap_kw[r]) or rack_shed[r] != 0.0
        capped = capped or math.isfinite(rack_budget_kw[r])
    for p in range(len(pdu_cap_kw)):
        capped = capped or math.isfinite(pdu_cap_kw[p])
    return np_sum(rack_kw), np_sum(dyn_rack), capped


@njit(cache=True, error_model="numpy")
def settle(
    dt, new_clock, throttle_clock, pair_first, clock, dyn_full, cexp, vfloor, pair_row,
    pair_rack, pair_kw, pair_share, row_util, reps_per_rack, rack_idle_kw, rack_spare_kw,
    rack_host_kw, idle_f, live, rack_pdus, alive, pdu_feed, rack_util, rack_kw, gpu_kw,
    dyn_rack, pdu_load, feed_load, pdu_cap, pdu_tripped, pdu_failed, trip_s, instant, heat,
    trip, ambient, rack_loop, loop_failed, loop_cap, loop_frac, heat_kj_per_k, cool_tau_s,
    rack_gpus, sku_tdp, rise, throttle_c, shutdown_c, inlet, gpu_temp, throttled,
    rack_tripped, loop_load, event,
):  # fmt: skip
    """After the caps' controllers chose each rack's clock (``new_clock``): the loads
    again where a rack's clock (or its thermal throttle) is below its replicas' (a
    replica's clock is its first rack's), then breakers and cooling. Returns how many
    breakers trip, how many racks have a thermal event (``trip``, ``event``) and the
    racks' power (kW, as numpy sums it)."""
    n_r = len(new_clock)
    rack_eff = np.empty(n_r)
    low = False
    for r in range(n_r):
        rack_eff[r] = min(new_clock[r], throttle_clock if throttled[r] else 1.0)
        low = low or rack_eff[r] < 1.0 - 1e-9
    if low:  # clocks are at most 1: only a rack below it can have lowered a replica's clock
        lowered = False
        for s in range(len(clock)):
            lowered = lowered or rack_eff[pair_first[s]] < clock[s] - 1e-9
        if lowered:
            scaled = False
            for s in range(len(clock)):
                clock[s] = min(clock[s], rack_eff[pair_first[s]])
                scaled = scaled or clock[s] < 1.0
            rack_loads(
                dyn_full, clock, scaled, cexp, vfloor, pair_row, pair_rack, pair_kw,
                pair_share, row_util, reps_per_rack, rack_idle_kw, rack_spare_kw, rack_host_kw,
                idle_f, live, rack_pdus, alive, pdu_feed, rack_util, rack_kw, gpu_kw, dyn_rack,
                pdu_load, feed_load,
            )  # fmt: skip
    n_trip = breakers(dt, pdu_load, pdu_cap, pdu_tripped, pdu_failed, trip_s, instant, heat, trip)
    n_event = cooling(
        dt, ambient, rack_kw, gpu_kw, rack_loop, loop_failed, loop_cap, loop_frac,
        heat_kj_per_k, cool_tau_s, rack_gpus, sku_tdp, rise, throttle_c, shutdown_c, inlet,
        gpu_temp, throttled, rack_tripped, loop_load, event,
    )  # fmt: skip
    return n_trip, n_event, np_sum(rack_kw)


@njit(cache=True, error_model="numpy")
def loads_settled(
    dyn_full, row_clock, pair_row, cexp, vfloor, pair_rack, pair_kw, pair_share, row_util,
    reps_per_rack, rack_idle_kw, rack_spare_kw, rack_host_kw, idle_f, powered, swapping,
    tripped, rack_pdus, alive, pdu_feed, rack_cap_kw, rack_budget_kw, pdu_cap_kw, rack_shed,
    clock, live, rack_util, rack_kw, gpu_kw, dyn_rack, pdu_load, feed_load,
    # the site's controller: nothing to do while these hold
    pue, limit_headroom, site_clock, site_shed, full_clock,
    # ``settle``'s own
    dt, throttle_clock, pair_first, pdu_cap, pdu_tripped, pdu_failed, trip_s, instant, heat,
    trip, ambient, rack_loop, loop_failed, loop_cap, loop_frac, heat_kj_per_k, cool_tau_s,
    rack_gpus, sku_tdp, rise, throttle_c, shutdown_c, inlet, gpu_temp, throttled, loop_load,
    event,
):  # fmt: skip
    """``loads``, then ``settle`` at full clocks (``full_clock``: ones) when no cap's
    controller has anything to do — no rack, shared or PDU cap, no rack shedding load, the
    site's clock full, none of its replicas shed and its facility power (``pue`` × IT) within
    ``limit_headroom`` (``power.Power._cap_clocks`` then returns full clocks and changes
    nothing) — in one call, the tick's usual case. Returns (settled, IT kW, dynamic kW,
    capped, breakers tripping, racks with a thermal event); not
    settled: the caller runs the controllers and ``settle``."""
    it_kw, dyn_kw, capped = loads(
        dyn_full, row_clock, pair_row, cexp, vfloor, pair_rack, pair_kw, pair_share, row_util,
        reps_per_rack, rack_idle_kw, rack_spare_kw, rack_host_kw, idle_f, powered, swapping,
        tripped, rack_pdus, alive, pdu_feed, rack_cap_kw, rack_budget_kw, pdu_cap_kw,
        rack_shed, clock, live, rack_util, rack_kw, gpu_kw, dyn_rack, pdu_load, feed_load,
    )  # fmt: skip
    if capped or site_clock < 1.0 or site_shed > 0.0 or not it_kw * pue <= limit_headroom:
        return False, it_kw, dyn_kw, capped, 0, 0
    n_trip, n_event, it_kw = settle(
        dt, full_clock, throttle_clock, pair_first, clock, dyn_full, cexp, vfloor, pair_row,
        pair_rack, pair_kw, pair_share, row_util, reps_per_rack, rack_idle_kw, rack_spare_kw,
        rack_host_kw, idle_f, live, rack_pdus, alive, pdu_feed, rack_util, rack_kw, gpu_kw,
        dyn_rack, pdu_load, feed_load, pdu_cap, pdu_tripped, pdu_failed, trip_s, instant, heat,
        trip, ambient, rack_loop, loop_failed, loop_cap, loop_frac, heat_kj_per_k, cool_tau_s,
        rack_gpus, sku_tdp, rise, throttle_c, shutdown_c, inlet, gpu_temp, throttled,
        tripped, loop_load, event,
    )  # fmt: skip
    return True, it_kw, dyn_kw, capped, n_trip, n_event
