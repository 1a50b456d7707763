"""The compiled part of ``power.py``: rack, PDU and feed loads, breakers' thermal elements,
and cooling loops' heat, one pass each per tick (numba, like ``kernel.py``).

Each sums in the order ``np.bincount`` did, so the loads are the numpy engine's to the
last bit; the caller (``power.py``) keeps the decisions that write events (a breaker
tripping, a rack throttling or shutting down) and the caps' controllers.
``NUMBA_DISABLE_JIT=1`` runs the same loops as Python.
"""

from __future__ import annotations

import math

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
    """Inverse-time breakers' thermal elements (``power._breakers``); returns how many trip."""
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
    could run at full power again) and shut down at ``shutdown_c``. Updates ``inlet``,
    ``gpu_temp``, ``throttled``, ``tripped`` in place; ``event[r]`` is 1 (throttles),
    2 (released), 4 (shuts down) or a sum; returns how many racks have an event."""
    loop_load[:] = 0.0
    for r in range(len(rack_kw)):
        loop_load[rack_loop[r]] += rack_kw[r]
    n = 0
    for r in range(len(rack_kw)):
        lp = rack_loop[r]
        cap = 0.0 if loop_failed[lp] else loop_cap[lp] * loop_frac[lp]
        load = loop_load[lp]
        f = min(1.0, cap / max(load, 1e-9)) if load > 0 else 1.0
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
        tripped[r] = (tripped[r] or trip) and not (inlet[r] < ambient + 5 and tripped[r])
        event[r] = e
        if e:
            n += 1
    return n
