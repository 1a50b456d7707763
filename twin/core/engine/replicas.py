"""Replicas as rows of arrays: placement, queues of cohorts, running batches, step times.

``_build_replicas`` turns the plan (profiles and placements, ``plan.py``) into per-replica
arrays; it runs again after a swap, carrying over the queues and running requests of
replicas that still exist. The state (queues, running batches, last step times) is kept
per *row* of identical replicas (``rows.py``: ``rep_row`` maps a replica to its row).
The step-time functions interpolate the serving model's tables for every replica at once.
"""

from __future__ import annotations

import numpy as np

from twin.core.engine import plan as P
from twin.core.engine.power import liquid_cooled, min_clock
from twin.core.layout import rack_peak_kw

#: Queue slots (cohorts) per replica; a full queue merges the two cohorts of a class
#: closest in arrival (``kernel.push_cohort``). A backlog as long as a client's timeout
#: (30 s and more) spans 60 ticks of 0.5 s for each class of a deployment: 16 slots keep
#: its age resolved to a few seconds whatever the tick (4 merged everything past the
#: fourth cohort into one, whose mean age set when all of it was given up on).
QUEUE_SLOTS = 16


class Replicas:
    STATE_REPLICAS = (
        "q_cnt",
        "q_t",
        "q_tok",
        "q_cls",
        "run",
        "rep_enabled",
        "rep_up",
        "scale_to",
        "_t_dec_last",
        "_tau_last",
        "_pf_rho",
        "row_out_s",
        "row_user_s",
        "row_util",
    )

    def _rack_figures(self) -> None:
        """Per-rack figures of its current GPU SKU (refreshed after a swap)."""
        gpus = [self.catalog.gpu(s) for s in self.rack_sku]
        self.sku_idle_w = np.array([g.idle_w for g in gpus])
        self.sku_tdp_w = np.array([g.tdp_w for g in gpus])
        self.rack_peak_kw = np.array(
            [rack_peak_kw(g, n) for g, n in zip(gpus, self.rack_gpus, strict=True)]
        )
        self.rack_host_kw = np.maximum(
            0.0, self.rack_peak_kw - self.rack_gpus * self.sku_tdp_w / 1000.0
        )
        k = self.k
        self.rack_min_clock = np.array(
            [min_clock(g, k) for g in gpus]
        )  # a cap's floor: the boards' min power
        # cooling: liquid racks warm their coolant (kJ/K of it), air racks heat at the
        # catalog's rate per minute at full power; time constants in the constants file
        liquid = np.array([liquid_cooled(g, k) for g in gpus], dtype=bool)
        air_kj_per_k = self.rack_peak_kw * 60.0 / float(k["rack_heat_rate_c_per_min"])
        self.rack_heat_kj_per_k = np.where(
            liquid, float(k["liquid_rack_heat_kj_per_k"]), np.maximum(air_kj_per_k, 1e-9)
        )
        self.rack_cool_tau_s = np.where(
            liquid, float(k["liquid_cooldown_tau_s"]), float(k["rack_cooldown_tau_s"])
        )

    def _build_replicas(self, keep: dict | None = None) -> None:
        rates = [
            w.rate_rps * (w.agentic.steps_mean if w.agentic else 1.0) for w in self.layout.workloads
        ]
        profiles, places = P.place(
            self.layout,
            self.catalog,
            self.rack_sku,
            self.shapes,
            rates,
            [int(g) for g in self.rack_gpus],
        )
        self.profiles = profiles
        n = len(places)
        self.rep_dep = np.array([p.deployment for p in places], dtype=int)
        self.rep_prof = np.array([p.profile for p in places], dtype=int)
        self.rep_role = np.array([p.role for p in places], dtype=int)
        self.rep_rack = np.array([p.racks[0] for p in places], dtype=int)
        self.rep_gpus = np.array([profiles[p.profile].gpus for p in places], dtype=float)
        self.rep_bmax = np.array([profiles[p.profile].bmax for p in places])
        self.rep_bslo = np.array([profiles[p.profile].b_slo for p in places])
        # queued requests a replica prefills in time: within half its TTFT SLO, and at least
        # what one tick's prefill budget takes (what arrives in a tick is prefilled in it,
        # so a sub-second SLO must not shed what the replica keeps up with); a prefill-only
        # replica prefills the whole tick, a co-located one its budget's share of it
        share = np.where(self.rep_role == P.ROLE_PREFILL, 1.0, P.PREFILL_TIME_SHARE)
        ttft = np.array([profiles[p.profile].slo_ttft_s for p in places])
        prompt_s = np.array([profiles[p.profile].prompt_s for p in places])
        self.rep_qcap = np.maximum(1.0, share * np.maximum(0.5 * ttft, self.dt) / prompt_s)
        self.rep_cap_tok_s = np.array([profiles[p.profile].cap_tok_s for p in places])
        self.rep_tps = np.array([profiles[p.profile].tokens_per_step for p in places])
        self.rep_eff = np.array([profiles[p.profile].tok_per_joule for p in places])
        self.rep_key = [(p.deployment, p.racks, p.first_gpu) for p in places]
        # profile tables gathered for vectorised lookups (no per-profile loops in the tick)
        self.prof_tdec = np.stack([pr.t_dec for pr in profiles])  # (P, 2, G)
        wmem = float(self.k["power_mem_weight"])
        self.prof_ud = np.stack(
            [np.minimum(1.0, pr.dec_comp + wmem * pr.dec_mem) for pr in profiles]
        )  # (P, G) decode activity
        self.prof_tpf = np.stack([pr.t_pf for pr in profiles])  # (P, 2, PF_POINTS)
        self.prof_pfu = np.stack([pr.pf_u for pr in profiles])  # (P, PF_POINTS)
        self.chunk = float(profiles[0].chunk)
        self.pf_grid = P.pf_grid(profiles[0].chunk)
        self._pf_scale = (len(self.pf_grid) - 1) / np.log(self.chunk)
        self._tpf_flat = self.prof_tpf.ravel()
        self._pfu_flat = self.prof_pfu.ravel()
        # mixed steps (co-located chunked prefill): (P, 2, G, PF) and (P, G, PF), flattened
        self.prof_mixq = np.array([pr.mix_q for pr in profiles])
        self._tmix_flat = np.stack([pr.t_mix for pr in profiles]).ravel()
        self._umix_flat = np.stack([pr.u_mix for pr in profiles]).ravel()
        self._has_disagg = bool((self.rep_role == P.ROLE_PREFILL).any())
        self._no_kv_key = np.full(n, -1.0)  # rows.py: no replica's KV crosses the fabric
        self._no_kv_pf = np.zeros(n, bool)  # flow_kernel.py: none is a prefill replica
        # each replica's GPU power: idle, and what full activity adds at full clock
        self.rep_idle_w = self.sku_idle_w[self.rep_rack]
        self.rep_dyn_w = self.sku_tdp_w[self.rep_rack] - self.rep_idle_w
        self._capex_cache = None
        # spans: (replica, rack, share of its GPUs) for power attribution and rack state
        span_rep, span_rack, span_share = [], [], []
        self.node_reps: dict[tuple[int, int], list[int]] = {}
        for i, p in enumerate(places):
            g = profiles[p.profile].gpus
            for rk in p.racks:
                span_rep.append(i)
                span_rack.append(rk)
                span_share.append(1.0 / len(p.racks))
                gpn = self.catalog.gpu(self.rack_sku[rk]).gpus_per_node
                first = p.first_gpu if rk == p.racks[0] else 0
                last = min(first + g, int(self.rack_gpus[rk]))
                for node in range(first // gpn, (last - 1) // gpn + 1):
                    self.node_reps.setdefault((rk, node), []).append(i)
        self.span_rep, self.span_rack = (
            np.array(span_rep, dtype=int),
            np.array(span_rack, dtype=int),
        )
        self.span_share = np.array(span_share)
        self.multi_rack = bool(len(span_rep) > n)
        self.reps_per_rack = np.bincount(
            self.span_rack, weights=self.span_share, minlength=len(self.rack_ids)
        )
        self.dep_reps = [np.flatnonzero(self.rep_dep == d) for d in range(len(self.dep_ids))]
        # the same as flat arrays for the kernels: deployment d's replicas are
        # dep_idx[dep_ptr[d]:dep_ptr[d + 1]]
        self.dep_idx = np.concatenate([*self.dep_reps, np.zeros(0, dtype=np.int64)])
        self.dep_ptr = np.cumsum([0] + [len(x) for x in self.dep_reps]).astype(np.int64)
        self.cls_prompt = np.array([float(sh.prompt_tokens) for sh in self.shapes])
        self.cls_reusable = np.array([float(sh.reusable_tokens) for sh in self.shapes])
        self.cls_followup = np.array([float(sh.followup_fraction) for sh in self.shapes])
        # KV bytes per prompt token of each deployment's prefill replicas (0: none)
        self.dep_kv_bpt = np.array(
            [
                profiles[
                    self.rep_prof[idx[self.rep_role[idx] == P.ROLE_PREFILL][0]]
                ].kv_bytes_per_token
                if (self.rep_role[idx] == P.ROLE_PREFILL).any()
                else 0.0
                for idx in self.dep_reps
            ],
            dtype=float,
        )
        # KV bytes per prompt token of each class served disaggregated (0: aggregated)
        self.cls_kv_bytes_per_token = np.zeros(self.n_cls)
        for c, sh in enumerate(self.shapes):
            dep = self.dep_reps[sh.deployment]
            if len(dep) and (self.rep_role[dep] == P.ROLE_PREFILL).any():
                self.cls_kv_bytes_per_token[c] = profiles[self.rep_prof[dep[0]]].kv_bytes_per_token
        self.rep_enabled = np.ones(n, bool)
        # load shedding under a too-deep cap drains each deployment's last replicas first
        self.rep_shed_rank = np.zeros(n)
        for idx in self.dep_reps:
            self.rep_shed_rank[idx] = (len(idx) - 1 - np.arange(len(idx))) / max(len(idx), 1)
        # and a rack (or PDU) cap below its boards' floor drains that rack's last replicas first
        self.rep_rack_rank = np.zeros(n)
        for rk in np.unique(self.rep_rack):
            idx = np.flatnonzero(self.rep_rack == rk)
            self.rep_rack_rank[idx] = (len(idx) - 1 - np.arange(len(idx))) / len(idx)
        for di in self.scale_to:
            self._apply_scale(di)
        self.gpus_in_reps = np.bincount(
            self.span_rack,
            weights=self.rep_gpus[self.span_rep] * self.span_share,
            minlength=len(self.rack_ids),
        )
        # the power tree's fixed parts, per rack: idle kW of the GPUs in replicas and of
        # those in none, and each span's kW per W of its GPUs' draw
        n_r = len(self.rack_ids)
        self._span_kw = self.span_share * self.rep_gpus[self.span_rep] / 1000.0
        self._rack_idle_kw = np.bincount(
            self.span_rack, weights=self.rep_idle_w[self.span_rep] * self._span_kw, minlength=n_r
        )
        self._rack_spare_kw = (
            np.maximum(0.0, self.rack_gpus - self.gpus_in_reps) * self.sku_idle_w / 1000.0
        )
        # queue and running state, carried over for replicas that still exist
        old = keep or {}
        self.q_cnt = np.zeros((n, QUEUE_SLOTS))
        self.q_t = np.zeros((n, QUEUE_SLOTS))
        self.q_tok = np.ones((n, QUEUE_SLOTS))
        self.q_cls = np.zeros((n, QUEUE_SLOTS), dtype=int)
        self.run = np.zeros((n, self.n_slot))
        self.rep_slot_cls = self.dep_slot_cls[
            self.rep_dep
        ]  # (R, K) class of each slot, -1 for none
        self.rep_slot_osl = np.where(
            self.rep_slot_cls >= 0, self.cls_osl[np.maximum(self.rep_slot_cls, 0)], 1.0
        )
        self._slot_cls0 = np.maximum(
            self.rep_slot_cls, 0
        )  # for bincounts (weights are 0 where no class)
        for i, key in enumerate(self.rep_key):
            if key in old:
                (self.q_cnt[i], self.q_t[i], self.q_tok[i], self.q_cls[i], self.run[i]) = old[key]
        self.rep_up = np.zeros(n, bool)
        self._t_dec_last = None
        self._tau_last = np.zeros(n)  # time between a replica's chances to prefill, last tick
        self._pf_rho = np.zeros(n)  # its prefill utilisation, averaged (``kernel.RHO_TAU_S``)
        self.row_out_s = np.zeros(n)
        self.row_user_s = np.zeros(n)  # output tokens/s each running request gets (pace)
        self.row_util = np.zeros(n)
        self._len_reps()  # lengths.py: each class's prefill replica
        self._session_tables()  # sessions.py: KV each replica holds
        self._init_rows()  # rows.py: one row per replica until the next tick merges them

    def _replica_state(self) -> dict:
        """Each replica's queue and running requests (its row's), by placement."""
        return {
            key: (
                self.q_cnt[r].copy(),
                self.q_t[r].copy(),
                self.q_tok[r].copy(),
                self.q_cls[r].copy(),
                self.run[r].copy(),
            )
            for key, r in zip(self.rep_key, self.rep_row.tolist(), strict=True)
        }

    def _apply_scale(self, di: int) -> None:
        """Enable the first N replicas; a disaggregated deployment keeps its prefill share."""
        n = self.scale_to[di]
        idx = self.dep_reps[di]
        self.rep_enabled[idx] = False
        pre = idx[self.rep_role[idx] == P.ROLE_PREFILL]
        if len(pre) and n > 0:
            dec = idx[self.rep_role[idx] == P.ROLE_DECODE]
            n_pf = min(len(pre), max(1, round(n * len(pre) / len(idx))), n - 1)
            self.rep_enabled[pre[:n_pf]] = True
            self.rep_enabled[dec[: n - n_pf]] = True
        else:
            self.rep_enabled[idx[:n]] = True

    def _on_swap_done(self, sku: str, *racks: int) -> None:
        racks = np.array(racks, dtype=int)
        gpu = self.catalog.gpu(sku)
        keep = self._replica_state()
        for r in racks:
            self.rack_sku[r] = sku
            self.rack_gpus[r] = gpu.gpus_per_rack
            self.rack_swapping[r] = False
        self._rack_figures()
        self._build_replicas(keep)
        capex = gpu.capex_usd_per_gpu * gpu.gpus_per_rack * len(racks)
        self._event(
            "info",
            self.rack_ids[racks[0]],
            f"swap to {sku} done: {len(racks)} racks, ${capex / 1e6:,.1f}M of new capital",
        )

    def _per_class(self, values: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """Sum per-slot values into per-class totals."""
        return np.bincount(classes.ravel(), weights=values.ravel(), minlength=self.n_cls)[
            : self.n_cls
        ]
