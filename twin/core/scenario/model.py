"""The scenario data model: Scenario, Event, Expectation, Condition and the condition vocabulary."""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twin.core import commands as C
from twin.core.engine import Factory
from twin.core.layout import Layout
from twin.core.scenario.drill import DRILL_KEYS, DURING, Drill
from twin.core.vocab import CONDITION_KINDS

SCENARIO_KEYS = (
    "name",
    "description",
    "layout",
    "overrides",
    "seed",
    "duration",
    "warmup",
    "tick",
    "faults",
    "events",
    "expect",
    "abort_if",
    "recorded",
    *DRILL_KEYS,
)
OPS: dict[str, Callable[[Any, Any], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
    "==": operator.eq,
    "!=": operator.ne,
}
#: Fields of components that conditions can read, by kind.
COMPONENT_FIELDS = {
    "rack": ("temp_c", "power_kw", "utilisation", "clock", "state"),
    "pdu": ("load_kw", "capacity_kw", "state"),
    "feed": ("load_kw", "capacity_kw", "state"),
    "loop": ("load_kw", "capacity_kw", "hottest_c", "state"),
    "deployment": ("replicas_up", "queue", "running", "output_tok_s", "ttft_p95_s", "tpot_p95_s"),
    "class": ("rate_rps", "ttft_p95_s", "tpot_p95_s", "slo_attainment", "shed_rps"),
}
_COND = re.compile(
    r"^\s*(?:(?P<kind>"
    + "|".join(CONDITION_KINDS)
    + r")\s+(?P<id>\S+)\s+)?(?P<metric>[a-z_0-9]+)\s*"
    r"(?P<op><=|>=|==|!=|<|>)\s*(?P<value>\S+)\s*(?P<rest>.*)$"
)
_WINDOW = DURING  # one pattern for expectations and drill objectives


# ---------------------------------------------------------------------------------------
# the model


@dataclass(frozen=True)
class Condition:
    """``[kind id] metric op value``; evaluated against the factory at an instant."""

    text: str
    metric: str
    op: str
    value: float | str
    kind: str | None = None
    target: str | None = None

    def observe(self, f: Factory) -> float | str:
        return observe(f, self)

    def holds(self, observed: float | str) -> bool:
        if isinstance(observed, float) and math.isnan(observed):
            return False
        try:
            return bool(OPS[self.op](observed, self.value))
        except TypeError:
            return False


@dataclass(frozen=True)
class Event:
    line: int
    commands: tuple[C.Command, ...]
    at_s: float | None = None
    every_s: float | None = None
    start_s: float = 0.0
    until_s: float | None = None
    when: Condition | None = None
    once: bool = True
    #: A recording's: who gave the command (absent or ``script``: the scenario's own), …
    by: str | None = None
    #: … an instructor's inject (``shown`` or ``hidden``: part of the exercise, not an answer),
    inject: str | None = None
    #: … or a drill hint taken (no command).
    hint: bool = False

    @property
    def submitted(self) -> bool:
        """Given live by a person (an operator's command, an inject, a hint): replayed after
        the checkpoint at its time, in the order given, as the live session applied it."""
        return self.hint or self.by not in (None, "script")


@dataclass(frozen=True)
class Expectation:
    line: int
    text: str
    cond: Condition
    mode: str  # "at" | "during" | "always" | "end" | "overall"
    at_s: float | None = None
    start_s: float | None = None
    end_s: float | None = None


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    file: str
    layout: Layout
    seed: int
    duration_s: float
    warmup_s: float
    tick_s: float | None
    faults: bool
    events: tuple[Event, ...]
    expect: tuple[Expectation, ...]
    abort_if: tuple[Condition, ...]
    recorded: bool = False  # a session recording: expectations past its end are not evaluated
    drill: Drill | None = None  # objectives, critical tasks, reference, hints (a drill)


# ---------------------------------------------------------------------------------------
# parsing


def observe(f: Factory, c: Condition) -> float | str:
    if c.kind is None:
        if c.metric == "active_faults":
            return float(len(f.faults))
        if c.metric == "critical_events":
            return float(sum(1 for e in f.events if e.severity == "critical"))
        if c.metric == "t_s":
            return f.now
        return float(f.gauges.get(c.metric, math.nan))
    return _component(f, c.kind, c.target, c.metric)


def _component(f: Factory, kind: str, target: str, metric: str) -> float | str:
    if kind == "rack":
        i = f.rack_index.get(target)
        if i is None:
            return math.nan
        if metric == "state":
            from twin.core.engine.snapshot import RACK_STATE_NAMES as names

            return names[int(f.snapshot().racks.state[i])]
        if metric == "clock":
            return float(
                f.snapshot().racks.clock[i]
            )  # the effective clock: caps and thermal throttling
        arr = {"temp_c": f.gpu_temp_c, "power_kw": f.rack_power_kw, "utilisation": f.rack_util}[
            metric
        ]
        return float(arr[i])
    if kind in ("pdu", "feed", "loop"):
        snap = f.snapshot()
        items = {p.id: p for p in snap.power} if kind != "loop" else {x.id: x for x in snap.loops}
        item = items.get(target)
        return math.nan if item is None else getattr(item, metric)
    snap = f.snapshot()
    items = {d.id: d for d in (snap.deployments if kind == "deployment" else snap.classes)}
    item = items.get(target)
    return math.nan if item is None else float(getattr(item, metric))
