"""The serving half of a tick: health → clocks → arrivals → routing → enqueue → admission →
KV handoff → decode. Each stage is a method over the replica arrays and a per-tick
scratch ``k`` (a ``TickVars``) that carries what later stages need; the factory's
``_tick`` lists the stages in order.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from twin.core.engine import plan as P
from twin.core.engine.metrics import HIST_BUCKETS, N_COUNTS, bucket
from twin.core.engine.replicas import QUEUE_SLOTS
from twin.core.engine.routing import POLICIES, View
from twin.core.engine.sessions import KV_ROUTE_HIT

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


class TickVars(SimpleNamespace):
    """One tick's intermediate values, passed from stage to stage (never kept)."""


class Flow:
    STATE_FLOW = ("policy", "surge", "class_surge", "_cls_tick_rate", "_cls_shed_rate")

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

    def _serving_health(self, k: TickVars) -> None:
        """Which replicas serve this tick; requests on replicas that just went down."""
        up = self.rep_enabled & ~self._replicas_down()
        newly_down = self.rep_up & ~up
        counts = np.zeros((N_COUNTS, self.n_cls))
        retry = np.zeros(self.n_cls)
        if newly_down.any():
            retry = np.bincount(
                self.q_cls[newly_down].ravel(),
                weights=self.q_cnt[newly_down].ravel(),
                minlength=self.n_cls,
            )
            counts[3] += self._per_class(
                self.run[newly_down], self._slot_cls0[newly_down]
            )  # running requests are lost
            self.q_cnt[newly_down] = 0.0
            self.run[newly_down] = 0.0
            dropped = int(self.run[newly_down].sum() + counts[3].sum())
            if dropped:
                self._event(
                    "warning",
                    "serving",
                    f"{int(newly_down.sum())} replicas lost; {dropped:,} running requests failed, "
                    f"{int(retry.sum()):,} queued retried elsewhere",
                )
        self.rep_up = up
        shed = (self.rep_shed_rank < self.site_shed) | (
            self.rep_rack_rank < self.rack_shed[self.rep_rack]
        )
        drained = self.rack_drained[self.rep_rack] | shed
        accepting = up & ~drained
        stuck = ~accepting & (
            self.q_cnt[:, 0] > 0
        )  # drained (or cut off): queued requests go elsewhere
        if self._has_disagg:  # a prefill replica whose leaf has lost every uplink cannot ship KV
            cut = (self.rep_role == P.ROLE_PREFILL) & (
                self._leaf_bw()[self.rack_leaf[self.rep_rack]] <= 0
            )
            accepting &= ~cut
            stuck |= cut & (self.q_cnt[:, 0] > 0)
        if stuck.any():
            retry += np.bincount(
                self.q_cls[stuck].ravel(), weights=self.q_cnt[stuck].ravel(), minlength=self.n_cls
            )
            self.q_cnt[stuck] = 0.0
        k.up, k.counts, k.retry, k.accepting = up, counts, retry, accepting

    def _clocks(self, k: TickVars) -> None:
        """Each replica's clock (caps, throttling) and straggler slowdown."""
        rack_clock = np.minimum(
            self.cap_clock, np.where(self.throttled, float(self.k["throttle_clock"]), 1.0)
        )
        k.clock = rack_clock[self.rep_rack]
        k.cw = P.clock_weight(k.clock)
        comm = float(self.k["nvlink_comm_share"])
        slow = self.rack_slow[self.rep_rack] * (
            (1 - comm) + comm / np.maximum(self.rack_nvlink[self.rep_rack], 0.05)
        )
        for key, factor in self.node_slow.items():  # a replica runs at its slowest node's pace
            reps = self.node_reps.get(key, [])
            slow[reps] = np.maximum(slow[reps], factor)
        k.slow = slow

    def _arrivals(self, k: TickVars) -> None:
        lam = self.cls_rate * self._diurnal(self.now) * self.surge * self.class_surge
        burst = self.cls_burst
        mod = np.ones(self.n_cls)
        bursty = burst > 1.0
        if bursty.any():
            kshape = 1.0 / np.square(burst[bursty] - 1.0)
            mod[bursty] = self.rng_arrivals.gamma(kshape, 1.0 / kshape)
        k.arrivals = self.rng_arrivals.poisson(lam * self.dt * mod).astype(float) + k.retry
        k.counts[5] = k.arrivals
        self._cls_tick_rate = lam

    def _route(self, k: TickVars) -> None:
        """Split each class's arrivals over its deployment's accepting replicas."""
        n_rep = len(self.rep_dep)
        B = self.run.sum(axis=1)
        qsum = self.q_cnt.sum(axis=1)
        # load: running over the SLO-knee batch, plus queued work over what the replica
        # prefills within half the TTFT SLO (a long queue is what breaks TTFT)
        load = B / self.rep_bslo + qsum / self.rep_qcap
        add = np.zeros((n_rep, self.n_slot))
        tok_req = np.zeros(self.n_cls)
        shed_c = np.zeros(self.n_cls)
        arrivals, accepting, clock, slow = k.arrivals, k.accepting, k.clock, k.slow
        survive = self._prefix_survival(B, k.up, self._cls_tick_rate)  # sessions.py
        for c, sh in enumerate(self.shapes):
            idx = self.dep_reps[sh.deployment]
            idx = idx[accepting[idx] & (self.rep_role[idx] != P.ROLE_DECODE)]
            n_up = len(idx)
            hit = survive[c] * (
                (KV_ROUTE_HIT * (n_up / max(1, len(self.dep_reps[sh.deployment]))))
                if self.policy == "kv-aware"
                else 1.0 / max(n_up, 1)
            )
            tok_req[c] = max(
                1.0, sh.prompt_tokens - hit * sh.reusable_tokens * sh.followup_fraction
            )
            if arrivals[c] <= 0:
                continue
            if n_up == 0:
                k.counts[3, c] += arrivals[c]
                continue
            view = View(
                load[idx], self.rep_qcap[idx], self.rep_eff[idx], clock[idx]
            )  # arrivals join the queue
            share = POLICIES[self.policy](view, arrivals[c]) * arrivals[c]
            if self.policy == "slo-aware":
                # admit only what the replica can prefill within the TTFT SLO: q_cap is
                # what it drains in half of it (capacity, not recent admissions, so
                # shedding never feeds on itself)
                room_q = np.maximum(0.0, self.rep_qcap[idx] * clock[idx] / slow[idx] - qsum[idx])
                kept = np.minimum(share, room_q)
                shed_c[c] = float((share - kept).sum())
                share = kept
            add[idx, self.cls_slot[c]] = share
        k.counts[2] = shed_c
        self._cls_shed_rate = shed_c / self.dt
        k.B, k.add, k.tok_req = B, add, tok_req

    def _enqueue(self, k: TickVars) -> None:
        """One cohort per (replica, class) with arrivals joins the replica's FIFO."""
        Q, t0, add = QUEUE_SLOTS, self.now - self.dt, k.add
        qlen = (self.q_cnt > 1e-12).sum(axis=1)
        rows, slot = np.nonzero(add > 0)
        if len(rows):
            cls = self.rep_slot_cls[rows, slot]
            # order of the new cohorts within a replica (one per slot with arrivals)
            rank = (
                np.cumsum(add > 0, axis=1)[rows, slot] - 1
                if self.n_slot > 1
                else np.zeros(len(rows), dtype=int)
            )
            pos = np.minimum(qlen[rows] + rank, Q - 1)
            full = (qlen[rows] + rank) >= Q
            new_n = add[rows, slot]
            if full.any():  # a full queue merges its newest cohorts into the last slot
                for r, c, n, p_ in zip(rows[full], cls[full], new_n[full], pos[full], strict=True):
                    old = self.q_cnt[r, p_]
                    tot = old + n
                    self.q_t[r, p_] = (self.q_t[r, p_] * old + t0 * n) / tot
                    self.q_tok[r, p_] = (self.q_tok[r, p_] * old + k.tok_req[c] * n) / tot
                    self.q_cnt[r, p_] = tot
                keep = ~full
                rows, cls, pos, new_n = rows[keep], cls[keep], pos[keep], new_n[keep]
            self.q_t[rows, pos] = t0
            self.q_tok[rows, pos] = k.tok_req[cls]
            self.q_cls[rows, pos] = cls
            self.q_cnt[rows, pos] = new_n
            np.add.at(qlen, rows, 1)
            np.minimum(qlen, Q, out=qlen)
        k.qlen = qlen

    def _admit(self, k: TickVars) -> None:
        """FIFO admission over cohorts within KV room and the prefill time budget; TTFT."""
        dt, t0, n_rep = self.dt, self.now - self.dt, len(self.rep_dep)
        cw, slow, B = k.cw, k.slow, k.B
        t_dec = self._decode_time(B, cw) * slow if self._t_dec_last is None else self._t_dec_last
        role = self.rep_role
        self._abandon(k, t0)
        budget = np.where(
            role == P.ROLE_PREFILL,
            dt,
            np.where(role == P.ROLE_DECODE, 0.0, dt * PREFILL_TIME_SHARE),
        )
        budget = np.where(k.accepting, budget, 0.0)
        room = np.where(
            role == P.ROLE_PREFILL, self._prefill_room(k), np.maximum(0.0, self.rep_bmax - B)
        )
        # only where a queue exists
        A = np.flatnonzero(self.q_cnt[:, 0] > 1e-12)
        qc, qt, qk, cls0 = self.q_cnt[A], self.q_t[A], self.q_tok[A], self.q_cls[A]
        tok = qc * qk
        # prompt tokens the budget buys, in steps of the size the waiting prompts form
        q_n = qc.sum(axis=1)
        avail = tok.sum(axis=1) * np.minimum(1.0, room[A] / np.maximum(q_n, 1e-12))
        g = self._pf_group(avail, tok.sum(axis=1) / np.maximum(q_n, 1e-12), A)
        pos = self._pf_pos(g)
        step_g = self._pf_step(g, cw[A], A, pos)
        t_allow = budget[A] / slow[A] * g / step_g
        cum_n = np.cumsum(qc, axis=1)
        cum_t = np.cumsum(tok, axis=1)
        take = np.minimum(
            room[A, None] - (cum_n - qc), (t_allow[:, None] - (cum_t - tok)) / np.maximum(qk, 1.0)
        )
        take = np.clip(take, 0.0, qc)
        pf_tokens, pf_time = np.zeros(n_rep), np.zeros(n_rep)
        pf_tokens[A] = (take * qk).sum(axis=1)
        pf_time[A] = pf_tokens[A] / g * step_g * slow[A]  # fluid: a share of a step
        pf_u = np.zeros(n_rep)
        pf_u[A] = self._pf_activity(A, pos)
        adm = np.zeros((n_rep, self.n_slot))
        ttft_ok = np.zeros_like(take, dtype=bool)
        has = take > 1e-12
        if has.any():
            own = self._prompt_time(qk[:, 0], cw[A], A) * slow[A]  # one head-of-queue prompt
            ttft = (t0 - qt) + (t_dec[A] / 2 + 0.5 * pf_time[A] + 0.5 * own)[:, None]
            if self._has_disagg and len(self.link_ids):  # KV of prefill replicas crosses the fabric
                ttft = ttft + self._kv_transfer_s(k.tok_req, A, cls0)
            # lengths.py: each request's own prompt moves its TTFT off the cohort's
            shift = self._ttft_shift(k.tok_req, cw, slow)
            t_h, c_h = ttft[has], cls0[has]
            ttft_ok = np.zeros(ttft.shape)
            ttft_ok[has] = self._ttft_ok_share(t_h, c_h, shift)
            hist = np.bincount(
                c_h * HIST_BUCKETS + bucket(t_h),
                weights=take[has],
                minlength=self.n_cls * HIST_BUCKETS,
            )
            self.w_ttft.push(self._spread_ttft(hist.reshape(self.n_cls, HIST_BUCKETS), shift))
            if self.n_slot == 1:
                adm[A, 0] = take.sum(axis=1)
            else:
                rows = np.broadcast_to(np.arange(len(A))[:, None], take.shape)
                adm[A] = np.bincount(
                    (rows * self.n_slot + self.cls_slot[cls0]).ravel(),
                    weights=take.ravel(),
                    minlength=len(A) * self.n_slot,
                ).reshape(len(A), self.n_slot)
        else:
            self.w_ttft.push(np.zeros((self.n_cls, HIST_BUCKETS)))
        self.q_cnt[A] = qc - take
        self._compact_queues(A)
        k.A, k.take, k.cls0, k.has, k.ttft_ok = A, take, cls0, has, ttft_ok
        k.pf_tokens, k.pf_time, k.pf_u, k.adm = pf_tokens, pf_time, pf_u, adm

    def _abandon(self, k: TickVars, t0: float) -> None:
        """Clients give up on requests queued longer than their class's timeout: the oldest
        cohorts at the head of each FIFO go, counted as abandoned."""
        live = self.q_cnt > 1e-12
        if not live[:, 0].any():
            return
        expired = np.logical_and.accumulate(
            live & ((t0 - self.q_t) > self.cls_timeout[self.q_cls]), axis=1
        )
        if not expired.any():
            return
        k.counts[6] += np.bincount(
            self.q_cls[expired], weights=self.q_cnt[expired], minlength=self.n_cls
        )
        self.q_cnt[expired] = 0.0
        self._compact_queues(np.flatnonzero(expired[:, 0]))

    def _prefill_room(self, k: TickVars) -> np.ndarray:
        """Requests each prefill replica may take this tick: a disaggregated deployment's
        decode replicas admit handoffs only while they have KV room, so a full decode
        pool backs up prefill (its queue, hence TTFT, grows; then clients give up)."""
        room = self.rep_bmax.copy()
        if not self._has_disagg:
            return room
        role, up = self.rep_role, k.up
        for idx in self.dep_reps:
            pre = idx[role[idx] == P.ROLE_PREFILL]
            if not len(pre):
                continue
            dec = idx[(role[idx] == P.ROLE_DECODE) & up[idx]]
            free = float(np.maximum(0.0, self.rep_bmax[dec] - k.B[dec]).sum())
            n_pf = max(1, int(k.accepting[pre].sum()))
            room[pre] = np.minimum(self.rep_bmax[pre], free / n_pf)
        return room

    def _handoff(self, k: TickVars) -> None:
        """Admitted requests start decoding: in place, or (disaggregated) on the deployment's
        decode replicas after their KV crosses the fabric."""
        role, adm, up = self.rep_role, k.adm, k.up
        agg = role == P.ROLE_AGG
        np.add(self.run, adm, out=self.run, where=agg[:, None])
        xfer_gb_s = 0.0
        if (role == P.ROLE_PREFILL).any():
            for d, idx in enumerate(self.dep_reps):
                pre = idx[role[idx] == P.ROLE_PREFILL]
                if not len(pre):
                    continue
                handoff = adm[pre].sum(axis=0)  # per slot of this deployment
                slot_cls = self.dep_slot_cls[d]
                dec = idx[(role[idx] == P.ROLE_DECODE) & up[idx]]
                if not len(dec) or handoff.sum() <= 0:
                    k.counts[3] += self._per_class(
                        handoff[None, :], np.maximum(slot_cls, 0)[None, :]
                    )
                    continue
                tok_slot = np.where(slot_cls >= 0, k.tok_req[np.maximum(slot_cls, 0)], 0.0)
                kv_gb = (
                    float((handoff * tok_slot).sum())
                    * self.profiles[self.rep_prof[pre[0]]].kv_bytes_per_token
                    / 1e9
                )
                xfer_gb_s += kv_gb / self.dt
                B, total = k.B, handoff.sum()
                share = (
                    POLICIES["least-loaded"](
                        View(
                            B[dec] / self.rep_bslo[dec],
                            self.rep_bslo[dec],
                            self.rep_eff[dec],
                            k.clock[dec],
                        ),
                        total,
                    )
                    * total
                )
                # never past a decode replica's KV room: the excess goes where room is left
                room = np.maximum(0.0, self.rep_bmax[dec] - self.run[dec].sum(axis=1))
                give = np.minimum(share, room)
                rest, spare = total - give.sum(), room - give
                if rest > 1e-9 and spare.sum() > 0:
                    give += spare * min(1.0, rest / spare.sum())
                self.run[dec] += (give / total)[:, None] * handoff[None, :]
        self._fabric_load(xfer_gb_s)

    def _decode(self, k: TickVars) -> None:
        """Decode steps in the time the tick leaves; completions, TPOT and SLO counts."""
        dt, role, up = self.dt, self.rep_role, k.up
        B2 = self.run.sum(axis=1)
        t_dec2 = self._decode_time(B2, k.cw) * k.slow
        self._t_dec_last = t_dec2
        left = np.where(role == P.ROLE_PREFILL, 0.0, np.maximum(0.0, dt - k.pf_time))
        left = np.where(up, left, 0.0)
        steps = np.where(B2 > 0, left / t_dec2, 0.0)
        # a co-located replica gets a chance to prefill once per decode step: the next tick
        # groups its waiting prompts by this spacing (an idle one prefills each on arrival)
        self._tau_last = np.where(steps > 0, dt / np.maximum(steps, 1e-12), 0.0)
        k.steps = steps
        per_req = steps * self.rep_tps  # output tokens each running request gains
        tpot = np.where(per_req > 0, dt / np.maximum(per_req, 1e-12), np.inf)
        # a request generates at most its OSL: one that finishes inside the tick stops
        # there, so output = completions × OSL whatever the tick (token conservation)
        gen = np.minimum(per_req[:, None], self.rep_slot_osl)
        out_rc = self.run * gen  # per replica and slot
        done = self.run * (gen / self.rep_slot_osl)
        self.run -= done
        self.rep_out_s = out_rc.sum(axis=1) / dt
        self.rep_user_s = per_req / dt
        tp_ok = np.isfinite(tpot)
        if tp_ok.any() and out_rc.sum() > 0:
            rows = np.flatnonzero(tp_ok)
            b = bucket(tpot[rows])
            idx = (self._slot_cls0[rows] * HIST_BUCKETS + b[:, None]).ravel()
            hist = np.bincount(
                idx, weights=out_rc[rows].ravel(), minlength=self.n_cls * HIST_BUCKETS
            )
            hist = hist.reshape(self.n_cls, HIST_BUCKETS)
            self.w_tpot.push(self._spread_tpot(hist, out_rc, B2, k))  # lengths.py
        else:
            self.w_tpot.push(np.zeros((self.n_cls, HIST_BUCKETS)))
        # SLO: an admitted request meets it if its TTFT did and its replica's pace does
        dec_tpot = tpot
        if self._has_disagg:
            dec_tpot = tpot.copy()
            for idx in self.dep_reps:
                dmask = role[idx] == P.ROLE_DECODE
                if dmask.any():
                    pace = tpot[idx[dmask]]
                    fin = pace[np.isfinite(pace)]
                    dec_tpot[idx[~dmask]] = float(np.median(fin)) if len(fin) else np.inf
        met = np.zeros(self.n_cls)
        if k.has.any():
            tpot_ok = dec_tpot[k.A, None] <= self.cls_slo_tpot[k.cls0]
            met = np.bincount(
                k.cls0.ravel(), weights=(k.take * k.ttft_ok * tpot_ok).ravel(), minlength=self.n_cls
            )
        k.counts[0] = self._per_class(k.adm, self._slot_cls0)
        k.counts[1] = met
        k.counts[4] = self._per_class(out_rc, self._slot_cls0)
        self.w_counts.push(k.counts)
        k.B2, k.t_dec2, k.steps, k.out_rc = B2, t_dec2, steps, out_rc
