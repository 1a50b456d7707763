"""The simulated AI factory: an integer tick clock, pending records, numpy owns the flow.

Time advances in ticks of ``dt`` seconds. Before each tick's flow, the pending records
due by the start of that tick run (repairs, surges ending, swaps finishing, random faults — see
``schedule.py``). Each tick then updates every replica at once, as rows of arrays:

arrivals (Poisson per class) → routing (a vectorised split) → per-replica FIFO queues of
cohorts → admission (KV room and a prefill time budget) → prefill and decode from the
serving model's tables → completions → power, caps and heat → metrics.

A cohort is the requests of one class that reached one replica in one tick: it keeps its
own queueing delay, so TTFT percentiles stay right while the cost grows with replicas ×
ticks, not with requests. Front ends use two doors only: ``apply(command)`` and
``snapshot()``, plus ``advance_to(t)``; ``checkpoint()``/``restore()`` save and load
the whole state.

The state lives in the concern modules this class combines, each declaring the fields
it owns in a ``STATE_*`` tuple (checkpointed); everything else is built from the layout.

SimPy drives time: one process on a ``simpy.Environment`` whose clock counts ticks
(integers) runs a tick every step. The discrete happenings are records in ``schedule``
(not SimPy processes), run by the tick they are due in, so the Environment holds nothing
but the ticker and is rebuilt from ``tick_n`` on restore — an integer clock plus records
is what makes a checkpoint exact. Measured: SimPy costs ~1 µs per tick advancing in large
steps and ~3.5 µs when the TUI advances tick by tick, under 1 % of a tick of ``default``.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import simpy

from twin.core import commands as C
from twin.core.catalog import Catalog, load_catalog
from twin.core.engine import plan as P
from twin.core.engine import snapshot as S
from twin.core.engine.actions import HANDLERS, preview_swap
from twin.core.engine.checkpoint import Checkpointing
from twin.core.engine.fabric import Fabric
from twin.core.engine.faults import Faults
from twin.core.engine.flow import Flow, TickVars
from twin.core.engine.health import Health
from twin.core.engine.lengths import Lengths
from twin.core.engine.metrics import Metrics
from twin.core.engine.power import Power
from twin.core.engine.replicas import Replicas
from twin.core.engine.rows import Rows, weighted_default
from twin.core.engine.schedule import Schedule
from twin.core.engine.sessions import Sessions
from twin.core.engine.snapshot import Snapshots
from twin.core.engine.topology import EngineError, Topology
from twin.core.layout import Layout

__all__ = ["Factory", "EngineError"]

EVENTS_KEPT = S.EVENTS_KEPT
#: The simulated clock starts at this hour of the day (diurnal curves are by hour).
START_HOUR = 12.0


def default_tick(layout: Layout) -> float:
    """One second of simulated time: latency inside a tick is computed, not stepped."""
    return 1.0


class Factory(
    Topology,
    Health,
    Faults,
    Replicas,
    Rows,
    Lengths,
    Sessions,
    Flow,
    Fabric,
    Power,
    Metrics,
    Snapshots,
    Checkpointing,
):
    """A running simulation of one layout. Deterministic for a seed and a command log."""

    STATE_CLOCK = (
        "tick_n",
        "_now",
        "schedule",
        "rng_arrivals",
        "rng_faults",
        "events",
        "_event_id",
    )

    def __init__(
        self,
        layout: Layout,
        catalog: Catalog | None = None,
        seed: int | None = None,
        faults: bool = False,
        start_hour: float = START_HOUR,
        tick_s: float | None = None,
    ):
        self.layout = layout
        self.catalog = catalog or load_catalog()
        self.k = self.catalog.constants
        self.seed = layout.seed if seed is None else int(seed)
        self.dt = float(tick_s or layout.tick_s or default_tick(layout))
        self.start_hour = start_hour
        self.pue = layout.site.pue
        self.tick_n = 0  # ticks run so far; the last one ran at tick_n × dt
        self._now = 0.0
        self.schedule = Schedule()
        self.rng_arrivals = np.random.default_rng([self.seed, 1])
        self.rng_faults = np.random.default_rng([self.seed, 2])
        self.events: deque[S.Event] = deque(maxlen=EVENTS_KEPT)
        self._event_id = 0
        self._snap_cache = None
        # bumped whenever a command or a due record may have changed health, drains,
        # stragglers or the fabric: the key of flow.py's derived-array caches
        self._input_v = 0
        self._init_topology(layout)
        self._init_health()
        self.policy = layout.routing
        self.surge = 1.0
        self.class_surge = np.ones(self.n_cls)
        self._cls_tick_rate = np.zeros(self.n_cls)
        self._cls_shed_rate = np.zeros(self.n_cls)
        # flow.py: the tick's fixed per-class figures as floats, and zeros nothing writes to
        self._cls_rate_list, self._cls_burst_list = self.cls_rate.tolist(), self.cls_burst.tolist()
        self._zeros_cls = np.zeros(self.n_cls)
        self.faults_enabled = False
        self.scale_to: dict[int, int] = {}  # deployment index -> replicas serving (scale)
        self._grid_index = np.arange(len(P.NORM_GRID), dtype=float)
        self._rack_figures()
        self._init_lengths()  # per-class length bins, before the replicas use them
        self._init_sessions()  # agentic sessions' tool pauses
        self.rows_weighted = weighted_default()  # rows.py: identical replicas as one row
        self._build_replicas()
        self._init_fabric()
        self._init_power()
        self._init_metrics()
        self._event(
            "info",
            layout.name,
            f"factory started: {len(layout.racks):,} racks, {int(self.rack_gpus.sum()):,} GPUs, "
            f"{len(self.rep_dep):,} replicas, routing {self.policy}",
        )
        if faults:
            self._set_faults(True)
        self._start_clock()

    # =====================================================================================
    # the doors
    @property
    def now(self) -> float:
        return self._now

    def advance_to(self, t_s: float) -> None:
        """Run the simulation until simulated time ``t_s`` (no-op if already there).

        The tick at time t covers (t - dt, t]: advancing to ``t_s`` runs every tick up to
        and including ``t_s``, so a run of T seconds integrates exactly T seconds, and a
        command applied at ``t_s`` takes effect from the next tick on."""
        if t_s <= self._now:
            return
        tol = t_s + 1e-9 * self.dt
        last = max(self.tick_n, math.floor(t_s / self.dt))
        while (last + 1) * self.dt <= tol:
            last += 1
        while last > self.tick_n and last * self.dt > tol:
            last -= 1
        if last > self.tick_n:
            try:
                self.env.run(until=last + 0.5)  # ticks at integer times: up to ``last``
            except BaseException:
                self._start_clock()  # a tick that raised ended the ticker: start a new one
                raise
        self._now = float(t_s)

    def apply(self, cmd: C.Command) -> str:
        """Apply a command at the current simulated time; returns what happened.

        Raises ``TwinError`` (one line, naming the command) for anything that cannot
        apply; the simulation is unchanged then.
        """
        if isinstance(cmd, C.SessionCommand):
            raise EngineError(f"{cmd.verb}: a front-end command; the engine does not take it")
        handler = HANDLERS.get(type(cmd))
        if handler is None:
            raise EngineError(f"{cmd.verb}: not supported by the engine")
        try:
            msg = handler(self, cmd)
        finally:
            self._input_v += 1  # flow.py's caches: the command may have changed their inputs
        self._event("info", "operator", f"{cmd.text}: {msg}")
        return msg

    def swap_warning(self, target: str, gpu: str) -> str:
        """What ``swap TARGET GPU`` would warn of if applied now (its racks' PDUs over their
        rating at the new GPUs' peak power), for a front end to ask before; '' if nothing."""
        return preview_swap(self, target, gpu)

    def note(self, severity: str, source: str, message: str) -> None:
        """Add an event from outside the engine (a scenario, a front end)."""
        self._event(severity, source, message)

    def events_after(self, event_id: int) -> list[S.Event]:
        """Events with an id above ``event_id`` (the last EVENTS_KEPT are kept)."""
        return [e for e in self.events if e.id > event_id]

    # =====================================================================================
    # the clock
    def _start_clock(self) -> None:
        """A fresh Environment at the current tick, with the ticker as its one process."""
        self.env = simpy.Environment(initial_time=self.tick_n)
        self.env.process(self._ticker())

    def _ticker(self):
        """Each tick: the pending records due, then the flow (``_tick``)."""
        while True:
            yield self.env.timeout(1)
            self.tick_n += 1
            self._now = self.tick_n * self.dt
            self._run_due()
            self._tick()

    def _event(self, severity: str, source: str, message: str) -> None:
        self._event_id += 1
        self.events.append(S.Event(self._event_id, round(self.now, 3), severity, source, message))

    def _run_due(self) -> None:
        """Before tick k (which covers ((k-1)·dt, k·dt]), run the records due at or before
        (k-1)·dt, in the order they were scheduled: a repair due at t acts from t on, and
        the state read at t is still the one before it (as for a command applied at t)."""
        while (rec := self.schedule.pop_due(self.tick_n - 1)) is not None:
            self._input_v += 1  # a repair, a swap or a fault changes what flow.py caches
            PENDING[rec.kind](self, rec.target, *rec.args)

    def _on_surge_end(self, workload: str) -> None:
        if not workload:
            self.surge = 1.0
        else:
            self.class_surge[self.cls_ids.index(workload)] = 1.0
        self._event("info", workload or "demand", "surge over")

    def _tick(self) -> None:
        k = TickVars()
        self._serving_health(k)  # which replicas serve; requests on lost ones
        self._clocks(k)  # caps, throttling, stragglers
        self._rows(k)  # rows of identical replicas split and merge; requests on lost ones
        self._arrivals(k)  # Poisson (and bursts) per class
        self._serve(k)  # routing, FIFO admission, KV handoff, decode: one compiled call
        k.it_kw = self._power_and_heat(k.dyn_full, k.clock_r)
        self._record_tick(k)


#: What each kind of pending record does when it is due: (factory, target, *args).
PENDING = {
    "repair": Factory._on_repair,
    "surge-end": Factory._on_surge_end,
    "swap-done": Factory._on_swap_done,
    "random-fault": lambda f, kind: f._on_random_fault(kind),
}
