"""The simulated AI factory: SimPy owns discrete time, numpy owns the flow.

One SimPy process ticks every ``dt`` seconds of simulated time; other processes are the
truly discrete things (repairs, surges ending, swaps finishing, random faults). Each tick
updates every replica at once, as rows of arrays:

arrivals (Poisson per class) → routing (a vectorised split) → per-replica FIFO queues of
cohorts → admission (KV room and a prefill time budget) → prefill and decode from the
serving model's tables → completions → power, caps and heat → metrics.

A cohort is the requests of one class that reached one replica in one tick: it keeps its
own queueing delay, so TTFT percentiles stay right while the cost grows with replicas ×
ticks, not with requests. Front ends use two doors only: ``apply(command)`` and
``snapshot()``, plus ``advance_to(t)``.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np
import simpy

from twin.core import commands as C
from twin.core.catalog import Catalog, load_catalog
from twin.core.engine import plan as P
from twin.core.engine import snapshot as S
from twin.core.engine.metrics import HIST_BUCKETS, History, Window, bucket, percentile, percentiles
from twin.core.engine.routing import POLICIES, View
from twin.core.errors import TwinError, UnknownName
from twin.core.layout import Layout, rack_peak_kw
from twin.core.units import format_duration

#: Queue slots (cohorts) per replica; an overflowing queue merges its newest cohorts.
QUEUE_SLOTS = 4
#: A replica spends at most this share of a tick prefilling, so decode never starves
#: (the scheduler's chunked-prefill budget); overload then shows as queueing (TTFT).
PREFILL_TIME_SHARE = 0.6
#: Latency percentiles and SLO attainment cover this much recent simulated time.
WINDOW_S = 60.0
#: Gauge history kept for sparklines, in ticks.
HISTORY_TICKS = 600
#: Events kept (oldest dropped).
EVENTS_KEPT = 500
#: The simulated clock starts at this hour of the day (diurnal curves are by hour).
START_HOUR = 12.0
#: KV-aware routing finds a session's cached prefix on its previous replica this often
#: (the rest: evicted during a tool pause, or the replica was busy).
KV_HIT_RATE = 0.9
#: The site power controller lowers clocks when facility power exceeds the limit and
#: raises them by this factor per tick when there is headroom again.
CLOCK_RECOVERY = 1.05
HEADROOM = 0.99


class EngineError(TwinError):
    """A command that is well-formed but cannot apply to this factory now."""


@dataclass
class Fault:
    component: str
    kind: str
    until: float  # simulated time of the automatic repair (inf: until repaired)


def default_tick(layout: Layout) -> float:
    """One second of simulated time: latency inside a tick is computed, not stepped."""
    return 1.0


class Factory:
    """A running simulation of one layout. Deterministic for a seed and a command log."""

    def __init__(self, layout: Layout, catalog: Catalog | None = None, seed: int | None = None,
                 faults: bool = False, start_hour: float = START_HOUR, tick_s: float | None = None):
        self.layout = layout
        self.catalog = catalog or load_catalog()
        k = self.catalog.constants
        self.k = k
        self.seed = layout.seed if seed is None else int(seed)
        self.dt = float(tick_s or layout.tick_s or default_tick(layout))
        self.start_hour = start_hour
        self.env = simpy.Environment()
        self.rng_arrivals = np.random.default_rng([self.seed, 1])
        self.rng_faults = np.random.default_rng([self.seed, 2])
        L = layout
        site = L.site
        self.pue = site.pue
        # ---- static topology --------------------------------------------------------
        self.rack_ids = [r.id for r in L.racks]
        self.rack_index = {r: i for i, r in enumerate(self.rack_ids)}
        self.rack_sku = [r.gpu for r in L.racks]
        self.rack_gpus = np.array([r.gpus for r in L.racks], dtype=float)
        self.rack_row = [r.row for r in L.racks]
        n_r = len(L.racks)
        self.pdu_ids = [p.id for p in L.pdus]
        pdu_index = {p: i for i, p in enumerate(self.pdu_ids)}
        self.feed_ids = [f.id for f in L.feeds]
        feed_index = {f: i for i, f in enumerate(self.feed_ids)}
        self.pdu_feed = np.array([feed_index[p.feed] for p in L.pdus], dtype=int)
        self.pdu_cap = np.array([p.capacity_kw for p in L.pdus])
        self.feed_cap = np.array([f.capacity_kw for f in L.feeds])
        self.rack_pdus = np.full((n_r, 2), -1, dtype=int)
        for i, r in enumerate(L.racks):
            for j, p in enumerate(r.pdus[:2]):
                self.rack_pdus[i, j] = pdu_index[p]
        self.loop_ids = [c.id for c in L.cooling]
        loop_index = {c: i for i, c in enumerate(self.loop_ids)}
        self.loop_cap = np.array([c.capacity_kw for c in L.cooling])
        self.rack_loop = np.array([loop_index[r.cooling] for r in L.racks], dtype=int)
        sw = L.fabric.switches
        self.switch_ids = [s.id for s in sw]
        switch_index = {s: i for i, s in enumerate(self.switch_ids)}
        self.switch_tier = [s.tier for s in sw]
        self.rack_leaf = np.array([switch_index[r.leaf] for r in L.racks], dtype=int)
        self.link_ids = [ln.id for ln in L.fabric.links]
        self.link_index = {ln: i for i, ln in enumerate(self.link_ids)}
        self.link_a = np.array([switch_index[ln.a] for ln in L.fabric.links], dtype=int)
        self.link_b = np.array([switch_index[ln.b] for ln in L.fabric.links], dtype=int)
        self.link_gbs = np.array([ln.gb_s for ln in L.fabric.links])
        self.n_spines = max(1, sum(1 for s in sw if s.tier == "spine"))
        # ---- workload ---------------------------------------------------------------------
        dep_index = {d.id: i for i, d in enumerate(L.deployments)}
        self.dep_ids = [d.id for d in L.deployments]
        self.shapes = [P.class_shape(i, w, dep_index[w.deployment]) for i, w in enumerate(L.workloads)]
        self.n_cls = len(self.shapes)
        self.cls_dep = np.array([s.deployment for s in self.shapes], dtype=int)
        self.cls_osl = np.array([s.osl for s in self.shapes])
        self.cls_slo_ttft = np.array([s.slo_ttft_s for s in self.shapes])
        self.cls_slo_tpot = np.array([s.slo_tpot_s for s in self.shapes])
        self.class_surge = np.ones(self.n_cls)
        # Each replica serves one deployment, so its running requests are kept per *slot*:
        # the deployment's own classes (1-2, not every class of the factory).
        n_dep = len(L.deployments)
        per_dep = [[c for c in range(self.n_cls) if self.cls_dep[c] == d] for d in range(n_dep)]
        self.n_slot = max(1, max((len(x) for x in per_dep), default=1))
        self.cls_slot = np.zeros(self.n_cls, dtype=int)
        self.dep_slot_cls = np.full((n_dep, self.n_slot), -1, dtype=int)
        for d, cs in enumerate(per_dep):
            for k, c in enumerate(cs):
                self.cls_slot[c] = k
                self.dep_slot_cls[d, k] = c
        # requests per second at factor 1: an agentic class's rate counts sessions, each
        # of which sends one request per step
        self.cls_rate = np.array([w.rate_rps * (w.agentic.steps_mean if w.agentic else 1.0) for w in L.workloads])
        # ---- dynamic component state ----------------------------------------------------
        self.rack_failed = np.zeros(n_r, bool)
        self.rack_swapping = np.zeros(n_r, bool)
        self.rack_drained = np.zeros(n_r, bool)
        self.rack_tripped = np.zeros(n_r, bool)  # thermal shutdown
        self.rack_slow = np.ones(n_r)  # straggler factor on step time
        self.rack_nvlink = np.ones(n_r)  # remaining scale-up bandwidth fraction
        self.rack_cap_kw = np.full(n_r, np.inf)
        self.pdu_failed = np.zeros(len(self.pdu_ids), bool)
        self.pdu_tripped = np.zeros(len(self.pdu_ids), bool)
        self.pdu_cap_kw = np.full(len(self.pdu_ids), np.inf)
        self.feed_failed = np.zeros(len(self.feed_ids), bool)
        self.loop_failed = np.zeros(len(self.loop_ids), bool)
        self.switch_failed = np.zeros(len(self.switch_ids), bool)
        self.link_frac = np.ones(len(self.link_ids))
        self.node_faults: dict[tuple[int, int], int] = {}  # (rack, node) -> faulty count
        self.node_slow: dict[tuple[int, int], float] = {}  # (rack, node) -> straggler factor
        self.site_cap_kw: float | None = None
        self.site_clock = 1.0
        self.cap_clock = np.ones(n_r)
        self.inlet_c = np.full(n_r, site.ambient_c)
        self.gpu_temp_c = np.full(n_r, site.ambient_c)
        self.throttled = np.zeros(n_r, bool)
        self.policy = L.routing
        self.surge = 1.0
        self.faults_enabled = False
        self.faults: dict[str, dict[str, Fault]] = {}  # component -> kind -> fault
        self.events: deque[S.Event] = deque(maxlen=EVENTS_KEPT)
        self._event_id = 0
        self._grid_index = np.arange(len(P.NORM_GRID), dtype=float)
        self._diurnal_tables = []
        for w in L.workloads:
            if w.diurnal:
                hs = np.array([h for h, _ in w.diurnal])
                fs = np.array([f for _, f in w.diurnal])
                self._diurnal_tables.append((np.concatenate([hs - 24, hs, hs + 24]), np.concatenate([fs, fs, fs])))
            else:
                self._diurnal_tables.append(None)
        # ---- replicas ------------------------------------------------------------------------
        self._rack_figures()
        self._build_replicas()
        # ---- metrics ----------------------------------------------------------------------------
        wn = max(1, int(round(WINDOW_S / self.dt)))
        self.w_ttft = Window(wn, (self.n_cls, HIST_BUCKETS))
        self.w_tpot = Window(wn, (self.n_cls, HIST_BUCKETS))
        self.w_counts = Window(wn, (6, self.n_cls))  # admitted, met, shed, failed, output, arrived
        self.history = History(("t_s", *S.GAUGE_KEYS), HISTORY_TICKS)
        self.gauges: dict[str, float] = dict.fromkeys(S.GAUGE_KEYS, 0.0)
        self.totals = {"output_tokens": 0.0, "energy_kwh": 0.0, "cost_usd": 0.0, "capital_usd": 0.0, "energy_usd": 0.0,
                       "it_kwh": 0.0, "seconds": 0.0, "prefill_tokens": 0.0}
        # whole-run latency histograms and request counts (the report's run aggregates)
        self.run_ttft = np.zeros((self.n_cls, HIST_BUCKETS))
        self.run_tpot = np.zeros((self.n_cls, HIST_BUCKETS))
        self.run_counts = np.zeros((6, self.n_cls))
        self.rack_power_kw = np.zeros(n_r)
        self.rack_util = np.zeros(n_r)
        self.pdu_load = np.zeros(len(self.pdu_ids))
        self.feed_load = np.zeros(len(self.feed_ids))
        self.loop_load = np.zeros(len(self.loop_ids))
        self.link_load = np.zeros(len(self.link_ids))
        self._cls_tick_rate = np.zeros(self.n_cls)
        self._cls_shed_rate = np.zeros(self.n_cls)
        self.env.process(self._ticker())
        self._event("info", layout.name, f"factory started: {len(L.racks):,} racks, {int(self.rack_gpus.sum()):,} GPUs, "
                    f"{len(self.rep_dep):,} replicas, routing {self.policy}")
        if faults:
            self._set_faults(True)

    # =====================================================================================
    # replicas
    def _rack_figures(self) -> None:
        """Per-rack figures of its current GPU SKU (refreshed after a swap)."""
        gpus = [self.catalog.gpu(s) for s in self.rack_sku]
        self.sku_idle_w = np.array([g.idle_w for g in gpus])
        self.sku_tdp_w = np.array([g.tdp_w for g in gpus])
        self.rack_peak_kw = np.array([rack_peak_kw(g, n) for g, n in zip(gpus, self.rack_gpus, strict=True)])
        self.rack_host_kw = np.maximum(0.0, self.rack_peak_kw - self.rack_gpus * self.sku_tdp_w / 1000.0)

    def _build_replicas(self, keep: dict | None = None) -> None:
        rates = [w.rate_rps * (w.agentic.steps_mean if w.agentic else 1.0) for w in self.layout.workloads]
        profiles, places = P.place(self.layout, self.catalog, self.rack_sku, self.shapes, rates,
                                   [int(g) for g in self.rack_gpus])
        self.profiles = profiles
        n = len(places)
        self.rep_dep = np.array([p.deployment for p in places], dtype=int)
        self.rep_prof = np.array([p.profile for p in places], dtype=int)
        self.rep_role = np.array([p.role for p in places], dtype=int)
        self.rep_rack = np.array([p.racks[0] for p in places], dtype=int)
        self.rep_gpus = np.array([profiles[p.profile].gpus for p in places], dtype=float)
        self.rep_bmax = np.array([profiles[p.profile].bmax for p in places])
        self.rep_bslo = np.array([profiles[p.profile].b_slo for p in places])
        self.rep_qcap = np.array([profiles[p.profile].q_cap for p in places])
        self.rep_cap_tok_s = np.array([profiles[p.profile].cap_tok_s for p in places])
        self.rep_tps = np.array([profiles[p.profile].tokens_per_step for p in places])
        self.rep_eff = np.array([profiles[p.profile].tok_per_joule for p in places])
        self.rep_key = [(p.deployment, p.racks, p.first_gpu) for p in places]
        # profile tables gathered for vectorised lookups (no per-profile loops in the tick)
        self.prof_tdec = np.stack([pr.t_dec for pr in profiles])  # (P, 2, G)
        wmem = float(self.k["power_mem_weight"])
        self.prof_ud = np.stack([np.minimum(1.0, pr.dec_comp + wmem * pr.dec_mem) for pr in profiles])  # (P, G) decode activity
        self.rep_pf_fixed = np.stack([profiles[p.profile].pf_fixed_s for p in places])  # (R, 2)
        self.rep_pf_per = np.stack([profiles[p.profile].pf_token_s for p in places])
        self.rep_pf_u = np.array([min(1.0, profiles[p.profile].pf_comp + float(self.k["power_mem_weight"]) * profiles[p.profile].pf_mem)
                                  for p in places])
        self.chunk = float(profiles[0].chunk)
        self._has_disagg = bool((self.rep_role == P.ROLE_PREFILL).any())
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
        self.span_rep, self.span_rack = np.array(span_rep, dtype=int), np.array(span_rack, dtype=int)
        self.span_share = np.array(span_share)
        self.multi_rack = bool(len(span_rep) > n)
        self.reps_per_rack = np.bincount(self.span_rack, weights=self.span_share, minlength=len(self.rack_ids))
        self.dep_reps = [np.flatnonzero(self.rep_dep == d) for d in range(len(self.dep_ids))]
        # KV bytes per prompt token of each class served disaggregated (0: aggregated)
        self.cls_kv_bytes_per_token = np.zeros(self.n_cls)
        for c, sh in enumerate(self.shapes):
            dep = self.dep_reps[sh.deployment]
            if len(dep) and (self.rep_role[dep] == P.ROLE_PREFILL).any():
                self.cls_kv_bytes_per_token[c] = profiles[self.rep_prof[dep[0]]].kv_bytes_per_token
        self.rep_enabled = np.ones(n, bool)
        for di in getattr(self, "_scale", {}):
            self._apply_scale(di)
        self.gpus_in_reps = np.bincount(self.span_rack, weights=self.rep_gpus[self.span_rep] * self.span_share,
                                        minlength=len(self.rack_ids))
        # queue and running state, carried over for replicas that still exist
        old = keep or {}
        self.q_cnt = np.zeros((n, QUEUE_SLOTS))
        self.q_t = np.zeros((n, QUEUE_SLOTS))
        self.q_tok = np.ones((n, QUEUE_SLOTS))
        self.q_cls = np.zeros((n, QUEUE_SLOTS), dtype=int)
        self.run = np.zeros((n, self.n_slot))
        self.rep_slot_cls = self.dep_slot_cls[self.rep_dep]  # (R, K) class of each slot, -1 for none
        self.rep_slot_osl = np.where(self.rep_slot_cls >= 0, self.cls_osl[np.maximum(self.rep_slot_cls, 0)], 1.0)
        self._slot_cls0 = np.maximum(self.rep_slot_cls, 0)  # for bincounts (weights are 0 where no class)
        for i, key in enumerate(self.rep_key):
            if key in old:
                (self.q_cnt[i], self.q_t[i], self.q_tok[i], self.q_cls[i], self.run[i]) = old[key]
        self.rep_up = np.zeros(n, bool)
        self._t_dec_last = None

    def _replica_state(self) -> dict:
        return {key: (self.q_cnt[i].copy(), self.q_t[i].copy(), self.q_tok[i].copy(), self.q_cls[i].copy(),
                      self.run[i].copy()) for i, key in enumerate(self.rep_key)}

    # =====================================================================================
    # the two doors
    @property
    def now(self) -> float:
        return float(self.env.now)

    def advance_to(self, t_s: float) -> None:
        """Run the simulation until simulated time ``t_s`` (no-op if already there)."""
        if t_s > self.env.now:
            self.env.run(until=t_s)

    def apply(self, cmd: C.Command) -> str:
        """Apply a command at the current simulated time; returns what happened.

        Raises ``TwinError`` (one line, naming the command) for anything that cannot
        apply; the simulation is unchanged then.
        """
        if isinstance(cmd, C.SessionCommand):
            raise EngineError(f"{cmd.verb}: a front-end command; the engine does not take it")
        handler = getattr(self, f"_cmd_{type(cmd).__name__.lower()}", None)
        if handler is None:
            raise EngineError(f"{cmd.verb}: not supported by the engine")
        msg = handler(cmd)
        self._event("info", "operator", f"{cmd.text}: {msg}")
        return msg

    # =====================================================================================
    # commands
    def _kind(self, target: str) -> str:
        if target in self.rack_index:
            return "rack"
        node = self._parse_node(target)
        if node is not None:
            return "gpu" if node[2] is not None else "node"
        try:
            return self.layout.kind_of(target)
        except (KeyError, TwinError):
            raise UnknownName("component", target, list(self.layout.ids)) from None

    def _parse_node(self, target: str):
        """``RACK-nK`` is node K of a rack, ``RACK-nK-gJ`` GPU J of that node (1-based)."""
        for cut in (2, 1):
            head = target.rsplit("-", cut)
            rack = head[0]
            if rack in self.rack_index:
                tail = head[1:]
                try:
                    if len(tail) == 1 and tail[0].startswith("n"):
                        return self.rack_index[rack], int(tail[0][1:]) - 1, None
                    if len(tail) == 2 and tail[0].startswith("n") and tail[1].startswith("g"):
                        return self.rack_index[rack], int(tail[0][1:]) - 1, int(tail[1][1:]) - 1
                except ValueError:
                    return None
        return None

    def _check_node(self, node, target: str, verb: str):
        rk, n, gpu = node
        gpn = self.catalog.gpu(self.rack_sku[rk]).gpus_per_node
        if n < 0 or n * gpn >= self.rack_gpus[rk] or (gpu is not None and not 0 <= gpu < gpn):
            raise EngineError(f"{verb}: {target} does not exist ({self.rack_ids[rk]} has "
                              f"{int(self.rack_gpus[rk]) // gpn} nodes of {gpn} GPUs)")
        return node

    def _racks_of(self, target: str) -> np.ndarray:
        if target in self.rack_index:
            return np.array([self.rack_index[target]])
        node = self._parse_node(target)
        if node is not None:
            return np.array([node[0]])
        return np.array([self.rack_index[r] for r in self.layout.racks_of(target)], dtype=int)

    def _cmd_fail(self, cmd: C.Fail) -> str:
        kind = self._kind(cmd.target)
        repair = cmd.repair_after_s
        if repair is None:
            repair = float(self.k["repair_s"].get(kind, 3600.0))
        return self._fail(cmd.target, kind, repair, by="operator")

    def _fail(self, target: str, kind: str, repair_s: float, by: str) -> str:
        if kind in self.faults.get(target, {}):
            raise EngineError(f"fail: {target} has already failed")
        if kind == "rack":
            self.rack_failed[self.rack_index[target]] = True
        elif kind in ("row", "group"):
            racks = self._racks_of(target)
            already = [self.rack_ids[r] for r in racks if self.rack_ids[r] in self.faults]
            if already:
                raise EngineError(f"fail: {already[0]} in {target} has already failed; repair it first")
            self.rack_failed[racks] = True
        elif kind in ("node", "gpu"):
            rk, node, gpu = self._check_node(self._parse_node(target), target, "fail")
            self.node_faults[(rk, node)] = self.node_faults.get((rk, node), 0) + 1
        elif kind == "pdu":
            self.pdu_failed[self.pdu_ids.index(target)] = True
        elif kind == "feed":
            self.feed_failed[self.feed_ids.index(target)] = True
        elif kind in ("loop", "cooling"):
            self.loop_failed[self.loop_ids.index(target)] = True
        elif kind in ("leaf", "spine", "switch"):
            self.switch_failed[self.switch_ids.index(target)] = True
        elif kind == "link":
            self.link_frac[self.link_index[target]] = 0.0
        else:
            raise EngineError(f"fail: {target} is a {kind}; it cannot fail (try a rack, row, node, GPU, PDU, feed, loop, switch or link)")
        until = self.now + repair_s
        self._add_fault(target, kind, until)
        if math.isfinite(repair_s):
            self.env.process(self._auto_repair(target, kind, until))
        sev = "critical" if kind in ("pdu", "feed", "loop", "spine", "rack", "row", "group") else "warning"
        self._event(sev, target, f"{kind} failed ({by}){self._impact(target, kind)}; repair in {format_duration(repair_s)}")
        return f"{kind} {target} failed; repair in {format_duration(repair_s)}"

    def _add_fault(self, target: str, kind: str, until: float = math.inf) -> None:
        self.faults.setdefault(target, {})[kind] = Fault(target, kind, until)

    def _impact(self, target: str, kind: str) -> str:
        """What a power or rack fault takes down: racks that lose power, and who rides through."""
        if kind in ("link", "spine", "leaf", "switch", "node", "gpu"):
            return ""
        racks = self._racks_of(target)
        if kind in ("pdu", "feed"):
            self._rack_down()
            dark = int((~self.rack_powered[racks]).sum())
            ride = len(racks) - dark
            return f", {dark} racks lost power" + (f", {ride} ride through on their other PDU" if ride else "")
        return f", {len(racks)} racks affected"

    def _auto_repair(self, target: str, kind: str, until: float):
        yield self.env.timeout(max(0.0, until - self.now))
        f = self.faults.get(target, {}).get(kind)
        if f is not None and f.until == until:
            self._repair_kind(target, kind, by="repair crew")

    def _cmd_repair(self, cmd: C.Repair) -> str:
        if cmd.target not in self.faults:
            self._kind(cmd.target)  # an unknown name says so, with a suggestion
            raise EngineError(f"repair: {cmd.target} is not failed or degraded"
                              + (f"; failed now: {', '.join(sorted(self.faults)[:10])}" if self.faults else ""))
        for kind in list(self.faults[cmd.target]):
            self._repair_kind(cmd.target, kind, by="operator")
        return f"{cmd.target} repaired"

    def _repair_kind(self, target: str, kind: str, by: str) -> None:
        kinds = self.faults.get(target, {})
        kinds.pop(kind, None)
        if not kinds:
            self.faults.pop(target, None)
        if kind == "rack":
            self.rack_failed[self.rack_index[target]] = False
        elif kind in ("row", "group"):
            self.rack_failed[self._racks_of(target)] = False
        elif kind in ("node", "gpu"):
            rk, node, _ = self._parse_node(target)
            self.node_faults[(rk, node)] -= 1
            if self.node_faults[(rk, node)] <= 0:
                del self.node_faults[(rk, node)]
        elif kind == "pdu":
            i = self.pdu_ids.index(target)
            self.pdu_failed[i] = self.pdu_tripped[i] = False
        elif kind == "feed":
            self.feed_failed[self.feed_ids.index(target)] = False
        elif kind in ("loop", "cooling"):
            self.loop_failed[self.loop_ids.index(target)] = False
        elif kind in ("leaf", "spine", "switch"):
            self.switch_failed[self.switch_ids.index(target)] = False
        elif kind in ("link", "degrade-link"):
            self.link_frac[self.link_index[target]] = 1.0
        elif kind == "degrade-rack":
            self.rack_nvlink[self._racks_of(target)] = 1.0
        elif kind == "straggler":
            node = self._parse_node(target)
            if node is not None:
                self.node_slow.pop((node[0], node[1]), None)
            else:
                self.rack_slow[self._racks_of(target)] = 1.0
        elif kind == "tripped":
            i = self.pdu_ids.index(target)
            self.pdu_tripped[i] = False
        self._event("info", target, f"{kind} repaired ({by})")

    def _cmd_degrade(self, cmd: C.Degrade) -> str:
        kind = self._kind(cmd.target)
        if kind == "link":
            self.link_frac[self.link_index[cmd.target]] = cmd.remaining
            fk = "degrade-link"
        elif kind in ("rack", "row", "group"):
            self.rack_nvlink[self._racks_of(cmd.target)] = cmd.remaining
            fk = "degrade-rack"
        else:
            raise EngineError(f"degrade: {cmd.target} is a {kind}; degrade a link or a rack's NVLink domain")
        self._add_fault(cmd.target, fk)
        self._event("warning", cmd.target, f"degraded to {cmd.remaining:.0%} of its bandwidth")
        return f"{cmd.target} at {cmd.remaining:.0%} bandwidth until repaired"

    def _cmd_straggle(self, cmd: C.Straggle) -> str:
        self._targets("straggle", cmd.target, (*self._RACK_SETS, "node", "gpu"))
        node = self._parse_node(cmd.target)
        if node is not None:  # a node (or a GPU's node) slows only the replicas on it
            self._check_node(node, cmd.target, "straggle")
            self.node_slow[(node[0], node[1])] = cmd.slowdown
        else:
            self.rack_slow[self._racks_of(cmd.target)] = cmd.slowdown
        self._add_fault(cmd.target, "straggler")
        self._event("warning", cmd.target, f"straggler: steps {cmd.slowdown:g}× slower")
        return f"{cmd.target} runs {cmd.slowdown:g}× slower until repaired"

    #: what each placement command may name
    _RACK_SETS = ("rack", "row", "group")

    def _targets(self, verb: str, target: str, allowed: tuple[str, ...]) -> np.ndarray:
        kind = self._kind(target)
        if kind not in allowed:
            raise EngineError(f"{verb}: {target} is a {kind}; {verb} takes a {', '.join(allowed[:-1])} or {allowed[-1]}")
        return self._racks_of(target)

    def _cmd_drain(self, cmd: C.Drain) -> str:
        racks = self._targets("drain", cmd.target, (*self._RACK_SETS, "pdu", "feed", "loop", "leaf"))
        self.rack_drained[racks] = True
        return f"{len(racks)} racks drained: no new requests; running ones finish"

    def _cmd_undrain(self, cmd: C.Undrain) -> str:
        racks = self._targets("undrain", cmd.target, (*self._RACK_SETS, "pdu", "feed", "loop", "leaf"))
        if not self.rack_drained[racks].any():
            raise EngineError(f"undrain: {cmd.target} is not drained")
        self.rack_drained[racks] = False
        return f"{len(racks)} racks back in service"

    def _cmd_route(self, cmd: C.Route) -> str:
        if cmd.policy not in POLICIES:
            raise EngineError(f"route: unknown policy {cmd.policy!r}; policies: {', '.join(POLICIES)}")
        old, self.policy = self.policy, cmd.policy
        return f"routing {old} → {cmd.policy}"

    def _cmd_cap(self, cmd: C.Cap) -> str:
        if cmd.target is None:
            if cmd.limit_kw is None and cmd.fraction is None:
                self.site_cap_kw = None
                return "site power cap lifted"
            limit = cmd.limit_kw if cmd.limit_kw is not None else cmd.fraction * self.layout.site.envelope_kw
            self.site_cap_kw = limit
            return f"site capped at {limit / 1000:,.1f} MW facility power"
        kind = self._kind(cmd.target)
        if kind == "pdu":
            i = self.pdu_ids.index(cmd.target)
            lim = cmd.limit_kw if cmd.limit_kw is not None else (cmd.fraction * self.pdu_cap[i] if cmd.fraction else None)
            self.pdu_cap_kw[i] = np.inf if lim is None else lim
        else:
            racks = self._racks_of(cmd.target)
            if cmd.limit_kw is None and cmd.fraction is None:
                self.rack_cap_kw[racks] = np.inf
                lim = None
            else:
                peak = np.array([self.catalog.gpu(self.rack_sku[r]).rack_kw for r in racks])
                lim = cmd.limit_kw if cmd.limit_kw is not None else None
                self.rack_cap_kw[racks] = (lim / len(racks)) if lim is not None else cmd.fraction * peak
        return f"{cmd.target} cap lifted" if lim is None and cmd.fraction is None else f"{cmd.target} capped"

    def _cmd_swap(self, cmd: C.Swap) -> str:
        gpu = self.catalog.gpu(cmd.gpu)
        racks = self._targets("swap", cmd.target, self._RACK_SETS)
        if not len(racks):
            raise EngineError(f"swap: {cmd.target} holds no racks")
        deps = {d.id for d in self.layout.deployments if set(d.racks) & {self.rack_ids[r] for r in racks}}
        for d in self.layout.deployments:
            if d.id in deps and d.precision not in gpu.peak_tflops:
                raise EngineError(f"swap: {gpu.id} cannot run {d.id}'s {d.precision}; precisions: {', '.join(gpu.precisions)}")
        busy = [self.rack_ids[r] for r in racks if self.rack_swapping[r]]
        if busy:
            raise EngineError(f"swap: {busy[0]} is already being swapped; wait for it to finish")
        downtime = float(self.k["swap_downtime_s"])
        self.rack_swapping[racks] = True
        self.env.process(self._finish_swap(racks, gpu.id))
        self._event("warning", cmd.target, f"swap to {gpu.id} started: {len(racks)} racks down for {format_duration(downtime)}")
        return f"{len(racks)} racks → {gpu.id}, back in {format_duration(downtime)}"

    def _finish_swap(self, racks: np.ndarray, sku: str):
        yield self.env.timeout(float(self.k["swap_downtime_s"]))
        gpu = self.catalog.gpu(sku)
        keep = self._replica_state()
        for r in racks:
            self.rack_sku[r] = sku
            self.rack_gpus[r] = gpu.gpus_per_rack
            self.rack_swapping[r] = False
        self._rack_figures()
        self._build_replicas(keep)
        capex = gpu.capex_usd_per_gpu * gpu.gpus_per_rack * len(racks)
        self._event("info", self.rack_ids[racks[0]], f"swap to {sku} done: {len(racks)} racks, "
                                                     f"${capex / 1e6:,.1f}M of new capital")

    def _cmd_scale(self, cmd: C.Scale) -> str:
        if cmd.deployment not in self.dep_ids:
            raise UnknownName("deployment", cmd.deployment, self.dep_ids)
        di = self.dep_ids.index(cmd.deployment)
        idx = self.dep_reps[di]
        if cmd.replicas > len(idx):
            raise EngineError(f"scale: {cmd.deployment} has room for {len(idx)} replicas on its racks")
        pre = idx[self.rep_role[idx] == P.ROLE_PREFILL]
        if len(pre) and 0 < cmd.replicas < 2:
            raise EngineError(f"scale: {cmd.deployment} is disaggregated; it needs at least 2 replicas (prefill and decode)")
        self._scale = getattr(self, "_scale", {})
        self._scale[di] = cmd.replicas
        self._apply_scale(di)
        return f"{cmd.deployment}: {cmd.replicas} of {len(idx)} replicas serving"

    def _apply_scale(self, di: int) -> None:
        """Enable the first N replicas; a disaggregated deployment keeps its prefill share."""
        n = self._scale[di]
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

    def _cmd_surge(self, cmd: C.Surge) -> str:
        if cmd.workload is not None:
            ids = [s.id for s in self.shapes]
            if cmd.workload not in ids:
                raise UnknownName("workload class", cmd.workload, ids)
            self.class_surge[ids.index(cmd.workload)] = cmd.factor
        else:
            self.surge = cmd.factor
        if cmd.duration_s:
            self.env.process(self._end_surge(cmd.workload, self.now + cmd.duration_s))
        self._event("warning" if cmd.factor > 1 else "info", cmd.workload or "demand", f"demand ×{cmd.factor:g}"
                    + (f" for {format_duration(cmd.duration_s)}" if cmd.duration_s else ""))
        return f"demand ×{cmd.factor:g}" + (f" for {format_duration(cmd.duration_s)}" if cmd.duration_s else "")

    def _end_surge(self, workload: str | None, until: float):
        yield self.env.timeout(until - self.now)
        if workload is None:
            self.surge = 1.0
        else:
            self.class_surge[[s.id for s in self.shapes].index(workload)] = 1.0
        self._event("info", workload or "demand", "surge over")

    def _cmd_faults(self, cmd: C.Faults) -> str:
        self._set_faults(cmd.enabled)
        return "random faults " + ("on (published failure rates)" if cmd.enabled else "off")

    # =====================================================================================
    # random faults from published rates
    def _set_faults(self, on: bool) -> None:
        if on == self.faults_enabled:
            return
        self.faults_enabled = on
        self._fault_gen = getattr(self, "_fault_gen", 0) + 1
        if on:
            gpus = float(self.rack_gpus.sum())
            k = self.k
            year = 365.25 * 86400
            nodes = sum(int(self.rack_gpus[r]) // self.catalog.gpu(self.rack_sku[r]).gpus_per_node for r in range(len(self.rack_ids)))
            kinds = [("gpu", k["failures_per_gpu_year"] * gpus), ("node", k["failures_per_node_year"] * nodes),
                     ("link", k["network_failures_per_gpu_year"] * gpus), ("pdu", k["failures_per_pdu_year"] * len(self.pdu_ids)),
                     ("loop", k["failures_per_loop_year"] * len(self.loop_ids))]
            for kind, per_year in kinds:
                if per_year > 0 and (kind != "link" or self.link_ids):
                    self.env.process(self._random_faults(kind, year / per_year, self._fault_gen))

    def _random_faults(self, kind: str, mean_gap_s: float, gen: int):
        rng = self.rng_faults
        while self.faults_enabled and gen == self._fault_gen:
            yield self.env.timeout(float(rng.exponential(mean_gap_s)))
            if not self.faults_enabled or gen != self._fault_gen:
                return
            target = self._random_target(kind, rng)
            if target is None or kind in self.faults.get(target, {}):
                continue
            repair = float(rng.exponential(float(self.k["repair_s"].get(kind, 3600.0))))
            self._fail(target, kind, max(60.0, repair), by="random")

    def _random_target(self, kind: str, rng) -> str | None:
        if kind in ("gpu", "node"):
            r = int(rng.choice(len(self.rack_ids), p=self.rack_gpus / self.rack_gpus.sum()))
            gpn = self.catalog.gpu(self.rack_sku[r]).gpus_per_node
            node = int(rng.integers(int(self.rack_gpus[r]) // gpn))
            base = f"{self.rack_ids[r]}-n{node + 1}"
            return base if kind == "node" else f"{base}-g{int(rng.integers(gpn)) + 1}"
        ids = {"link": self.link_ids, "pdu": self.pdu_ids, "loop": self.loop_ids}[kind]
        return ids[int(rng.integers(len(ids)))] if ids else None

    # =====================================================================================
    # the tick
    def _ticker(self):
        while True:
            yield self.env.timeout(self.dt)
            self._tick()

    def _event(self, severity: str, source: str, message: str) -> None:
        self._event_id += 1
        self.events.append(S.Event(self._event_id, round(self.now, 3), severity, source, message))

    def _rack_down(self) -> np.ndarray:
        pdu_alive = ~self.pdu_failed & ~self.pdu_tripped & ~self.feed_failed[self.pdu_feed]
        has = self.rack_pdus >= 0
        alive = np.where(has, pdu_alive[np.maximum(self.rack_pdus, 0)], False)
        self.rack_powered = ~self.rack_failed & alive.any(axis=1)
        self.rack_pdu_alive = alive
        leaf_ok = ~self.switch_failed[self.rack_leaf]
        return ~self.rack_powered | self.rack_swapping | self.rack_tripped | ~leaf_ok

    def _diurnal(self, t: float) -> np.ndarray:
        hour = (self.start_hour + t / 3600.0) % 24.0
        out = np.ones(self.n_cls)
        for i, tab in enumerate(self._diurnal_tables):
            if tab is not None:
                out[i] = np.interp(hour, tab[0], tab[1])
        return out

    def _tick(self) -> None:
        dt, t0 = self.dt, self.now - self.dt
        n_rep, Q = len(self.rep_dep), QUEUE_SLOTS
        # ---- health ------------------------------------------------------------------------
        rack_down = self._rack_down()
        if self.multi_rack:
            rep_down = np.zeros(n_rep, bool)
            np.logical_or.at(rep_down, self.span_rep, rack_down[self.span_rack])
        else:
            rep_down = rack_down[self.rep_rack]
        for (rk, node), cnt in self.node_faults.items():
            if cnt > 0:
                rep_down[self.node_reps.get((rk, node), [])] = True
        up = self.rep_enabled & ~rep_down
        newly_down = self.rep_up & ~up
        counts = np.zeros((6, self.n_cls))  # admitted, met, shed, failed, output, arrived
        retry = np.zeros(self.n_cls)
        if newly_down.any():
            retry = np.bincount(self.q_cls[newly_down].ravel(), weights=self.q_cnt[newly_down].ravel(), minlength=self.n_cls)
            counts[3] += self._per_class(self.run[newly_down], self._slot_cls0[newly_down])  # running requests are lost
            self.q_cnt[newly_down] = 0.0
            self.run[newly_down] = 0.0
            dropped = int(self.run[newly_down].sum() + counts[3].sum())
            if dropped:
                self._event("warning", "serving", f"{int(newly_down.sum())} replicas lost; {dropped:,} running requests failed, "
                                                   f"{int(retry.sum()):,} queued retried elsewhere")
        self.rep_up = up
        drained = self.rack_drained[self.rep_rack]
        accepting = up & ~drained
        stuck = ~accepting & (self.q_cnt[:, 0] > 0)  # drained (or cut off): queued requests go elsewhere
        if self._has_disagg:  # a prefill replica whose leaf has lost every uplink cannot ship KV
            cut = (self.rep_role == P.ROLE_PREFILL) & (self._leaf_bw()[self.rack_leaf[self.rep_rack]] <= 0)
            accepting &= ~cut
            stuck |= cut & (self.q_cnt[:, 0] > 0)
        if stuck.any():
            retry += np.bincount(self.q_cls[stuck].ravel(), weights=self.q_cnt[stuck].ravel(), minlength=self.n_cls)
            self.q_cnt[stuck] = 0.0
        rack_clock = np.minimum(self.cap_clock, np.where(self.throttled, float(self.k["throttle_clock"]), 1.0))
        self._full_clock = bool(rack_clock.min() >= 1.0)
        clock = rack_clock[self.rep_rack]
        cw = P.clock_weight(clock)
        comm = float(self.k["nvlink_comm_share"])
        slow = self.rack_slow[self.rep_rack] * ((1 - comm) + comm / np.maximum(self.rack_nvlink[self.rep_rack], 0.05))
        for key, factor in self.node_slow.items():  # a replica runs at its slowest node's pace
            reps = self.node_reps.get(key, [])
            slow[reps] = np.maximum(slow[reps], factor)
        # ---- arrivals -------------------------------------------------------------------------
        lam = self.cls_rate * self._diurnal(self.now) * self.surge * self.class_surge
        burst = np.array([w.burstiness for w in self.layout.workloads])
        mod = np.ones(self.n_cls)
        bursty = burst > 1.0
        if bursty.any():
            kshape = 1.0 / np.square(burst[bursty] - 1.0)
            mod[bursty] = self.rng_arrivals.gamma(kshape, 1.0 / kshape)
        arrivals = self.rng_arrivals.poisson(lam * dt * mod).astype(float) + retry
        counts[5] = arrivals
        self._cls_tick_rate = lam
        # ---- routing --------------------------------------------------------------------------
        B = self.run.sum(axis=1)
        qsum = self.q_cnt.sum(axis=1)
        # load: running over the SLO-knee batch, plus queued work over what the replica
        # prefills within half the TTFT SLO (a long queue is what breaks TTFT)
        load = B / self.rep_bslo + qsum / self.rep_qcap
        add = np.zeros((n_rep, self.n_slot))
        tok_req = np.zeros(self.n_cls)
        shed_c = np.zeros(self.n_cls)
        for c, sh in enumerate(self.shapes):
            idx = self.dep_reps[sh.deployment]
            idx = idx[accepting[idx] & (self.rep_role[idx] != P.ROLE_DECODE)]
            n_up = len(idx)
            hit = (KV_HIT_RATE * (n_up / max(1, len(self.dep_reps[sh.deployment])))) if self.policy == "kv-aware" else 1.0 / max(n_up, 1)
            tok_req[c] = max(1.0, sh.prompt_tokens - hit * sh.reusable_tokens * sh.followup_fraction)
            if arrivals[c] <= 0:
                continue
            if n_up == 0:
                counts[3, c] += arrivals[c]
                continue
            view = View(load[idx], self.rep_qcap[idx], self.rep_eff[idx], clock[idx])  # arrivals join the queue
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
        counts[2] = shed_c
        self._cls_shed_rate = shed_c / dt
        # ---- enqueue: one cohort per (replica, class) with arrivals ------------------------------
        qlen = (self.q_cnt > 1e-12).sum(axis=1)
        rows, slot = np.nonzero(add > 0)
        if len(rows):
            cls = self.rep_slot_cls[rows, slot]
            # order of the new cohorts within a replica (one per slot with arrivals)
            rank = np.cumsum(add > 0, axis=1)[rows, slot] - 1 if self.n_slot > 1 else np.zeros(len(rows), dtype=int)
            pos = np.minimum(qlen[rows] + rank, Q - 1)
            full = (qlen[rows] + rank) >= Q
            new_n = add[rows, slot]
            if full.any():  # a full queue merges its newest cohorts into the last slot
                for r, c, n, p_ in zip(rows[full], cls[full], new_n[full], pos[full], strict=True):
                    old = self.q_cnt[r, p_]
                    tot = old + n
                    self.q_t[r, p_] = (self.q_t[r, p_] * old + t0 * n) / tot
                    self.q_tok[r, p_] = (self.q_tok[r, p_] * old + tok_req[c] * n) / tot
                    self.q_cnt[r, p_] = tot
                keep = ~full
                rows, cls, pos, new_n = rows[keep], cls[keep], pos[keep], new_n[keep]
            self.q_t[rows, pos] = t0
            self.q_tok[rows, pos] = tok_req[cls]
            self.q_cls[rows, pos] = cls
            self.q_cnt[rows, pos] = new_n
            np.add.at(qlen, rows, 1)
            np.minimum(qlen, Q, out=qlen)
        # ---- step times --------------------------------------------------------------------------
        t_dec = self._decode_time(B, cw) * slow if self._t_dec_last is None else self._t_dec_last
        role = self.rep_role
        budget = np.where(role == P.ROLE_PREFILL, dt, np.where(role == P.ROLE_DECODE, 0.0, dt * PREFILL_TIME_SHARE))
        budget = np.where(accepting, budget, 0.0)
        room = np.where(role == P.ROLE_PREFILL, self.rep_bmax, np.maximum(0.0, self.rep_bmax - B))
        t_allow = self._tokens_for_time(budget / slow, cw)
        # ---- admission (FIFO over cohorts), only where a queue exists ------------------------------
        A = np.flatnonzero(self.q_cnt[:, 0] > 1e-12)
        qc, qt, qk, cls0 = self.q_cnt[A], self.q_t[A], self.q_tok[A], self.q_cls[A]
        tok = qc * qk
        cum_n = np.cumsum(qc, axis=1)
        cum_t = np.cumsum(tok, axis=1)
        take = np.minimum(room[A, None] - (cum_n - qc), (t_allow[A, None] - (cum_t - tok)) / np.maximum(qk, 1.0))
        take = np.clip(take, 0.0, qc)
        pf_tokens = np.zeros(n_rep)
        pf_tokens[A] = (take * qk).sum(axis=1)
        pf_time = self._prefill_time(pf_tokens, cw) * slow
        adm = np.zeros((n_rep, self.n_slot))
        ttft_ok = np.zeros_like(take, dtype=bool)
        has = take > 1e-12
        if has.any():
            own = self._prefill_time(qk[:, 0], cw[A], A) * slow[A]  # one head-of-queue prompt
            ttft = (t0 - qt) + (t_dec[A] / 2 + 0.5 * pf_time[A] + 0.5 * own)[:, None]
            if self._has_disagg and len(self.link_ids):  # KV of prefill replicas crosses the fabric
                ttft = ttft + self._kv_transfer_s(tok_req, A, cls0)
            ttft_ok = ttft <= self.cls_slo_ttft[cls0]
            hist = np.bincount(cls0[has] * HIST_BUCKETS + bucket(ttft[has]), weights=take[has],
                               minlength=self.n_cls * HIST_BUCKETS)
            self.w_ttft.push(hist.reshape(self.n_cls, HIST_BUCKETS))
            if self.n_slot == 1:
                adm[A, 0] = take.sum(axis=1)
            else:
                rows = np.broadcast_to(np.arange(len(A))[:, None], take.shape)
                adm[A] = np.bincount((rows * self.n_slot + self.cls_slot[cls0]).ravel(), weights=take.ravel(),
                                     minlength=len(A) * self.n_slot).reshape(len(A), self.n_slot)
        else:
            self.w_ttft.push(np.zeros((self.n_cls, HIST_BUCKETS)))
        self.q_cnt[A] = qc - take
        self._compact_queues(A)
        # disaggregated: prefilled requests move to the deployment's decode replicas
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
                    counts[3] += self._per_class(handoff[None, :], np.maximum(slot_cls, 0)[None, :])
                    continue
                tok_slot = np.where(slot_cls >= 0, tok_req[np.maximum(slot_cls, 0)], 0.0)
                kv_gb = float((handoff * tok_slot).sum()) * self.profiles[self.rep_prof[pre[0]]].kv_bytes_per_token / 1e9
                xfer_gb_s += kv_gb / dt
                share = POLICIES["least-loaded"](View(B[dec] / self.rep_bslo[dec], self.rep_bslo[dec], self.rep_eff[dec], clock[dec]), handoff.sum())
                self.run[dec] += share[:, None] * handoff[None, :]
        self._fabric_load(xfer_gb_s)
        # ---- decode ---------------------------------------------------------------------------------
        B2 = self.run.sum(axis=1)
        t_dec2 = self._decode_time(B2, cw) * slow
        self._t_dec_last = t_dec2
        left = np.where(role == P.ROLE_PREFILL, 0.0, np.maximum(0.0, dt - pf_time))
        left = np.where(up, left, 0.0)
        steps = np.where(B2 > 0, left / t_dec2, 0.0)
        per_req = steps * self.rep_tps  # output tokens each running request gains
        tpot = np.where(per_req > 0, dt / np.maximum(per_req, 1e-12), np.inf)
        # a request generates at most its OSL: one that finishes inside the tick stops
        # there, so output = completions × OSL whatever the tick (token conservation)
        gen = np.minimum(per_req[:, None], self.rep_slot_osl)
        out_rc = self.run * gen  # per replica and slot
        done = self.run * (gen / self.rep_slot_osl)
        self.run -= done
        self.rep_out_s = out_rc.sum(axis=1) / dt
        self.rep_batch = B2
        tp_ok = np.isfinite(tpot)
        if tp_ok.any() and out_rc.sum() > 0:
            rows = np.flatnonzero(tp_ok)
            b = bucket(tpot[rows])
            idx = (self._slot_cls0[rows] * HIST_BUCKETS + b[:, None]).ravel()
            hist = np.bincount(idx, weights=out_rc[rows].ravel(), minlength=self.n_cls * HIST_BUCKETS)
            self.w_tpot.push(hist.reshape(self.n_cls, HIST_BUCKETS))
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
        if has.any():
            tpot_ok = dec_tpot[A, None] <= self.cls_slo_tpot[cls0]
            met = np.bincount(cls0.ravel(), weights=(take * ttft_ok * tpot_ok).ravel(), minlength=self.n_cls)
        counts[0] = self._per_class(adm, self._slot_cls0)
        counts[1] = met
        counts[4] = self._per_class(out_rc, self._slot_cls0)
        self.w_counts.push(counts)
        # ---- power, caps, heat ---------------------------------------------------------------------
        # with less than one request on average (a fluid fraction), the replica runs
        # decode steps only that share of the tick
        self._power_and_heat(B2, steps * t_dec2 * np.minimum(B2, 1.0), pf_time, clock, up)
        # ---- gauges -----------------------------------------------------------------------------------
        self._update_gauges(out_rc.sum(), pf_tokens.sum(), B2, up, qlen)

    def _per_class(self, values: np.ndarray, classes: np.ndarray) -> np.ndarray:
        """Sum per-slot values into per-class totals."""
        return np.bincount(classes.ravel(), weights=values.ravel(), minlength=self.n_cls)[: self.n_cls]

    def _grid_pos(self, B: np.ndarray):
        """Where each replica's batch falls on the shared normalised grid."""
        pos = np.interp(np.minimum(B / self.rep_bmax, 1.0), P.NORM_GRID, self._grid_index)
        i0 = np.minimum(pos.astype(np.int64), len(P.NORM_GRID) - 2)
        return i0, pos - i0

    def _decode_time(self, B: np.ndarray, cw: np.ndarray) -> np.ndarray:
        i0, f = self._grid_pos(B)
        self._last_grid = (B, i0, f)
        pr = self.rep_prof
        t1 = self.prof_tdec[pr, 0, i0] * (1 - f) + self.prof_tdec[pr, 0, i0 + 1] * f
        t2 = self.prof_tdec[pr, 1, i0] * (1 - f) + self.prof_tdec[pr, 1, i0 + 1] * f
        return t1 + (t2 - t1) * cw

    def _prefill_time(self, tokens: np.ndarray, cw: np.ndarray, rows=slice(None)) -> np.ndarray:
        fixed = self.rep_pf_fixed[rows, 0] + (self.rep_pf_fixed[rows, 1] - self.rep_pf_fixed[rows, 0]) * cw
        per = self.rep_pf_per[rows, 0] + (self.rep_pf_per[rows, 1] - self.rep_pf_per[rows, 0]) * cw
        return np.where(tokens > 0, np.maximum(1.0, tokens / self.chunk), 0.0) * fixed + tokens * per

    def _tokens_for_time(self, budget: np.ndarray, cw: np.ndarray) -> np.ndarray:
        fixed = self.rep_pf_fixed[:, 0] + (self.rep_pf_fixed[:, 1] - self.rep_pf_fixed[:, 0]) * cw
        per = self.rep_pf_per[:, 0] + (self.rep_pf_per[:, 1] - self.rep_pf_per[:, 0]) * cw
        return np.maximum(0.0, budget - fixed) / (per + fixed / self.chunk)

    def _compact_queues(self, A: np.ndarray) -> None:
        """Drop emptied cohorts from the head of each FIFO (admission empties a prefix)."""
        qa = self.q_cnt[A]
        qa[qa <= 1e-9] = 0.0
        self.q_cnt[A] = qa
        empty = qa <= 0.0
        shift = np.argmin(empty, axis=1)  # leading empty slots; 0 when the whole row is empty
        rows = A[shift > 0]
        shift = shift[shift > 0]
        if not len(rows):
            return
        cols = np.arange(QUEUE_SLOTS)[None, :] + shift[:, None]
        valid = cols < QUEUE_SLOTS
        cols = np.minimum(cols, QUEUE_SLOTS - 1)
        for arr, fill in ((self.q_cnt, 0.0), (self.q_t, 0.0), (self.q_tok, 1.0), (self.q_cls, 0)):
            moved = np.take_along_axis(arr[rows], cols, axis=1)
            arr[rows] = np.where(valid, moved, fill)

    def _leaf_bw(self) -> np.ndarray:
        """Healthy uplink bandwidth (GB/s) of each switch as a leaf, cached per fabric state."""
        state = (self.link_frac.tobytes(), self.switch_failed.tobytes())
        if getattr(self, "_bw_state", None) != state:
            healthy = self.link_frac * ~self.switch_failed[self.link_b] * ~self.switch_failed[self.link_a]
            bw = np.bincount(self.link_a, weights=self.link_gbs * healthy, minlength=len(self.switch_ids))
            self._leaf_bw_cache = np.where(self.switch_failed, 0.0, bw)
            leaves = self._leaf_bw_cache[np.unique(self.rack_leaf)]
            self._bw_ref = float(np.median(leaves)) if len(leaves) else 0.0  # a typical leaf's uplinks
            self._bw_state = state
        return self._leaf_bw_cache

    def _fabric_load(self, gb_s: float) -> None:
        """KV transfers spread over every healthy leaf-spine link (ECMP)."""
        if not len(self.link_ids):
            return
        healthy = self.link_frac * ~self.switch_failed[self.link_b] * ~self.switch_failed[self.link_a]
        capacity = float((self.link_gbs * healthy).sum())
        self.link_load = np.where(healthy > 0, gb_s / max(capacity, 1e-9), 0.0)

    def _kv_transfer_s(self, tok_req: np.ndarray, rows: np.ndarray, cls: np.ndarray) -> np.ndarray:
        """KV cache transfer time of each queued cohort (``rows`` × slots, class ``cls``)
        admitted by a prefill replica of a disaggregated deployment.

        Prefill and decode replicas sit behind different leaves: the KV crosses the spines,
        limited by the healthy uplink bandwidth of the prefill replica's own leaf, less what
        other transfers use. 0 for aggregated replicas; infinite for a leaf cut off."""
        nbytes = tok_req * self.cls_kv_bytes_per_token
        util = float(np.clip(np.median(self.link_load[self.link_load > 0]) if (self.link_load > 0).any() else 0.0, 0, 0.95))
        lat = float(self.k["scale_out_latency_us"]) * 1e-6
        bw = self._leaf_bw()[self.rack_leaf[self.rep_rack[rows]]] * 1e9 * (1 - util)  # bytes/s per row
        prefill = self.rep_role[rows] == P.ROLE_PREFILL
        with np.errstate(divide="ignore", invalid="ignore"):
            t = lat + nbytes[cls] / bw[:, None]
        return np.where(prefill[:, None], np.where(bw[:, None] > 0, t, np.inf), 0.0)

    def _power_and_heat(self, B, dec_time, pf_time, clock, up) -> None:
        k, dt = self.k, self.dt
        gamma, cexp = float(k["power_gamma"]), float(k["clock_power_exponent"])
        last = getattr(self, "_last_grid", None)
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
        self._gpu_kw = gpu_kw
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
            self._limit_event = getattr(self, "_limit_event", -1e9)
            if self.now - self._limit_event > 300:
                self._limit_event = self.now
                self._event("warning", "site", f"facility {facility / 1000:,.1f} MW at the {limit / 1000:,.1f} MW limit: "
                                               f"GPU clocks lowered to {self.site_clock:.0%}")
        elif facility < limit * HEADROOM * 0.97 and self.site_clock < 1.0:
            self.site_clock = min(1.0, self.site_clock * CLOCK_RECOVERY)
        rack_clock = np.full(n_r, self.site_clock)
        capped = np.isfinite(self.rack_cap_kw)
        if capped.any():
            prev = getattr(self, "_rack_cap_clock", np.ones(n_r))
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
            prev = getattr(self, "_pdu_cap_clock", np.ones(n_p))
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

    def _update_gauges(self, out_tokens, pf_tokens, B, up, qlen) -> None:
        dt = self.dt
        site = self.layout.site
        it_kw = float(self.rack_power_kw.sum())
        fac_kw = it_kw * self.pue
        out_s = out_tokens / dt
        capital_s = self._capex_rate()
        energy_s = fac_kw * site.usd_per_kwh / 3600.0
        opex_s = float(self.rack_gpus.sum()) * site.opex_usd_per_gpu_hr / 3600.0
        cost_s = capital_s + energy_s + opex_s
        w = self.w_counts.sum
        admitted, met, shed, failed, out_c = w[0], w[1], w[2], w[3], w[4]
        denom = admitted.sum() + shed.sum() + failed.sum()
        ttft_all = self.w_ttft.sum.sum(axis=0)
        tpot_all = self.w_tpot.sum.sum(axis=0)
        att = float(met.sum() / denom) if denom > 0 else 1.0
        good = float(np.sum(np.where(admitted > 0, out_c * met / np.maximum(admitted, 1e-9), 0.0)))
        out_window = float(out_c.sum())
        g = self.gauges
        g["output_tok_s"] = out_s
        g["total_tok_s"] = (out_tokens + pf_tokens) / dt
        g["goodput_tok_s"] = out_s * (good / out_window) if out_window > 0 else 0.0
        g["tok_per_joule"] = out_s / (fac_kw * 1000.0) if fac_kw > 0 else 0.0
        g["tok_s_per_mw"] = out_s / (fac_kw / 1000.0) if fac_kw > 0 else 0.0
        g["usd_per_mtok"] = cost_s / out_s * 1e6 if out_s > 0 else math.inf
        g["usd_per_mtok_capital"] = (capital_s + opex_s) / out_s * 1e6 if out_s > 0 else math.inf
        g["usd_per_mtok_energy"] = energy_s / out_s * 1e6 if out_s > 0 else math.inf
        for name, hist in (("ttft", ttft_all), ("tpot", tpot_all)):
            for q, v in zip((50, 95, 99), percentiles(hist, (0.5, 0.95, 0.99)), strict=True):
                g[f"{name}_p{q}_s"] = v
        g["slo_attainment"] = att
        g["queue_depth"] = float(self.q_cnt.sum())
        serving = up & (self.rep_role != P.ROLE_PREFILL)
        cap = float(self.rep_cap_tok_s[serving].sum())
        g["utilisation"] = float(self.rep_out_s[serving].sum() / cap) if cap > 0 else 0.0
        g["it_power_kw"] = it_kw
        g["facility_power_kw"] = fac_kw
        g["envelope_kw"] = site.envelope_kw if self.site_cap_kw is None else min(site.envelope_kw, self.site_cap_kw)
        g["shed_rps"] = float(self._cls_shed_rate.sum())
        g["failed_rps"] = float(failed.sum() / WINDOW_S)
        t = self.totals
        t["output_tokens"] += out_tokens
        t["prefill_tokens"] += pf_tokens
        t["energy_kwh"] += fac_kw * dt / 3600.0
        t["it_kwh"] += it_kw * dt / 3600.0
        t["cost_usd"] += cost_s * dt
        t["capital_usd"] += (capital_s + opex_s) * dt
        t["energy_usd"] += energy_s * dt
        t["seconds"] += dt
        self.run_ttft += self.w_ttft.ring[(self.w_ttft.head - 1) % len(self.w_ttft.ring)]
        self.run_tpot += self.w_tpot.ring[(self.w_tpot.head - 1) % len(self.w_tpot.ring)]
        self.run_counts += self.w_counts.ring[(self.w_counts.head - 1) % len(self.w_counts.ring)]
        self.history.push({"t_s": self.now, **g})

    def _capex_rate(self) -> float:
        """Capital amortisation in $/s for every GPU on the floor (idle or not)."""
        if self._capex_cache is not None:
            return self._capex_cache
        site = self.layout.site
        per = {}
        total = 0.0
        for s, n in zip(self.rack_sku, self.rack_gpus, strict=True):
            if s not in per:
                per[s] = site.capex_usd_per_gpu.get(s, self.catalog.gpu(s).capex_usd_per_gpu)
            total += per[s] * n
        self._capex_cache = total / (site.amortisation_years * 365.25 * 86400)
        return self._capex_cache

    def reset_run_totals(self) -> None:
        """Start the run aggregates afresh (after a warm-up): gauges and windows carry on."""
        for k in self.totals:
            self.totals[k] = 0.0
        self.run_ttft[:] = 0.0
        self.run_tpot[:] = 0.0
        self.run_counts[:] = 0.0

    def note(self, severity: str, source: str, message: str) -> None:
        """Add an event from outside the engine (a scenario, a front end)."""
        self._event(severity, source, message)

    def events_after(self, event_id: int) -> list[S.Event]:
        """Events with an id above ``event_id`` (the last EVENTS_KEPT are kept)."""
        return [e for e in self.events if e.id > event_id]

    def run_summary(self) -> dict[str, float]:
        """Aggregates over everything simulated so far (not averages of windowed gauges)."""
        t = self.totals
        secs = max(t["seconds"], 1e-9)
        out_s = t["output_tokens"] / secs
        fac_kw = t["energy_kwh"] * 3600.0 / secs
        c = self.run_counts
        denom = c[0].sum() + c[2].sum() + c[3].sum()
        ttft = percentiles(self.run_ttft.sum(axis=0), (0.5, 0.95, 0.99))
        tpot = percentiles(self.run_tpot.sum(axis=0), (0.5, 0.95, 0.99))
        mtok = t["output_tokens"] / 1e6
        return {
            "output_tok_s": out_s,
            "total_tok_s": (t["output_tokens"] + t["prefill_tokens"]) / secs,
            "tok_s_per_mw": out_s / (fac_kw / 1000.0) if fac_kw > 0 else 0.0,
            "tok_per_joule": t["output_tokens"] / (t["energy_kwh"] * 3.6e6) if t["energy_kwh"] > 0 else 0.0,
            "usd_per_mtok": t["cost_usd"] / mtok if mtok > 0 else math.inf,
            "usd_per_mtok_capital": t["capital_usd"] / mtok if mtok > 0 else math.inf,
            "usd_per_mtok_energy": t["energy_usd"] / mtok if mtok > 0 else math.inf,
            "ttft_p50_s": ttft[0], "ttft_p95_s": ttft[1], "ttft_p99_s": ttft[2],
            "tpot_p50_s": tpot[0], "tpot_p95_s": tpot[1], "tpot_p99_s": tpot[2],
            "slo_attainment": float(c[1].sum() / denom) if denom > 0 else 1.0,
            "requests": float(c[5].sum()),
            "requests_shed": float(c[2].sum()),
            "requests_failed": float(c[3].sum()),
            "it_power_kw": t["it_kwh"] * 3600.0 / secs,
            "facility_power_kw": fac_kw,
            "energy_mwh": t["energy_kwh"] / 1000.0,
            "cost_usd": t["cost_usd"],
        }

    # =====================================================================================
    def snapshot(self) -> S.Snapshot:
        """A frozen view of the factory now (cheap: summaries, per-rack detail as arrays).

        Cached until time moves or anything happens, so several readers of one instant
        (a scenario's conditions, a front end) share it."""
        key = (self.now, self._event_id)
        cached = getattr(self, "_snap_cache", None)
        if cached is not None and cached[0] == key:
            return cached[1]
        snap = self._build_snapshot()
        self._snap_cache = (key, snap)
        return snap

    def _build_snapshot(self) -> S.Snapshot:
        n_r = len(self.rack_ids)
        state = np.full(n_r, S.RACK_OK, dtype=np.uint8)
        degraded = (self.rack_slow > 1.0) | (self.rack_nvlink < 1.0)
        state[degraded] = S.RACK_DEGRADED
        state[self.rack_drained] = S.RACK_DRAINED
        for rk, _node in self.node_slow:
            state[rk] = S.RACK_DEGRADED
        state[self.throttled | (self.cap_clock < 0.999)] = S.RACK_THROTTLED
        state[self.rack_swapping] = S.RACK_SWAPPING
        down = ~getattr(self, "rack_powered", np.ones(n_r, bool)) | self.rack_failed | self.rack_tripped | self.switch_failed[self.rack_leaf]
        for (rk, _node), cnt in self.node_faults.items():
            if cnt > 0 and state[rk] == S.RACK_OK:
                state[rk] = S.RACK_DEGRADED
        state[down & ~self.rack_swapping] = S.RACK_DOWN

        def ro(a):
            a = np.array(a, copy=True)
            a.setflags(write=False)
            return a

        n_reps = np.bincount(self.rep_rack, minlength=n_r)
        n_up = np.bincount(self.rep_rack, weights=self.rep_up.astype(float), minlength=n_r).astype(int)
        racks = S.Racks(tuple(self.rack_ids), tuple(self.rack_row), tuple(self.rack_sku), ro(state), ro(self.rack_util),
                        ro(self.rack_power_kw), ro(self.gpu_temp_c),
                        ro(np.minimum(self.cap_clock, np.where(self.throttled, float(self.k["throttle_clock"]), 1.0))),
                        ro(n_reps), ro(n_up))
        power = []
        for i, f in enumerate(self.feed_ids):
            st = "failed" if self.feed_failed[i] else ("overloaded" if self.feed_load[i] > self.feed_cap[i] else "ok")
            power.append(S.Power(f, "feed", float(self.feed_load[i]), float(self.feed_cap[i]), None, st, ""))
        for i, p in enumerate(self.pdu_ids):
            if self.pdu_failed[i]:
                st = "failed"
            elif self.pdu_tripped[i]:
                st = "tripped"
            elif self.feed_failed[self.pdu_feed[i]]:
                st = "unpowered"
            elif self.pdu_load[i] > 0.8 * self.pdu_cap[i]:
                st = "overloaded" if self.pdu_load[i] > self.pdu_cap[i] else "high"
            else:
                st = "ok"
            cap = None if not np.isfinite(self.pdu_cap_kw[i]) else float(self.pdu_cap_kw[i])
            power.append(S.Power(p, "pdu", float(self.pdu_load[i]), float(self.pdu_cap[i]), cap, st, self.feed_ids[self.pdu_feed[i]]))
        loops = []
        for i, lp in enumerate(self.loop_ids):
            m = self.rack_loop == i
            st = "failed" if self.loop_failed[i] else ("overloaded" if self.loop_load[i] > self.loop_cap[i] else "ok")
            loops.append(S.Loop(lp, float(self.loop_load[i]), float(self.loop_cap[i]), st, int(m.sum()),
                                float(self.gpu_temp_c[m].max()) if m.any() else 0.0))
        n_sw = len(self.switch_ids)
        racks_per = np.bincount(self.rack_leaf, minlength=n_sw)
        down = (self.link_frac <= 0) | self.switch_failed[self.link_a] | self.switch_failed[self.link_b]
        degraded = (self.link_frac > 0) & (self.link_frac < 1) & ~down
        ends = np.concatenate([self.link_a, self.link_b])
        n_links = np.bincount(ends, minlength=n_sw)
        n_down = np.bincount(ends, weights=np.concatenate([down, down]).astype(float), minlength=n_sw).astype(int)
        n_deg = np.bincount(ends, weights=np.concatenate([degraded, degraded]).astype(float), minlength=n_sw).astype(int)
        switches = tuple(S.Switch(s, self.switch_tier[i], "failed" if self.switch_failed[i] else "ok", int(racks_per[i]),
                                  int(n_links[i]), int(n_down[i]), int(n_deg[i])) for i, s in enumerate(self.switch_ids))
        bad = np.flatnonzero((self.link_frac < 1.0) | self.switch_failed[self.link_b] | self.switch_failed[self.link_a])
        busy = np.argsort(-self.link_load, kind="stable")[:8]
        show = sorted(set(bad.tolist()) | set(busy.tolist()))[:200]
        links = tuple(S.Link(self.link_ids[i], self.switch_ids[self.link_a[i]], self.switch_ids[self.link_b[i]], float(self.link_gbs[i]),
                             float(self.link_frac[i] * (not self.switch_failed[self.link_b[i]]) * (not self.switch_failed[self.link_a[i]])),
                             float(self.link_load[i])) for i in show)
        B = self.run.sum(axis=1)
        deps = []
        out_rep = getattr(self, "rep_out_s", np.zeros(len(B)))
        for d, idx in enumerate(self.dep_reps):
            dcls = [c for c in range(self.n_cls) if self.cls_dep[c] == d]
            tt = self.w_ttft.sum[dcls].sum(axis=0) if dcls else np.zeros(HIST_BUCKETS)
            tp = self.w_tpot.sum[dcls].sum(axis=0) if dcls else np.zeros(HIST_BUCKETS)
            dep = self.layout.deployments[d]
            n_up = int(self.rep_up[idx].sum())
            deps.append(S.Deployment(dep.id, dep.model, dep.precision, int(self.rep_gpus[idx[0]]) if len(idx) else 0,
                                     int(self.rep_enabled[idx].sum()), n_up, int((self.rep_role[idx] == P.ROLE_PREFILL).sum()),
                                     float(self.q_cnt[idx].sum()), float(B[idx].sum()),
                                     float(B[idx][self.rep_up[idx]].mean()) if n_up else 0.0, float(out_rep[idx].sum()),
                                     percentile(tt, 0.95), percentile(tp, 0.95)))
        w = self.w_counts.sum
        classes = []
        for c, sh in enumerate(self.shapes):
            den = w[0, c] + w[2, c] + w[3, c]
            classes.append(S.WorkloadClass(sh.id, self.dep_ids[sh.deployment], float(self._cls_tick_rate[c]),
                                           percentile(self.w_ttft.sum[c], 0.95), percentile(self.w_tpot.sum[c], 0.95),
                                           sh.slo_ttft_s, sh.slo_tpot_s, float(w[1, c] / den) if den > 0 else 1.0,
                                           float(self._cls_shed_rate[c])))
        faults = tuple((f.component, f.kind, f.until) for comp in sorted(self.faults) for f in self.faults[comp].values())
        return S.Snapshot(
            t_s=self.now, layout=self.layout.name, routing=self.policy, faults_enabled=self.faults_enabled,
            gauges=dict(self.gauges), history=self.history.read(), racks=racks, power=tuple(power), loops=tuple(loops),
            switches=switches, links=links, deployments=tuple(deps), classes=tuple(classes), events=tuple(list(self.events)[-200:]),
            active_faults=faults, surge=self.surge, site_cap_kw=self.site_cap_kw,
        )
