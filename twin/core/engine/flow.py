"""The serving half of a tick: health → clocks → arrivals → routing → enqueue → admission →
KV handoff → decode. Each stage is a method over the replica arrays and a per-tick
scratch ``k`` (a ``TickVars``) that carries what later stages need; the factory's
``_tick`` lists the stages in order.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from twin.core.engine import plan as P
from twin.core.engine.flow_kernel import serve_rows
from twin.core.engine.metrics import _MIDS, HIST_BUCKETS, N_COUNTS
from twin.core.engine.routing import POLICIES, POLICY_CODES, View, route_all

#: A co-located replica's prefill budget per tick (``plan.PREFILL_TIME_SHARE``).
PREFILL_TIME_SHARE = P.PREFILL_TIME_SHARE
#: A client gives up on a request that has waited this many times its class's TTFT SLO
#: for a first token (at least CLIENT_TIMEOUT_MIN_S): tens of seconds for chat, a few
#: minutes for slower classes. Serving stacks and clients both time out; without it a
#: long incident would queue requests for tens of minutes.
CLIENT_TIMEOUT_SLO_MULTIPLE = 20.0
CLIENT_TIMEOUT_MIN_S = 30.0


def client_timeout_s(slo_ttft_s):
    return np.maximum(
        CLIENT_TIMEOUT_MIN_S, CLIENT_TIMEOUT_SLO_MULTIPLE * np.asarray(slo_ttft_s, dtype=float)
    )


def burst_counts(rng: np.random.Generator, mean: np.ndarray, burst: np.ndarray) -> np.ndarray:
    """Arrivals in a window of mean ``mean`` per class, with variance ``mean · burst²``."""
    return np.array(burst_draws(rng, mean.tolist(), burst.tolist()))


def burst_draws(rng: np.random.Generator, m: list[float], b: list[float]) -> list[float]:
    """``burst_counts`` over plain floats, drawn one value at a time (a fifth of numpy's
    array-call overhead for a handful of classes)."""
    mod = [1.0] * len(m)
    for c, (x, cv) in enumerate(zip(m, b, strict=True)):
        if cv > 1.0 and x > 0:
            kshape = x / (cv * cv - 1.0)
            mod[c] = rng.gamma(kshape, 1.0 / kshape)
    return [
        float(rng.gamma(x / (cv * cv), cv * cv))
        if cv < 1.0 and x > 0
        else float(rng.poisson(x * f))
        for x, cv, f in zip(m, b, mod, strict=True)
    ]


#: ``flow_kernel.serve_rows``' fixed inputs (built with the replicas), in the order it
#: unpacks them: float64 arrays, then int64 ones (``NORM_GRID``, ``MIDS``: module tables).
SERVE_FLOATS = (
    "cls_prompt", "cls_reusable", "cls_followup", "cls_timeout", "cls_slo_ttft",
    "cls_slo_tpot", "cls_kv_bytes_per_token", "sess_kv_tok", "sess_pause", "len_kingman",
    "_len_cumw", "dep_kv_bpt", "NORM_GRID", "prof_tdec", "prof_ud", "_tpf_flat", "_pfu_flat",
    "pf_grid", "len_isl_d", "len_w", "MIDS", "_len_ones", "_len_eps2_flat", "len_g",
    "len_osl", "len_z", "_len_zeros", "_len_tpot_w2", "prof_mixq", "_tmix_flat", "_umix_flat",
)  # fmt: skip
SERVE_INTS = ("cls_dep", "cls_slot", "dep_slot_cls", "rep_prof", "len_rep")


def pack(arrays: list[np.ndarray], dtype) -> tuple[np.ndarray, np.ndarray]:
    """Arrays of one dtype as one flat buffer and a table of (offset, shape...) per array
    (``flow_kernel._v1``.. ``_v3`` take them out again, as views)."""
    tab = np.ones((len(arrays), 4), dtype=np.int64)
    off = 0
    for i, a in enumerate(arrays):
        tab[i, 0] = off
        tab[i, 1 : 1 + a.ndim] = a.shape
        off += a.size
    flat = [np.ascontiguousarray(a, dtype=dtype).ravel() for a in arrays]
    return np.concatenate([*flat, np.zeros(0, dtype)]), tab


class TickVars(SimpleNamespace):
    """One tick's intermediate values, passed from stage to stage (never kept)."""


class Flow:
    STATE_FLOW = ("policy", "surge", "class_surge", "_cls_tick_rate", "_cls_shed_rate")
    NORM_GRID, MIDS = P.NORM_GRID, _MIDS  # for SERVE_FLOATS

    def _replicas_down(self) -> np.ndarray:
        """Replicas that cannot run now: a rack of theirs is down, or a node of theirs failed."""
        rack_down = self._rack_down()
        if self.multi_rack:
            rep_down = np.zeros(len(self.rep_dep), bool)
            np.logical_or.at(rep_down, self.span_rep, rack_down[self.span_rack])
        else:
            rep_down = rack_down[self.rep_rack]
        for (rk, node), cnt in self.node_faults.items():
            if cnt > 0:
                rep_down[self.node_reps.get((rk, node), [])] = True
        return rep_down

    def _serving_masks(self) -> tuple[np.ndarray, np.ndarray, bool, np.ndarray]:
        """Which replicas are up and which accept new requests (and whether any does not,
        and each prefill replica's leaf bandwidth, -1 elsewhere),
        from health, drains, sheds and the fabric: recomputed only when one of them changed
        or the replicas were rebuilt. Commands, due records and breakers change health,
        drains and the fabric (each bumps ``_input_v``); the tick's own power and cooling
        change the sheds and thermal shutdowns (their values are in the key)."""
        key = (self._input_v, self.rack_tripped.tobytes(), self.rack_shed.tobytes(), self.site_shed)
        c = self._masks_cache
        if c is not None and c[0] is self.rep_rack and c[1] == key:
            return c[2]
        up = self.rep_enabled & ~self._replicas_down()
        shed = (self.rep_shed_rank < self.site_shed) | (
            self.rep_rack_rank < self.rack_shed[self.rep_rack]
        )
        drained = self.rack_drained[self.rep_rack] | shed
        accepting = up & ~drained
        kvk = self._no_kv_key
        if self._has_disagg:  # a prefill replica whose leaf has lost every uplink cannot ship KV
            pf = self.rep_role == P.ROLE_PREFILL
            leaf = self._leaf_bw()[self.rack_leaf[self.rep_rack]]
            accepting &= ~(pf & (leaf <= 0))
            kvk = np.where(pf, leaf, -1.0)  # rows.py: replicas behind other links apart
        masks = (up, accepting, bool((~accepting).any()), kvk)
        self._masks_cache = (self.rep_rack, key, masks)
        return masks

    def _serving_health(self, k: TickVars) -> None:
        """Which replicas serve this tick and which accept new requests."""
        k.up, k.accepting, k.blocked, k.kvk = self._serving_masks()

    def _rows(self, k: TickVars) -> None:
        """Rows split and merge for this tick (``rows.py``), each row's inputs are its first
        replica's, and requests on replicas that just went down or stopped accepting go:
        running ones fail, queued ones are retried elsewhere."""
        self._regroup(k.up, k.accepting, k.clock, k.slow, k.kvk)
        rr = self.row_rep
        g = self._row_inputs
        if not (
            g is not None and g[0] is rr and g[1] is k.up and g[2] is k.accepting
            and g[3] is k.clock and g[4] is k.slow
        ):  # fmt: skip
            # the inputs (cached per health and clock state) and the rows are the same
            # objects as last tick's: so are their gathers (which nothing writes to)
            g = self._row_inputs = (
                rr, k.up, k.accepting, k.clock, k.slow,
                k.up[rr], k.accepting[rr], k.clock[rr], k.cw[rr], k.slow[rr],
            )  # fmt: skip
        k.up_r, k.acc_r, k.clock_r, k.cw_r, k.slow_r = g[5:]
        k.counts = np.zeros((N_COUNTS, self.n_cls))
        k.retried = False
        if self.rep_up is not k.up:
            newly_down = self.rep_up[rr] & ~k.up_r
            if newly_down.any():
                self._lose_rows(k, newly_down)
        self.rep_up = k.up
        if k.blocked:  # drained, cut off or down: their queued requests go elsewhere
            stuck = ~k.acc_r & (self.q_cnt > 0).any(axis=1)  # any slot, not just the head
            if stuck.any():
                self._retry_rows(k, stuck)
        if not k.retried:
            k.retry = k.retry_t = self._zeros_cls

    def _lose_rows(self, k: TickVars, newly_down: np.ndarray) -> None:
        """Rows whose replicas just went down: running requests fail, queued ones retry."""
        w = self.row_w
        self._retry_rows(k, newly_down)
        k.counts[3] += self._per_class(
            self.run[newly_down] * w[newly_down][:, None], self.rw_slot_cls0[newly_down]
        )  # running requests are lost
        self.run[newly_down] = 0.0
        dropped = int(k.counts[3].sum())
        if dropped:
            self._event(
                "warning",
                "serving",
                f"{int(w[newly_down].sum())} replicas lost; {dropped:,} running requests "
                f"failed, {int(k.retry.sum()):,} queued retried elsewhere",
            )

    def _retry_rows(self, k: TickVars, rows: np.ndarray) -> None:
        """The queued requests of ``rows`` go to be routed again this tick."""
        n, tsum = self._take_queued(rows)
        if k.retried:
            n, tsum = k.retry + n, k.retry_tsum + tsum
        k.retry, k.retry_tsum, k.retried = n, tsum, True
        # retried requests keep their first arrival (per class, the mean of theirs): the
        # client's timeout and their TTFT count from it, not from the retry
        k.retry_t = tsum / np.maximum(n, 1e-300)

    def _take_queued(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Empty the queues of ``rows`` (a mask); their requests per class (each row's
        counted ``row_w`` times), to be retried elsewhere, and the sum of their arrival
        times per class."""
        cls, n = self.q_cls[rows].ravel(), (self.q_cnt[rows] * self.row_w[rows][:, None]).ravel()
        per_class = np.bincount(cls, weights=n, minlength=self.n_cls)
        t_sum = np.bincount(cls, weights=n * self.q_t[rows].ravel(), minlength=self.n_cls)
        self.q_cnt[rows] = 0.0
        return per_class, t_sum

    def _clocks(self, k: TickVars) -> None:
        """Each replica's clock (caps, throttling) and straggler slowdown (recomputed only
        when a cap, a throttle or a straggler changed: stragglers and NVLink by commands
        and due records, which bump ``_input_v``)."""
        cap = self.cap_clock  # full clocks are one array nothing writes to (power.py)
        key = (
            self._input_v, None if cap is self._full_clock else cap.tobytes(),
            self.throttled.tobytes(),
        )  # fmt: skip
        c = self._clocks_cache
        if c is None or c[0] is not self.rep_rack or c[1] != key:
            rack_clock = np.minimum(
                self.cap_clock, np.where(self.throttled, float(self.k["throttle_clock"]), 1.0)
            )
            clock = rack_clock[self.rep_rack]
            comm = float(self.k["nvlink_comm_share"])
            slow = self.rack_slow[self.rep_rack] * (
                (1 - comm) + comm / np.maximum(self.rack_nvlink[self.rep_rack], 0.05)
            )
            for sk, factor in self.node_slow.items():  # a replica runs at its slowest node's pace
                reps = self.node_reps.get(sk, [])
                slow[reps] = np.maximum(slow[reps], factor)
            c = self._clocks_cache = (self.rep_rack, key, clock, P.clock_weight(clock), slow)
        k.clock, k.cw, k.slow = c[2], c[3], c[4]

    def _arrivals(self, k: TickVars) -> None:
        """Each class's requests this tick. ``burstiness`` c is the coefficient of variation
        of inter-arrival times, so a window of T seconds holds λT requests with variance
        λT·c² (a renewal process's counts): c > 1 mixes the Poisson mean with a gamma of
        shape λT/(c² − 1) (a negative binomial), c < 1 draws a gamma of that mean and
        variance. Either way the spread of demand over any window is the tick's own: a
        1 s and a 5 s tick see the same burstiness (a gamma of fixed CV c − 1 per tick made
        a 1,000-request/s class swing ±30 % from one second to the next). The draws are
        made one value at a time, in plain floats (``burst_draws``)."""
        surge, dt = self.surge, self.dt
        lam = [
            r * d * surge * s
            for r, d, s in zip(
                self._cls_rate_list, self._diurnal(self.now), self.class_surge.tolist(),
                strict=True,
            )
        ]  # fmt: skip
        fresh = burst_draws(self.rng_arrivals, [x * dt for x in lam], self._cls_burst_list)
        k.counts[5] = fresh
        if k.retried:  # retries are routed again, but arrived once
            k.arrivals = k.counts[5] + k.retry
            k.retry_frac = k.retry / np.maximum(k.arrivals, 1e-300)
        else:
            k.arrivals, k.retry_frac = k.counts[5].copy(), self._zeros_cls
        self._cls_tick_rate = np.array(lam)

    def _serve(self, k: TickVars) -> None:
        """Routing, admission, the KV handoff and decode, in one compiled call
        (``flow_kernel.serve_rows``): each class's arrivals split over its deployment's
        accepting replicas; new cohorts join each replica's FIFO, clients give up on the
        ones waiting past their timeout, FIFO admission within KV room and the prefill
        time budget (TTFT, spread over prompt lengths); disaggregated deployments hand
        admitted requests to their decode replicas across the fabric; decode steps in the
        time the tick leaves, completions, TPOT (spread over output lengths), SLO counts
        and each replica's power activity."""
        n_row = len(self.row_w)
        sc = self._serve_scratch
        if sc is None or sc[0] != n_row or sc[1].shape[1] != self.n_slot:
            sc = self._serve_scratch = self._new_scratch(n_row)
        _, k.add, k.tok_req, k.B, load, ttft, tpot, k.dyn_full, k.pf_tokens, t_dec_prev = sc
        code = POLICY_CODES.get(self.policy, -1)
        route = code >= 0
        if not route:  # a policy written in Python (``routing.POLICIES``), class by class
            self._route_python(k, load, code)
        first = self._t_dec_last is None
        if not first:
            t_dec_prev = self._t_dec_last
        kv_on = self._has_disagg and len(self.link_ids) > 0
        if kv_on:  # KV of prefill replicas crosses the fabric (fabric.py)
            kv_base, kv_pf = self._kv_links()
            _, healthy, capacity = self._leaf_bw_cache
            link_out = np.empty(len(self.link_ids))
        else:
            kv_base, kv_pf = self._no_kv_key, self._no_kv_pf
            healthy, capacity, link_out = self.link_load, 0.0, self.link_load
        self._t_dec_last = np.empty(n_row)
        self.row_out_s, self.row_user_s = np.empty(n_row), np.empty(n_row)
        self.row_util = np.empty(n_row)  # power.py
        pk = self._serve_pack
        if pk is None or pk[0] is not self.rep_prof:  # built with the replicas
            pk = self._serve_pack = (
                self.rep_prof, *pack([getattr(self, n) for n in SERVE_FLOATS], np.float64),
                *pack([getattr(self, n) for n in SERVE_INTS], np.int64),
            )  # fmt: skip
        k.out_tokens, xfer_gb_s = serve_rows(
            route, code, self.now - self.dt, self.dt, PREFILL_TIME_SHARE, first,
            self._has_disagg, self._has_sessions, k.arrivals, k.retry_frac, k.retry_t,
            self._cls_tick_rate, pk[1], pk[2], pk[3], pk[4],
            len(self.dep_ids), self.rw_dep_ptr, self.rw_dep_idx,
            k.cw, k.slow, kv_on, kv_base, kv_pf, self.link_load,
            self._kv_lat, healthy, capacity, link_out,
            self.row_rep, self.row_w, self.rw_role, self.rw_dep, self.rw_prof, self.rw_bmax,
            self.rw_bslo, self.rw_qcap, self.rw_eff, self.rw_tps, self.rw_dyn_w,
            self.rw_cap_tok_s, self.rw_kv_tokens, self.rw_slot_cls, self.rw_slot_cls0,
            self.rw_slot_osl, self.rw_eps_row, self.rw_m2_slot,
            k.up_r, k.acc_r, k.clock_r, k.cw_r, k.slow_r,
            self.run, self.q_cnt, self.q_t, self.q_tok, self.q_cls, t_dec_prev,
            self._t_dec_last, self._tau_last, self._pf_rho, self.row_out_s, self.row_user_s,
            self.chunk, self._pf_scale, self._power_gamma, self._len_any_isl,
            k.counts, k.add, k.tok_req, k.B, load, ttft, tpot, k.dyn_full, self.row_util,
            k.pf_tokens,
        )  # fmt: skip
        self._cls_shed_rate = k.counts[2] / self.dt
        if kv_on:
            self.link_load = link_out
        else:
            self._fabric_load(0.0)
        k.pf_total = float(k.pf_tokens @ self.row_w)
        k.ttft, k.tpot = ttft, tpot  # metrics.py: into their windows

    def _new_scratch(self, n_row: int) -> tuple:
        """``_serve``'s scratch arrays for ``n_row`` rows: written in full by each tick
        before any is read, read by nothing after the tick (kept until the rows change)."""
        n_cls = self.n_cls
        return (
            n_row, np.empty((n_row, self.n_slot)), np.empty(n_cls), np.empty(n_row),
            np.empty(n_row), np.empty((n_cls, HIST_BUCKETS)), np.empty((n_cls, HIST_BUCKETS)),
            np.empty(n_row), np.empty(n_row), np.empty(n_row),
        )  # fmt: skip

    def _route_python(self, k: TickVars, load: np.ndarray, code: int) -> None:
        """A policy written in Python sees one entry per replica; a row gets its replicas'
        mean share (identical replicas, so a policy that treats them alike loses nothing).
        ``routing.route_all`` first sets each row's load, batch and prompt tokens and
        counts the arrivals with no replica up."""
        survive = self._prefix_survival(k.up_r, self._cls_tick_rate)  # sessions.py
        route_all(
            code, survive, k.arrivals, self.cls_dep, self.cls_slot, self.cls_prompt,
            self.cls_reusable, self.cls_followup, self.rw_dep_ptr, self.rw_dep_idx, self.run,
            self.q_cnt, self.rw_bslo, self.rw_qcap, self.rw_eff, k.clock_r, k.slow_r,
            k.acc_r, self.rw_role, self.row_w, k.counts, k.add, k.tok_req, k.B, load,
        )  # fmt: skip
        for c, d in enumerate(self.cls_dep):
            rows = self.rw_dep_idx[self.rw_dep_ptr[d] : self.rw_dep_ptr[d + 1]]
            rows = rows[k.acc_r[rows] & (self.rw_role[rows] != P.ROLE_DECODE)]
            n = k.arrivals[c]
            if n > 0 and len(rows):
                rows = np.sort(rows)
                w = self.row_w[rows].astype(int)
                reps = np.repeat(rows, w)
                view = View(load[reps], self.rw_qcap[reps], self.rw_eff[reps], k.clock_r[reps])
                share = POLICIES[self.policy](view, n) * n
                k.add[rows, self.cls_slot[c]] = np.add.reduceat(share, np.cumsum(w) - w) / w
