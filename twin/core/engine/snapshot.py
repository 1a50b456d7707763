"""What front ends see of the engine: frozen values, built once per frame.

A snapshot never shares mutable state with the engine: per-rack detail travels as
read-only numpy arrays (cheap for a 1,000-rack factory), everything else as small frozen
dataclasses and tuples.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from twin.core import kpis
from twin.core.engine import plan as P
from twin.core.engine.metrics import HIST_BUCKETS, percentile

#: The gauge keys of the built-in metrics, in display order; the same names as the JSON
#: report's ``summary`` (the registry, ``twin.core.kpis``, is where they are defined).
GAUGE_KEYS = kpis.gauge_keys()

# Rack states, in order of precedence when several apply.
RACK_OK, RACK_DRAINED, RACK_THROTTLED, RACK_DEGRADED, RACK_SWAPPING, RACK_DOWN = range(6)
RACK_STATE_NAMES = ("ok", "drained", "throttled", "degraded", "swapping", "down")

#: Events a factory keeps (oldest dropped).
EVENTS_KEPT = 500


@dataclass(frozen=True)
class Event:
    id: int
    t_s: float
    severity: str  # "info" | "warning" | "critical"
    source: str  # the component or subsystem it concerns
    message: str


@dataclass(frozen=True)
class Racks:
    """Per-rack detail as read-only arrays, in layout order (``ids[i]`` is rack i)."""

    ids: tuple[str, ...]
    rows: tuple[str, ...]
    gpu: tuple[str, ...]  # current SKU (changes after a swap)
    state: np.ndarray  # uint8, RACK_* codes
    utilisation: (
        np.ndarray
    )  # output over capacity at the SLO pace: 1 = at the knee; above 1 under overload
    power_kw: np.ndarray
    temp_c: np.ndarray  # hottest GPU
    clock: np.ndarray  # 1 = full clocks; < 1 capped or throttled
    replicas: np.ndarray | None = None  # replicas whose first GPU is in the rack
    replicas_up: np.ndarray | None = None


@dataclass(frozen=True)
class Power:
    id: str
    kind: str  # "feed" | "pdu"
    load_kw: float
    capacity_kw: float
    cap_kw: float | None
    state: str  # "ok" | "failed" | "unpowered" | "overloaded"
    feeds: str  # the feed of a PDU; "" for a feed


@dataclass(frozen=True)
class Loop:
    id: str
    load_kw: float
    capacity_kw: float
    state: str  # "ok" | "failed" | "overloaded"
    racks: int
    hottest_c: float


@dataclass(frozen=True)
class Switch:
    id: str
    tier: str
    state: str  # "ok" | "failed"
    racks: int
    links: int = 0  # leaf-spine links on this switch
    links_down: int = 0  # of which down (failed link, or the switch at the other end failed)
    links_degraded: int = 0


@dataclass(frozen=True)
class Link:
    id: str
    a: str
    b: str
    gb_s: float
    capacity_fraction: float  # 0 down, (0,1) degraded, 1 ok
    load: float  # offered traffic over capacity (KV transfers)


@dataclass(frozen=True)
class Deployment:
    id: str
    model: str
    precision: str
    gpus_per_replica: int
    replicas: int
    replicas_up: int
    prefill_replicas: int  # > 0 when disaggregated
    queue: float
    running: float
    batch_mean: float
    output_tok_s: float
    ttft_p95_s: float
    tpot_p95_s: float


@dataclass(frozen=True)
class WorkloadClass:
    id: str
    deployment: str
    rate_rps: float
    ttft_p95_s: float
    tpot_p95_s: float
    slo_ttft_s: float
    slo_tpot_s: float
    slo_attainment: float
    shed_rps: float


@dataclass(frozen=True)
class Snapshot:
    t_s: float
    layout: str
    routing: str
    faults_enabled: bool
    gauges: Mapping[str, float]
    history: Mapping[str, np.ndarray]  # gauge key -> recent values (oldest first), and "t_s"
    racks: Racks
    power: tuple[Power, ...]
    loops: tuple[Loop, ...]
    switches: tuple[Switch, ...]
    links: tuple[Link, ...]  # only links that are not fully ok, plus the busiest few
    deployments: tuple[Deployment, ...]
    classes: tuple[WorkloadClass, ...]
    events: tuple[Event, ...]  # the most recent, oldest first
    active_faults: tuple[tuple[str, str, float], ...]  # (component, kind, repair at t_s or inf)
    surge: float
    site_cap_kw: float | None


class Snapshots:
    """Builds the frozen ``Snapshot`` from the engine's arrays (cached per instant)."""

    def snapshot(self) -> Snapshot:
        """A frozen view of the factory now (cheap: summaries, per-rack detail as arrays).

        Cached until time moves or anything happens, so several readers of one instant
        (a scenario's conditions, a front end) share it."""
        key = (self.now, self._event_id)
        cached = self._snap_cache
        if cached is not None and cached[0] == key:
            return cached[1]
        snap = self._build_snapshot()
        self._snap_cache = (key, snap)
        return snap

    def _build_snapshot(self) -> Snapshot:
        n_r = len(self.rack_ids)
        state = np.full(n_r, RACK_OK, dtype=np.uint8)
        degraded = (self.rack_slow > 1.0) | (self.rack_nvlink < 1.0)
        state[degraded] = RACK_DEGRADED
        state[self.rack_drained] = RACK_DRAINED
        for rk, _node in self.node_slow:
            state[rk] = RACK_DEGRADED
        state[self.throttled | (self.cap_clock < 0.999)] = RACK_THROTTLED
        state[self.rack_swapping] = RACK_SWAPPING
        down = (
            ~self.rack_powered
            | self.rack_failed
            | self.rack_tripped
            | self.switch_failed[self.rack_leaf]
        )
        for (rk, _node), cnt in self.node_faults.items():
            if cnt > 0 and state[rk] == RACK_OK:
                state[rk] = RACK_DEGRADED
        state[down & ~self.rack_swapping] = RACK_DOWN

        def ro(a):
            a = np.array(a, copy=True)
            a.setflags(write=False)
            return a

        n_reps = np.bincount(self.rep_rack, minlength=n_r)
        n_up = np.bincount(self.rep_rack, weights=self.rep_up.astype(float), minlength=n_r).astype(
            int
        )
        racks = Racks(
            tuple(self.rack_ids),
            tuple(self.rack_row),
            tuple(self.rack_sku),
            ro(state),
            ro(self.rack_util),
            ro(self.rack_power_kw),
            ro(self.gpu_temp_c),
            ro(
                np.minimum(
                    self.cap_clock, np.where(self.throttled, float(self.k["throttle_clock"]), 1.0)
                )
            ),
            ro(n_reps),
            ro(n_up),
        )
        power = []
        for i, f in enumerate(self.feed_ids):
            st = (
                "failed"
                if self.feed_failed[i]
                else ("overloaded" if self.feed_load[i] > self.feed_cap[i] else "ok")
            )
            power.append(
                Power(f, "feed", float(self.feed_load[i]), float(self.feed_cap[i]), None, st, "")
            )
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
            power.append(
                Power(
                    p,
                    "pdu",
                    float(self.pdu_load[i]),
                    float(self.pdu_cap[i]),
                    cap,
                    st,
                    self.feed_ids[self.pdu_feed[i]],
                )
            )
        loops = []
        for i, lp in enumerate(self.loop_ids):
            m = self.rack_loop == i
            cap = self.loop_cap[i] * self.loop_frac[i]
            st = (
                "failed"
                if self.loop_failed[i]
                else ("overloaded" if self.loop_load[i] > cap else "ok")
            )
            loops.append(
                Loop(
                    lp,
                    float(self.loop_load[i]),
                    float(cap),
                    st,
                    int(m.sum()),
                    float(self.gpu_temp_c[m].max()) if m.any() else 0.0,
                )
            )
        n_sw = len(self.switch_ids)
        racks_per = np.bincount(self.rack_leaf, minlength=n_sw)
        down = (
            (self.link_frac <= 0)
            | self.switch_failed[self.link_a]
            | self.switch_failed[self.link_b]
        )
        degraded = (self.link_frac > 0) & (self.link_frac < 1) & ~down
        ends = np.concatenate([self.link_a, self.link_b])
        n_links = np.bincount(ends, minlength=n_sw)
        n_down = np.bincount(
            ends, weights=np.concatenate([down, down]).astype(float), minlength=n_sw
        ).astype(int)
        n_deg = np.bincount(
            ends, weights=np.concatenate([degraded, degraded]).astype(float), minlength=n_sw
        ).astype(int)
        switches = tuple(
            Switch(
                s,
                self.switch_tier[i],
                "failed" if self.switch_failed[i] else "ok",
                int(racks_per[i]),
                int(n_links[i]),
                int(n_down[i]),
                int(n_deg[i]),
            )
            for i, s in enumerate(self.switch_ids)
        )
        bad = np.flatnonzero(
            (self.link_frac < 1.0)
            | self.switch_failed[self.link_b]
            | self.switch_failed[self.link_a]
        )
        busy = np.argsort(-self.link_load, kind="stable")[:8]
        show = sorted(set(bad.tolist()) | set(busy.tolist()))[:200]
        links = tuple(
            Link(
                self.link_ids[i],
                self.switch_ids[self.link_a[i]],
                self.switch_ids[self.link_b[i]],
                float(self.link_gbs[i]),
                float(
                    self.link_frac[i]
                    * (not self.switch_failed[self.link_b[i]])
                    * (not self.switch_failed[self.link_a[i]])
                ),
                float(self.link_load[i]),
            )
            for i in show
        )
        B = self.per_replica(self.run.sum(axis=1))  # rows.py: a replica's is its row's
        Q = self.per_replica(self.q_cnt.sum(axis=1))
        deps = []
        out_rep = self.rep_out_s
        for d, idx in enumerate(self.dep_reps):
            dcls = [c for c in range(self.n_cls) if self.cls_dep[c] == d]
            tt = self.w_ttft.sum[dcls].sum(axis=0) if dcls else np.zeros(HIST_BUCKETS)
            tp = self.w_tpot.sum[dcls].sum(axis=0) if dcls else np.zeros(HIST_BUCKETS)
            dep = self.layout.deployments[d]
            n_up = int(self.rep_up[idx].sum())
            deps.append(
                Deployment(
                    dep.id,
                    dep.model,
                    dep.precision,
                    int(self.rep_gpus[idx[0]]) if len(idx) else 0,
                    int(self.rep_enabled[idx].sum()),
                    n_up,
                    int(((self.rep_role[idx] == P.ROLE_PREFILL) & self.rep_enabled[idx]).sum()),
                    float(Q[idx].sum()),
                    float(B[idx].sum()),
                    float(B[idx][self.rep_up[idx]].mean()) if n_up else 0.0,
                    float(out_rep[idx].sum()),
                    percentile(tt, 0.95),
                    percentile(tp, 0.95),
                )
            )
        w = self.w_counts.sum
        classes = []
        for c, sh in enumerate(self.shapes):
            den = w[0, c] + w[2, c] + w[3, c] + w[6, c]
            classes.append(
                WorkloadClass(
                    sh.id,
                    self.dep_ids[sh.deployment],
                    float(self._cls_tick_rate[c]),
                    percentile(self.w_ttft.sum[c], 0.95),
                    percentile(self.w_tpot.sum[c], 0.95),
                    sh.slo_ttft_s,
                    sh.slo_tpot_s,
                    min(1.0, max(0.0, float(w[1, c] / den))) if den > 0 else 1.0,
                    float(self._cls_shed_rate[c]),
                )
            )
        faults = tuple(
            (f.component, f.kind, f.until)
            for comp in sorted(self.faults)
            for f in self.faults[comp].values()
        )
        return Snapshot(
            t_s=self.now,
            layout=self.layout.name,
            routing=self.policy,
            faults_enabled=self.faults_enabled,
            gauges=dict(self.gauges),
            history=self.history.read(),
            racks=racks,
            power=tuple(power),
            loops=tuple(loops),
            switches=switches,
            links=links,
            deployments=tuple(deps),
            classes=tuple(classes),
            events=tuple(list(self.events)[-200:]),
            active_faults=faults,
            surge=self.surge,
            site_cap_kw=self.site_cap_kw,
        )
