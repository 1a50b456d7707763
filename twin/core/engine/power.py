"""Power and heat: rack, PDU and feed loads from GPU activity; site, rack and PDU caps
acting on clocks; breaker trips; cooling loops, inlet temperature, throttling and thermal
shutdown."""

from __future__ import annotations

import numpy as np

from twin.core.engine import power_kernel as PK

#: Caps' controllers hold power at this share of a limit.
HEADROOM = 0.99
#: When the site's limit is below what its racks draw with every board at its floor, the
#: controller sheds this share of the replicas more per tick (and gives back half of it
#: per tick once that floor draw has room).
SHED_STEP = 0.02
#: A cap's controller (site, rack, shared budget, PDU) raises a clock this share of the
#: way to the highest one that fits each tick (``next_clock``); it lowers one at once.
CLOCK_RISE = 0.5
#: A cap's controller keeps a clock up to this share under the one that fits, or over it
#: while the draw stays within half the HEADROOM (``next_clock``).
CLOCK_HOLD = 0.01
HOLD_LIMIT = (1 + HEADROOM) / 2


def clock_power(clock, k) -> np.ndarray:
    """Dynamic power at ``clock`` as a share of it at full clock: clock^e (e = 2.5, voltage
    falling with the clock) down to the voltage floor, then linear in the clock (the
    voltage can fall no further)."""
    c = np.asarray(clock, dtype=float)
    e, v = float(k["clock_power_exponent"]), float(k["voltage_floor_clock"])
    return np.where(c >= v, np.power(np.maximum(c, 0.0), e), v**e * c / v)


def clock_for_power(share, k) -> np.ndarray:
    """The inverse of ``clock_power``: the clock that draws ``share`` of full dynamic power."""
    p = np.clip(np.asarray(share, dtype=float), 0.0, 1.0)
    e, v = float(k["clock_power_exponent"]), float(k["voltage_floor_clock"])
    return np.where(p >= v**e, np.power(p, 1.0 / e), p * v / v**e)


def min_clock(gpu, k) -> float:
    """The lowest clock a cap can push a fully busy board to: the one at which it draws
    its minimum power limit (0.2 when the catalog gives no limit)."""
    if not gpu.min_power_w:
        return 0.2
    share = (gpu.min_power_w - gpu.idle_w) / max(gpu.tdp_w - gpu.idle_w, 1e-9)
    return float(np.clip(clock_for_power(share, k), 0.05, 1.0))


def next_clock(prev, fit, prev_fits):
    """Every cap controller's move toward ``fit``, the highest clock that fits: down at
    once (power over a limit is cut in the tick), up CLOCK_RISE of the way from ``prev``
    (a tick's clock changes the next tick's work and host power; a clock that jumped all
    the way up would swing around the one that fits), to full clock once within 1 % of
    it. ``prev`` is kept while it draws no more than HOLD_LIMIT of the limit
    (``prev_fits``) or is under the fitting clock by less than CLOCK_HOLD: the
    clock moves when the work does, not with every tick's noise, and the engine's
    per-clock caches stay valid meanwhile."""
    d = fit - prev
    step = np.where((d < 0.01) & ((fit >= 1.0) | (d < 0)), fit, prev + CLOCK_RISE * d)
    hold = np.where(d < 0, prev_fits, (d < CLOCK_HOLD * prev) & (fit < 1.0))
    return np.where(hold, prev, step)


def site_clock_fit(spare, full, floor, at_floor, k) -> float:
    """The highest clock c at which racks whose work draws ``full`` dynamic power at full
    clock (``at_floor`` at their ``floor``), each at c or its own floor whichever is
    higher, draw at most ``spare`` (what the site's limit leaves over the power no clock
    moves). Between two of the racks' floors the draw is A·clock_power(c) + B (A: the
    work of the racks c moves, B: the others' at their floors): solved on each such
    stretch, from the top."""
    if full.sum() <= spare:
        return 1.0
    e, v = float(k["clock_power_exponent"]), float(k["voltage_floor_clock"])
    hi = 1.0
    for lo in np.unique(floor)[::-1].tolist():  # a handful of floors: one per GPU model
        moved = floor < hi  # the racks c moves on [lo, hi)
        a = float(full[moved].sum())
        b = float(at_floor[~moved].sum())
        cp_lo = lo**e if lo >= v else v**e * lo / v  # clock_power, on one clock
        if a * cp_lo + b <= spare:  # fits at lo: c is in [lo, hi]
            if a <= 0:
                return hi
            p = min((spare - b) / a, 1.0)  # clock_for_power, on one share
            return min(max(p ** (1 / e) if p >= v**e else p * v / v**e, lo), hi)
        hi = lo
    return hi


def stepped_clock(prev, load, dyn, full, limit, floor, k):
    """One tick of a cap's controller, as a GPU's power limiter acts (``nvidia-smi -pl``,
    DCGM, a rack manager's power cap): it seeks the highest clock at which ``load`` fits
    ``limit`` (with HEADROOM) for the work the boards have now, afresh each tick, up as
    well as down. ``dyn`` is the dynamic part of ``load``, ``full`` what that work would
    draw at full clock; the rest (idle, spare and host power) does not move with the
    clock. A lower clock spreads the same work over more of the tick, so power may hardly
    fall with it (below the voltage floor, a busier host may even draw more): the clock
    is judged by what fits, not stepped down from the last one. Down at once (power over
    a limit is cut in the tick), up CLOCK_RISE of the way from ``prev`` (``next_clock``).
    Returns (clock, at least ``floor``; stuck: over ``limit`` even at ``floor``; room:
    under 97 % of it at ``floor``, where shed load can come back)."""
    full = np.maximum(full, 0.0)
    spare = limit * HEADROOM - (load - dyn)  # what the clock-dependent power may draw
    fit = np.where(
        full <= spare, 1.0, clock_for_power(np.maximum(spare, 0.0) / np.maximum(full, 1e-9), k)
    )
    clock = next_clock(prev, fit, load - dyn + full * clock_power(prev, k) <= limit * HOLD_LIMIT)
    at_floor = load - dyn + full * clock_power(floor, k)
    stuck = at_floor > limit * HEADROOM
    room = at_floor < limit * HEADROOM * 0.97
    return np.clip(clock, floor, 1.0), stuck, room


def share_budget(least: np.ndarray, want: np.ndarray, total: float) -> np.ndarray:
    """``total`` split max-min fairly: each gets min(want, max(least, L)), with L such that
    the shares sum to ``total`` (all ``want`` when they fit, all ``least`` when even
    those do not). ``least`` <= ``want``."""
    pts = np.sort(np.concatenate([least, want]))
    summed = np.clip(pts[:, None], least, want).sum(axis=1)  # nondecreasing in pts
    return np.clip(np.interp(total, summed, pts), least, want)


def liquid_cooled(gpu, k) -> bool:
    return gpu.tdp_w >= float(k["liquid_cooled_min_tdp_w"])


class Power:
    STATE_POWER = (
        "site_cap_kw",
        "site_clock",
        "site_shed",
        "cap_clock",
        "inlet_c",
        "gpu_temp_c",
        "throttled",
        "_limit_event",
        "_shed_event",
        "_rack_cap_clock",
        "_pdu_cap_clock",
        "_budget_clock",
        "_budget_event",
        "rack_power_kw",
        "rack_util",
        "pdu_load",
        "feed_load",
        "loop_load",
        "pdu_heat",
        "rack_shed",
    )

    def _init_power(self) -> None:
        n_r, n_p = len(self.rack_ids), len(self.pdu_ids)
        ambient = self.layout.site.ambient_c
        self.site_cap_kw: float | None = None
        self.site_clock = 1.0
        self.site_shed = 0.0  # share of replicas shed because a cap is below the boards' floor
        self._shed_event = -1e9
        self.pdu_heat = np.zeros(n_p)  # breaker thermal element: overload seconds (M² - 1)·s
        self.rack_shed = np.zeros(
            n_r
        )  # share of a rack's replicas shed for a rack or PDU cap below its floor
        self.cap_clock = np.ones(n_r)
        self.inlet_c = np.full(n_r, ambient)
        self.gpu_temp_c = np.full(n_r, ambient)
        self.throttled = np.zeros(n_r, bool)
        self._limit_event = -1e9
        self._rack_cap_clock = np.ones(n_r)
        self._pdu_cap_clock = np.ones(n_p)
        self._budget_clock = np.ones(n_r)  # a shared budget's clock, on each of its racks
        self._budget_event = -1e9
        self.rack_power_kw = np.zeros(n_r)
        self.rack_util = np.zeros(n_r)
        self.pdu_load = np.zeros(n_p)
        self.feed_load = np.zeros(len(self.feed_ids))
        self.loop_load = np.zeros(len(self.loop_ids))
        k = self.k
        self._power_k = tuple(
            float(k[name])
            for name in (
                "clock_power_exponent", "voltage_floor_clock", "host_power_idle_fraction",
                "throttle_clock", "breaker_trip_s", "breaker_instant_multiple",
                "gpu_temp_rise_at_tdp_c", "gpu_throttle_c", "gpu_shutdown_c",
            )
        )  # fmt: skip
        self._power_gamma = float(k["power_gamma"])  # flow.py: GPU power vs activity
        self._full_clock = np.ones(n_r)  # every rack at full clock: nothing writes to it
        self._power_scratch = None

    def _power_and_heat(self, dyn_full, clock) -> float:
        """Rack, PDU and feed power from each row of replicas' GPU power at full clock
        (``dyn_full``, W per GPU above idle; ``kernel.decode_rows``), caps, breakers, heat:
        one compiled call (``power_kernel.loads_settled``) when no cap's controller has
        anything to do, else two (``loads`` and ``settle``) around the controllers.
        ``clock``: each row's (``rows.py``; the power tree sums (row, rack) pairs).
        Returns the racks' power, kW."""
        cexp, vfloor, idle_f, thr_clock, trip_s, instant, rise, thr_c, shut_c = self._power_k
        n_r, n_p = len(self.rack_ids), len(self.pdu_ids)
        sc = self._power_scratch
        if sc is None or len(sc[0]) != len(self.pair_row):
            sc = self._power_scratch = (
                np.empty(len(self.pair_row)), np.empty(n_r, bool), np.empty(n_r),
                np.empty(n_r), np.empty(n_p, bool), np.empty(n_r, dtype=np.int64),
            )  # fmt: skip
        pair_clock, live, gpu_kw, dyn_rack, trip, event = sc  # scratch: nothing keeps them
        # fresh arrays: a caller (a snapshot) may hold the last ones
        last_kw = self.rack_power_kw  # last tick's draw: a budget's shedding waits while it falls
        rack_kw = self.rack_power_kw = np.empty(n_r)
        self.rack_util = np.empty(n_r)
        self.pdu_load, self.feed_load = np.empty(n_p), np.empty(len(self.feed_ids))
        self.pdu_heat = self.pdu_heat.copy()
        self.inlet_c = self.inlet_c.copy()
        self.gpu_temp_c = np.empty_like(self.inlet_c)
        self.throttled = self.throttled.copy()
        self.rack_tripped = self.rack_tripped.copy()
        self.loop_load = np.empty(len(self.loop_ids))
        ambient = float(self.layout.site.ambient_c)
        loads = (
            dyn_full, clock, self.pair_row, cexp, vfloor, self.pair_rack, self.pair_kw,
            self.pair_share, self.row_util, self.reps_per_rack, self._rack_idle_kw,
            self._rack_spare_kw, self.rack_host_kw, idle_f, self.rack_powered,
            self.rack_swapping, self.rack_tripped, self.rack_pdus, self.rack_pdu_alive,
            self.pdu_feed, self.rack_cap_kw, self.rack_budget_kw, self.pdu_cap_kw, self.rack_shed,
            pair_clock, live, self.rack_util, rack_kw, gpu_kw, dyn_rack,
            self.pdu_load, self.feed_load,
        )  # fmt: skip
        settled, it_kw, dyn_kw, capped, n_trip, n_event = PK.loads_settled(
            *loads, self.pue, self._envelope_kw() * HEADROOM, self.site_clock, self.site_shed,
            self._full_clock, self.dt, thr_clock, self.pair_first, self.pdu_cap,
            self.pdu_tripped, self.pdu_failed, trip_s, instant, self.pdu_heat, trip, ambient,
            self.rack_loop, self.loop_failed, self.loop_cap, self.loop_frac,
            self.rack_heat_kj_per_k, self.rack_cool_tau_s, self.rack_gpus, self.sku_tdp_w,
            rise, thr_c, shut_c, self.inlet_c, self.gpu_temp_c, self.throttled, self.loop_load,
            event,
        )  # fmt: skip
        if settled:
            self.cap_clock = self._full_clock  # what ``_cap_clocks`` returns then
        else:
            # caps: GPU power limits act in hardware within milliseconds, so the controllers
            # pick clocks from this tick's draw and any lowered clock applies to it at once
            self.cap_clock = self._cap_clocks(rack_kw, dyn_rack, it_kw, dyn_kw, capped, last_kw)
            n_trip, n_event, it_kw = PK.settle(
                self.dt, self.cap_clock, thr_clock, self.pair_first, pair_clock, dyn_full,
                cexp, vfloor, self.pair_row, self.pair_rack, self.pair_kw, self.pair_share,
                self.row_util, self.reps_per_rack, self._rack_idle_kw, self._rack_spare_kw,
                self.rack_host_kw, idle_f, live, self.rack_pdus, self.rack_pdu_alive,
                self.pdu_feed, self.rack_util, rack_kw, gpu_kw, dyn_rack, self.pdu_load,
                self.feed_load, self.pdu_cap, self.pdu_tripped, self.pdu_failed, trip_s,
                instant, self.pdu_heat, trip, ambient, self.rack_loop, self.loop_failed,
                self.loop_cap, self.loop_frac, self.rack_heat_kj_per_k, self.rack_cool_tau_s,
                self.rack_gpus, self.sku_tdp_w, rise, thr_c, shut_c, self.inlet_c,
                self.gpu_temp_c, self.throttled, self.rack_tripped, self.loop_load, event,
            )  # fmt: skip
        if n_trip:
            self._breakers_tripped(trip)
        if n_event:
            self._heat_events(event)
        return it_kw

    def _heat_events(self, event: np.ndarray) -> None:
        """Each loop removes up to its capacity; the rest warms its racks' coolant; hot
        racks throttle and, hotter still, shut down (``power_kernel.cooling``): the events
        of the racks that did (``event``: 1 throttles, 2 released, 4 shuts down, 8 on
        again once cooled)."""
        for r in np.flatnonzero(event & 1):
            self._event(
                "critical",
                self.rack_ids[r],
                f"GPUs at {self.gpu_temp_c[r]:.0f} °C: thermal throttle (clocks halved)",
            )
        for r in np.flatnonzero(event & 2):
            self._event("info", self.rack_ids[r], "temperature back to normal: throttle released")
        for r in np.flatnonzero(event & 4):
            self._event(
                "critical",
                self.rack_ids[r],
                "thermal shutdown: rack powered off until it cools",
            )
        for r in np.flatnonzero(event & 8):
            self._event(
                "info",
                self.rack_ids[r],
                f"cooled to {self.inlet_c[r]:.0f} °C: powered on again after its thermal shutdown",
            )

    def _breakers_tripped(self, trip: np.ndarray) -> None:
        """Inverse-time breakers: a thermal element integrates (M² - 1) over time above the
        rating M = load/rating and trips at ``breaker_trip_s`` (1.2x holds for minutes, 2x
        trips in tens of seconds); at ``breaker_instant_multiple`` it trips at once
        (``power_kernel.breakers``). The PDUs whose breaker tripped (``trip``) go dark."""
        self._input_v += 1  # flow.py: which replicas are up
        for i in np.flatnonzero(trip):
            self.pdu_tripped[i] = True
            self.pdu_heat[i] = 0.0
            pid = self.pdu_ids[i]
            self._add_fault(pid, "tripped")
            self._event(
                "critical",
                pid,
                f"breaker tripped: {self.pdu_load[i]:,.0f} kW over its {self.pdu_cap[i]:,.0f} kW; "
                "repair it to reset",
            )

    def _cap_clocks(self, rack_kw, dyn_rack, it_kw, dyn_kw, capped_any, last_kw) -> np.ndarray:
        """Per-rack clock that keeps the site, capped racks and capped PDUs under their
        limits (with HEADROOM): each controller's highest clock that fits (``next_clock``,
        ``stepped_clock``), the lowest of them on each rack. ``it_kw`` and ``dyn_kw`` are
        the racks' total and dynamic power, ``capped_any`` whether a rack or PDU is capped
        or a rack sheds load, ``last_kw`` each rack's draw the tick before."""
        n_r = len(self.rack_ids)

        k = self.k
        floor = self.rack_min_clock
        facility = it_kw * self.pue
        site = self.layout.site
        limit = (
            site.envelope_kw
            if self.site_cap_kw is None
            else min(site.envelope_kw, self.site_cap_kw)
        )
        # each rack's dynamic power at full clock for the work it has now: its draw ran at
        # the clocks chosen last tick, throttled where hot
        was = np.minimum(self.cap_clock, np.where(self.throttled, float(k["throttle_clock"]), 1.0))
        full_dyn = dyn_rack / np.maximum(clock_power(was, k), 1e-9)
        # the site's controller takes the same step over all the racks, each at the site's
        # clock or its own floor, whichever is higher (nothing to do while the site fits
        # at full clock with nothing shed)
        base, lim = it_kw - dyn_kw, limit / self.pue
        if self.site_clock < 1.0 or self.site_shed > 0 or base + full_dyn.sum() > lim * HEADROOM:
            dyn_floor = full_dyn * clock_power(floor, k)  # each rack's at its floor
            fit = site_clock_fit(lim * HEADROOM - base, full_dyn, floor, dyn_floor, k)
            at_floor = base + float(dyn_floor.sum())
            prev = self.site_clock
            prev_fits = (
                fit >= prev
                or base + float((full_dyn * clock_power(np.maximum(prev, floor), k)).sum())
                <= lim * HOLD_LIMIT
            )
            self.site_clock = float(
                np.clip(next_clock(prev, fit, prev_fits), floor.min(initial=1.0), 1.0)
            )
            lowered = facility > limit * HEADROOM and self.site_clock < prev
            if lowered and self.now - self._limit_event > 300:
                self._limit_event = self.now
                self._event(
                    "warning",
                    "site",
                    f"facility {facility / 1000:,.1f} MW at the {limit / 1000:,.1f} MW limit: "
                    f"GPU clocks lowered to {self.site_clock:.0%}",
                )
            self._shed(at_floor > lim * HEADROOM, at_floor < lim * HEADROOM * 0.97, limit)
        if self.site_clock >= 1.0 and not capped_any:
            return np.ones(n_r)  # nothing capped or shed: full clocks (floors are at most 1)
        capped = np.isfinite(self.rack_cap_kw)
        pcap = np.isfinite(self.pdu_cap_kw)
        rack_clock = np.maximum(np.full(n_r, self.site_clock), floor)
        if self.rack_shed.any():  # a cap lifted: its racks serve in full again
            behind = np.zeros(n_r, bool)  # racks behind a capped PDU
            for j in range(2):
                m = self.rack_pdus[:, j] >= 0
                behind[m] |= np.isfinite(self.pdu_cap_kw[self.rack_pdus[m, j]])
            self.rack_shed[~capped & ~behind & ~np.isfinite(self.rack_budget_kw)] = 0.0
        if capped.any():
            rc, stuck, room = stepped_clock(
                self._rack_cap_clock, rack_kw, dyn_rack, full_dyn, self.rack_cap_kw, floor, k
            )
            self._rack_cap_clock = np.where(capped, rc, 1.0)
            self._shed_racks(capped & stuck, capped & room, "rack cap")
            rack_clock = np.minimum(rack_clock, self._rack_cap_clock)
        if np.isfinite(self.rack_budget_kw).any():
            rack_clock = np.minimum(
                rack_clock, self._budget_clocks(rack_kw, dyn_rack, full_dyn, last_kw)
            )
        if pcap.any():
            n_p = len(self.pdu_ids)
            alive = self.rack_pdu_alive
            n_alive = np.maximum(alive.sum(axis=1), 1)

            def per_pdu(x):  # a rack's share on each of its live PDUs, summed per PDU
                return sum(
                    np.bincount(
                        np.where(alive[:, j], self.rack_pdus[:, j], n_p),
                        weights=x / n_alive,
                        minlength=n_p + 1,
                    )[:n_p]
                    for j in range(2)
                )

            pdu_floor = np.zeros(n_p)  # the highest of its racks' floors
            for j in range(2):
                m = self.rack_pdus[:, j] >= 0
                np.maximum.at(pdu_floor, self.rack_pdus[m, j], floor[m])
            pc, stuck, room = stepped_clock(
                self._pdu_cap_clock,
                self.pdu_load,
                per_pdu(dyn_rack),
                per_pdu(full_dyn),
                self.pdu_cap_kw,
                pdu_floor,
                k,
            )
            self._pdu_cap_clock = np.where(pcap, pc, 1.0)
            per_rack = np.ones(n_r)
            stuck_r, room_r = np.zeros(n_r, bool), np.zeros(n_r, bool)
            for j in range(2):
                m = self.rack_pdus[:, j] >= 0
                per_rack[m] = np.minimum(per_rack[m], self._pdu_cap_clock[self.rack_pdus[m, j]])
                p = self.rack_pdus[m, j]
                stuck_r[m] |= pcap[p] & stuck[p]
                room_r[m] |= pcap[p] & room[p]
            self._shed_racks(stuck_r, room_r & ~stuck_r, "PDU cap")
            rack_clock = np.minimum(rack_clock, per_rack)
        return rack_clock

    def _budget_clocks(self, rack_kw, dyn_rack, full_dyn, last_kw) -> np.ndarray:
        """Each rack's clock under the budget it shares (``actions._budget``), as a row
        power manager shares a row's budget: each tick the budget is split over its racks
        max-min fairly (``share_budget``) between what each draws at its boards' floor and
        what it would draw at full clock, so a quiet rack keeps what it needs and leaves
        the rest to the busy ones, and no clock is lowered while the racks' sum is within
        the budget. Each rack's clock then meets its share as a rack cap's does. Only when
        the budget is below what the racks draw at their floors, and racks already at
        their floor still draw more, do they shed load, and say so. ``full_dyn``: each
        rack's dynamic power at full clock for the work it has now."""
        k = self.k
        n_r = len(self.rack_ids)
        floor = self.rack_min_clock
        on = np.isfinite(self.rack_budget_kw)
        base = rack_kw - dyn_rack  # idle, spare and host power: what a clock does not move
        least = (base + full_dyn * clock_power(floor, k)) / HEADROOM
        want = np.maximum((base + full_dyn) / (HEADROOM * 0.97), least)  # room to stay full
        share = np.full(n_r, np.inf)
        short = np.zeros(n_r, bool)  # in a budget below its racks' floors, and over it
        # in a budget that holds its racks at their floors with 3 % to spare: shed load
        # comes back. Judged on the budget, not a rack's share: a drained rack wants only
        # its idle draw, so its share leaves it no room of its own
        room = np.zeros(n_r, bool)
        falling = np.zeros(n_r, bool)  # the budget's racks draw less than last tick
        for b in np.unique(self.rack_budget[on]):
            m = self.rack_budget == b
            total = float(self.rack_budget_kw[m][0])
            share[m] = share_budget(least[m], want[m], total)
            short[m] = least[m].sum() > total and rack_kw[m].sum() > total * HEADROOM
            room[m] = least[m].sum() < total * 0.97
            falling[m] = rack_kw[m].sum() < last_kw[m].sum() - 0.002 * total
        prev = self._budget_clock
        bc, _, _ = stepped_clock(prev, rack_kw, dyn_rack, full_dyn, share, floor, k)
        # below its racks' floors a budget gives each rack its floor draw as its share,
        # which a clock just above the floor may already be held at (``next_clock``): the
        # racks would never reach the floor that sheds, over the budget for good
        self._budget_clock = np.where(on, np.where(short, floor, bc), 1.0)
        # a tick draws at the clocks chosen the tick before: shed only where the floor has
        # been tried and the budget is still not met, and not while the draw still falls
        # (drained replicas finish their running requests first: shedding on through that
        # lag drained whole rows for a budget a tenth under their draw)
        stuck = short & (prev <= floor + 1e-9) & ~falling
        if stuck.any():
            labels = np.unique(self.rack_budget[stuck])
            first = [int(b) for b in labels if (self.rack_shed[self.rack_budget == b] <= 0).all()]
            self.rack_shed = np.where(
                stuck, np.minimum(1.0, self.rack_shed + SHED_STEP * 5), self.rack_shed
            )
            if first or self.now - self._budget_event > 300:
                self._budget_event = self.now
                for b in first or labels.tolist():
                    m = self.rack_budget == b
                    self._event(
                        "warning",
                        self.budget_names[int(b)],
                        f"cap {self.rack_budget_kw[m][0]:,.1f} kW is below what its {m.sum()} "
                        "racks draw with their GPUs at their minimum power limit: shedding "
                        f"load, {self.rack_shed[m].mean():.0%} of replicas drained",
                    )
        back = room & ~short & (self.rack_shed > 0)
        if back.any():
            self.rack_shed = np.where(
                back, np.maximum(0.0, self.rack_shed - SHED_STEP), self.rack_shed
            )
        return np.where(on, self._budget_clock, 1.0)

    def _shed_racks(self, stuck: np.ndarray, room: np.ndarray, what: str) -> None:
        """Racks whose cap cannot be met even at their boards' floor shed replicas."""
        if stuck.any():
            first = stuck & (self.rack_shed <= 0)
            self.rack_shed = np.where(
                stuck, np.minimum(1.0, self.rack_shed + SHED_STEP * 5), self.rack_shed
            )
            for r in np.flatnonzero(first)[:5]:
                self._event(
                    "warning",
                    self.rack_ids[r],
                    f"{what} below what its GPUs draw at their minimum power limit: "
                    "shedding load, replicas drained",
                )
        back = room & ~stuck & (self.rack_shed > 0)
        if back.any():
            self.rack_shed = np.where(
                back, np.maximum(0.0, self.rack_shed - SHED_STEP), self.rack_shed
            )

    def _shed(self, over: bool, room: bool, limit_kw: float) -> None:
        """A cap below what the boards' minimum power limits allow: shed load (drain a share
        of every deployment's replicas), and give it back once there is room."""
        if over:
            first = self.site_shed <= 0
            self.site_shed = min(0.95, self.site_shed + SHED_STEP)
            if first or self.now - self._shed_event > 300:
                self._shed_event = self.now
                self._event(
                    "critical",
                    "site",
                    f"the {limit_kw / 1000:,.1f} MW limit is below what the GPUs draw at their "
                    f"minimum power limit: shedding load, {self.site_shed:.0%} of replicas drained",
                )
        elif room and self.site_shed > 0:
            self.site_shed = max(0.0, self.site_shed - SHED_STEP / 2)
            if self.site_shed == 0.0:
                self._event("info", "site", "power limit met again: load shedding over")
