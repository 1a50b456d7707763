"""Power and heat: rack, PDU and feed loads from GPU activity; site, rack and PDU caps
acting on clocks; breaker trips; cooling loops, inlet temperature, throttling and thermal
shutdown."""

from __future__ import annotations

import math

import numpy as np

from twin.core.engine import plan as P

#: The site power controller lowers clocks when facility power exceeds the limit and
#: raises them by this factor per tick when there is headroom again.
CLOCK_RECOVERY = 1.05
HEADROOM = 0.99


class Power:
    STATE_POWER = ("site_cap_kw", "site_clock", "cap_clock", "inlet_c", "gpu_temp_c", "throttled", "_limit_event",
                   "_rack_cap_clock", "_pdu_cap_clock", "rack_power_kw", "rack_util", "pdu_load", "feed_load",
                   "loop_load")

    def _init_power(self) -> None:
        n_r, n_p = len(self.rack_ids), len(self.pdu_ids)
        ambient = self.layout.site.ambient_c
        self.site_cap_kw: float | None = None
        self.site_clock = 1.0
        self.cap_clock = np.ones(n_r)
        self.inlet_c = np.full(n_r, ambient)
        self.gpu_temp_c = np.full(n_r, ambient)
        self.throttled = np.zeros(n_r, bool)
        self._limit_event = -1e9
        self._rack_cap_clock = np.ones(n_r)
        self._pdu_cap_clock = np.ones(n_p)
        self.rack_power_kw = np.zeros(n_r)
        self.rack_util = np.zeros(n_r)
        self.pdu_load = np.zeros(n_p)
        self.feed_load = np.zeros(len(self.feed_ids))
        self.loop_load = np.zeros(len(self.loop_ids))

    def _power_and_heat(self, B, dec_time, pf_time, clock, up) -> None:
        k, dt = self.k, self.dt
        gamma, cexp = float(k["power_gamma"]), float(k["clock_power_exponent"])
        last = self._last_grid
        i0, f = (last[1], last[2]) if last is not None and last[0] is B else self._grid_pos(B)
        pr = self.rep_prof
        ud = self.prof_ud[pr, i0] * (1 - f) + self.prof_ud[pr, i0 + 1] * f
        u = np.minimum(dec_time / dt, 1.0) * ud + np.minimum(pf_time / dt, 1.0) * self.rep_pf_u
        u = np.where(up, np.minimum(u, 1.0), 0.0)
        sku_idle, sku_tdp = self.sku_idle_w, self.sku_tdp_w
        idle_r, tdp_r = sku_idle[self.rep_rack], sku_tdp[self.rep_rack]
        dyn_full = (tdp_r - idle_r) * (u if gamma == 1.0 else np.power(u, gamma))  # W per GPU at full clock
        n_r = len(self.rack_ids)
        # utilisation: output tokens/s over the replica's capacity at its SLO pace
        # (prefill replicas: prefill time over the tick)
        rep_util = np.where(self.rep_role == P.ROLE_PREFILL, np.minimum(pf_time / dt, 1.0),
                            self.rep_out_s / self.rep_cap_tok_s)
        self.rep_util = rep_util
        util = np.bincount(self.span_rack, weights=rep_util[self.span_rep] * self.span_share, minlength=n_r)
        nrep = self.reps_per_rack
        self.rack_util = np.where(nrep > 0, util / np.maximum(nrep, 1e-9), 0.0)
        peak_kw = self.rack_peak_kw
        idle_f = float(k["host_power_idle_fraction"])
        rack_kw, gpu_kw, dyn_rack = self._rack_power(dyn_full, idle_r, clock, cexp, idle_f)
        # caps: GPU power limits act in hardware within milliseconds, so the controllers
        # pick clocks from this tick's draw and any lowered clock applies to it at once
        new_clock = self._cap_clocks(rack_kw, dyn_rack, cexp)
        eff = np.minimum(new_clock, np.where(self.throttled, float(k["throttle_clock"]), 1.0))[self.rep_rack]
        if (eff < clock - 1e-9).any():
            rack_kw, gpu_kw, dyn_rack = self._rack_power(dyn_full, idle_r, np.minimum(clock, eff), cexp, idle_f)
        self.cap_clock = new_clock
        over = (self.pdu_load > self.pdu_cap * 1.0) & ~self.pdu_tripped & ~self.pdu_failed
        for i in np.flatnonzero(over):
            self.pdu_tripped[i] = True
            pid = self.pdu_ids[i]
            self._add_fault(pid, "tripped")
            self._event("critical", pid, f"breaker tripped: {self.pdu_load[i]:,.0f} kW over its {self.pdu_cap[i]:,.0f} kW; "
                                         "repair it to reset")
        # heat: each loop removes up to its capacity; the rest warms its racks
        self.loop_load = np.bincount(self.rack_loop, weights=rack_kw, minlength=len(self.loop_ids))
        cap = np.where(self.loop_failed, 0.0, self.loop_cap)
        removed = np.where(self.loop_load > 0, np.minimum(1.0, cap / np.maximum(self.loop_load, 1e-9)), 1.0)
        f = removed[self.rack_loop]
        excess = rack_kw * (1 - f) / np.maximum(peak_kw, 1e-9)
        ambient = self.layout.site.ambient_c
        heat = float(k["rack_heat_rate_c_per_min"]) / 60.0 * dt * excess
        cool = (self.inlet_c - ambient) * (1 - math.exp(-dt / float(k["rack_cooldown_tau_s"])))
        self.inlet_c = self.inlet_c + heat - np.where(f >= 0.999, cool, 0.0)
        gpu_frac = np.where(self.rack_gpus > 0, gpu_kw * 1000.0 / np.maximum(self.rack_gpus * sku_tdp, 1e-9), 0.0)
        self.gpu_temp_c = self.inlet_c + float(k["gpu_temp_rise_at_tdp_c"]) * gpu_frac
        hot = self.gpu_temp_c >= float(k["gpu_throttle_c"])
        # release only when the rack could run at full power without throttling again
        # (judged by its inlet, not by the halved GPUs, or the throttle would flap)
        cool_again = self.inlet_c + float(k["gpu_temp_rise_at_tdp_c"]) < float(k["gpu_throttle_c"]) - 5.0
        for r in np.flatnonzero(hot & ~self.throttled):
            self._event("critical", self.rack_ids[r], f"GPUs at {self.gpu_temp_c[r]:.0f} °C: thermal throttle (clocks halved)")
        for r in np.flatnonzero(self.throttled & cool_again):
            self._event("info", self.rack_ids[r], "temperature back to normal: throttle released")
        self.throttled = np.where(hot, True, np.where(cool_again, False, self.throttled))
        trip = (self.inlet_c + float(k["gpu_temp_rise_at_tdp_c"]) * 0.25 >= float(k["gpu_shutdown_c"])) & ~self.rack_tripped
        for r in np.flatnonzero(trip):
            self._event("critical", self.rack_ids[r], "thermal shutdown: rack powered off until it cools")
        self.rack_tripped = (self.rack_tripped | trip) & ~((self.inlet_c < ambient + 5) & self.rack_tripped)

    def _rack_power(self, dyn_full, idle_r, clock, cexp, idle_f):
        """Rack, PDU and feed loads for GPU activity at these clocks (sets the loads)."""
        n_r = len(self.rack_ids)
        dyn_w = dyn_full * (1.0 if (np.asarray(clock) >= 1.0).all() else np.power(clock, cexp))
        w = self.span_share * self.rep_gpus[self.span_rep] / 1000.0
        dyn_rack = np.bincount(self.span_rack, weights=dyn_w[self.span_rep] * w, minlength=n_r)
        gpu_kw = np.bincount(self.span_rack, weights=idle_r[self.span_rep] * w, minlength=n_r) + dyn_rack
        gpu_kw += np.maximum(0.0, self.rack_gpus - self.gpus_in_reps) * self.sku_idle_w / 1000.0
        rack_kw = gpu_kw + self.rack_host_kw * (idle_f + (1 - idle_f) * np.minimum(1.0, self.rack_util))
        live = self.rack_powered & ~self.rack_swapping & ~self.rack_tripped
        rack_kw = np.where(live, rack_kw, 0.0)
        dyn_rack = np.where(live, dyn_rack, 0.0)
        self.rack_power_kw = rack_kw
        # power tree: an A/B-fed rack shares its load over its live PDUs
        alive = self.rack_pdu_alive
        share = rack_kw / np.maximum(alive.sum(axis=1), 1)
        n_p = len(self.pdu_ids)
        self.pdu_load = (np.bincount(np.where(alive[:, 0], self.rack_pdus[:, 0], n_p), weights=share, minlength=n_p + 1)[:n_p]
                         + np.bincount(np.where(alive[:, 1], self.rack_pdus[:, 1], n_p), weights=share, minlength=n_p + 1)[:n_p])
        self.feed_load = np.bincount(self.pdu_feed, weights=self.pdu_load, minlength=len(self.feed_ids))
        return rack_kw, gpu_kw, dyn_rack

    def _cap_clocks(self, rack_kw, dyn_rack, cexp) -> np.ndarray:
        """Per-rack clock that keeps the site, capped racks and capped PDUs under their
        limits (with HEADROOM), raising clocks slowly again once there is room."""
        n_r = len(self.rack_ids)

        def ratio(load, dyn, limit):  # clock factor that brings load to limit by slowing dyn
            need = np.maximum(0.0, load - limit * HEADROOM)
            frac = 1.0 - need / np.maximum(dyn, 1e-9)
            return np.clip(frac, 0.0, 1.0) ** (1.0 / cexp)

        it_kw = float(rack_kw.sum())
        facility = it_kw * self.pue
        site = self.layout.site
        limit = site.envelope_kw if self.site_cap_kw is None else min(site.envelope_kw, self.site_cap_kw)
        dyn_kw = float(dyn_rack.sum())
        if facility > limit * HEADROOM and dyn_kw > 0:
            r = float(ratio(np.array(it_kw), np.array(dyn_kw), np.array(limit / self.pue)))
            self.site_clock = float(np.clip(self.site_clock * r, 0.2, 1.0))
            if self.now - self._limit_event > 300:
                self._limit_event = self.now
                self._event("warning", "site", f"facility {facility / 1000:,.1f} MW at the {limit / 1000:,.1f} MW limit: "
                                               f"GPU clocks lowered to {self.site_clock:.0%}")
        elif facility < limit * HEADROOM * 0.97 and self.site_clock < 1.0:
            self.site_clock = min(1.0, self.site_clock * CLOCK_RECOVERY)
        rack_clock = np.full(n_r, self.site_clock)
        capped = np.isfinite(self.rack_cap_kw)
        if capped.any():
            prev = self._rack_cap_clock
            over = rack_kw > self.rack_cap_kw * HEADROOM
            room = rack_kw < self.rack_cap_kw * HEADROOM * 0.97
            rc = np.where(over, prev * ratio(rack_kw, dyn_rack, self.rack_cap_kw), np.where(room, np.minimum(1.0, prev * CLOCK_RECOVERY), prev))
            self._rack_cap_clock = np.where(capped, np.clip(rc, 0.2, 1.0), 1.0)
            rack_clock = np.minimum(rack_clock, self._rack_cap_clock)
        pcap = np.isfinite(self.pdu_cap_kw)
        if pcap.any():
            n_p = len(self.pdu_ids)
            alive = self.rack_pdu_alive
            dshare = dyn_rack / np.maximum(alive.sum(axis=1), 1)
            pdu_dyn = (np.bincount(np.where(alive[:, 0], self.rack_pdus[:, 0], n_p), weights=dshare, minlength=n_p + 1)[:n_p]
                       + np.bincount(np.where(alive[:, 1], self.rack_pdus[:, 1], n_p), weights=dshare, minlength=n_p + 1)[:n_p])
            prev = self._pdu_cap_clock
            over = self.pdu_load > self.pdu_cap_kw * HEADROOM
            room = self.pdu_load < self.pdu_cap_kw * HEADROOM * 0.97
            pc = np.where(over, prev * ratio(self.pdu_load, pdu_dyn, self.pdu_cap_kw), np.where(room, np.minimum(1.0, prev * CLOCK_RECOVERY), prev))
            self._pdu_cap_clock = np.where(pcap, np.clip(pc, 0.2, 1.0), 1.0)
            per_rack = np.ones(n_r)
            for j in range(2):
                m = self.rack_pdus[:, j] >= 0
                per_rack[m] = np.minimum(per_rack[m], self._pdu_cap_clock[self.rack_pdus[m, j]])
            rack_clock = np.minimum(rack_clock, per_rack)
        return rack_clock

