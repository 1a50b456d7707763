"""Scenario files: drills, what-ifs and regression runs in one format.

A scenario names a layout (with optional overrides), a seed, a duration and a warm-up;
``events`` apply commands at a time, ``every`` some interval, or ``when`` a condition
becomes true; ``expect`` asserts on metrics and states; ``abort_if`` stops a run early.
Times in a scenario count from the end of the warm-up. Metric names are the report's
keys; conditions may also name a component: ``rack r07 temp_c > 35``.

This module parses and validates (every mistake as ``FILE:LINE: message``) and runs a
scenario headless against the engine; front ends (``twin run``, the TUI) drive it.
"""

from __future__ import annotations

import dataclasses
import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from twin.core import commands as C
from twin.core.catalog import Catalog, load_catalog
from twin.core.engine import Factory
from twin.core.engine.snapshot import GAUGE_KEYS, RACK_STATE_NAMES
from twin.core.errors import InputError, Problem, TwinError
from twin.core.layout import Layout, load_layout
from twin.core.report import Recorder, report
from twin.core.units import parse_duration_s, parse_power_kw
from twin.core.yamlsrc import Reader, YList, YMap, boolean, integer, load_file

SCENARIO_KEYS = ("name", "description", "layout", "overrides", "seed", "duration", "warmup", "tick", "faults",
                 "events", "expect", "abort_if")
OPS: dict[str, Callable[[Any, Any], bool]] = {"<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt,
                                              "==": operator.eq, "!=": operator.ne}
#: Metrics a condition may use besides the gauges: run aggregates and counts.
EXTRA_METRICS = ("active_faults", "critical_events", "t_s")
#: Fields of components that conditions can read, by kind.
COMPONENT_FIELDS = {
    "rack": ("temp_c", "power_kw", "utilisation", "clock", "state"),
    "pdu": ("load_kw", "capacity_kw", "state"),
    "feed": ("load_kw", "capacity_kw", "state"),
    "loop": ("load_kw", "capacity_kw", "hottest_c", "state"),
    "deployment": ("replicas_up", "queue", "running", "output_tok_s", "ttft_p95_s", "tpot_p95_s"),
    "class": ("rate_rps", "ttft_p95_s", "tpot_p95_s", "slo_attainment", "shed_rps"),
}
_COND = re.compile(r"^\s*(?:(?P<kind>rack|pdu|feed|loop|deployment|class)\s+(?P<id>\S+)\s+)?(?P<metric>[a-z_0-9]+)\s*"
                   r"(?P<op><=|>=|==|!=|<|>)\s*(?P<value>\S+)\s*(?P<rest>.*)$")
_WINDOW = re.compile(r"^during\s+(?P<a>\S+?)\s*\.\.\s*(?P<b>\S+)$")


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


# ---------------------------------------------------------------------------------------
# parsing


def is_scenario_doc(doc: Any) -> bool:
    return isinstance(doc, dict) and any(k in doc for k in ("events", "expect", "abort_if", "duration")) and "rows" not in doc


def load_scenario(path: str | Path, catalog: Catalog | None = None) -> Scenario:
    path = Path(path)
    doc = load_file(path)
    return scenario_from_doc(doc, str(path), catalog, base_dir=path.parent)


def _duration(v: Any) -> float:
    return parse_duration_s(v)


def parse_condition(text: str, where: str) -> tuple[Condition | None, str, str | None]:
    """(condition, the rest of the line, error) for ``[kind id] metric op value [rest]``."""
    m = _COND.match(str(text))
    if not m:
        return None, "", f"{where}: {text!r} is not a condition like 'ttft_p95_s <= 0.5' or 'rack r07 temp_c > 35'"
    kind, target, metric, op, raw = m["kind"], m["id"], m["metric"], m["op"], m["value"]
    if kind is None:
        known = (*GAUGE_KEYS, *EXTRA_METRICS)
        if metric not in known:
            import difflib

            close = difflib.get_close_matches(metric, known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            return None, "", f"{where}: unknown metric {metric!r}{hint}; metrics: {', '.join(known)}"
    elif metric not in COMPONENT_FIELDS[kind]:
        return None, "", f"{where}: a {kind} has no {metric!r}; fields: {', '.join(COMPONENT_FIELDS[kind])}"
    try:
        value = _value(metric, raw)
    except ValueError as e:
        return None, "", f"{where}: {e}"
    head = f"{kind} {target} " if kind else ""
    return Condition(f"{head}{metric} {op} {raw}", metric, op, value, kind, target), m["rest"].strip(), None


def _value(metric: str, raw: str) -> float | str:
    if metric == "state":
        names = (*RACK_STATE_NAMES, "ok", "failed", "tripped", "unpowered", "high", "overloaded")
        if raw not in names:
            raise ValueError(f"state {raw!r} is not one of {', '.join(sorted(set(names)))}")
        return raw
    try:
        return float(raw)
    except ValueError:
        pass
    if metric.endswith("_kw"):
        return parse_power_kw(raw)
    if metric.startswith(("ttft_", "tpot_")) or metric == "t_s":
        return parse_duration_s(raw)
    if raw.endswith("%"):
        return float(raw[:-1]) / 100.0
    raise ValueError(f"{raw!r} is not a number for {metric}")


def _commands(r: Reader, raw: Any, line: int, where: str, layout: Layout) -> tuple[C.Command, ...]:
    items = list(raw) if isinstance(raw, list) else [raw]
    lines = raw.lines if isinstance(raw, YList) else [line] * len(items)
    out = []
    for text, ln in zip(items, lines, strict=True):
        try:
            cmd = C.parse_command(str(text))
        except C.CommandError as e:
            r.error(ln, f"{where}: {e}")
            continue
        if isinstance(cmd, C.SessionCommand):
            r.error(ln, f"{where}: {cmd.verb!r} is a console command; scenarios take factory commands")
            continue
        bad = _unknown_target(cmd, layout)
        if bad:
            r.error(ln, f"{where}: {bad}")
            continue
        out.append(cmd)
    return tuple(out)


def _unknown_target(cmd: C.Command, layout: Layout) -> str | None:
    import difflib

    target = getattr(cmd, "target", None)
    if isinstance(cmd, C.Scale):
        ids = [d.id for d in layout.deployments]
        if cmd.deployment not in ids:
            return f"{cmd.text}: unknown deployment {cmd.deployment!r}; deployments: {', '.join(ids)}"
    if isinstance(cmd, C.Surge) and cmd.workload and cmd.workload not in [w.id for w in layout.workloads]:
        return f"{cmd.text}: unknown workload class {cmd.workload!r}; classes: {', '.join(w.id for w in layout.workloads)}"
    if target is None or target in layout:
        return None
    base = re.sub(r"-n\d+(-g\d+)?$", "", target)
    if base != target and base in layout and layout.kind_of(base) == "rack":
        return None
    close = difflib.get_close_matches(target, list(layout.ids), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{cmd.text}: no component {target!r} in layout {layout.name}{hint}"


def scenario_from_doc(doc: Any, file: str, catalog: Catalog | None = None, base_dir: Path | None = None) -> Scenario:
    catalog = catalog or load_catalog()
    r = Reader(file)
    top = r.mapping(doc, "scenario")
    if top is None:
        r.raise_if_any()
    r.only(top, SCENARIO_KEYS, "scenario")
    name = r.get(top, "name", str, "scenario", default=Path(file).stem)
    layout = _layout(r, top, catalog, base_dir)
    if layout is None:
        r.raise_if_any()
        raise InputError([Problem(file, top.line, "scenario: no layout")])
    seed = r.get(top, "seed", integer, "scenario", default=layout.seed)
    duration = r.get(top, "duration", _duration, "scenario", default=None)
    warmup = r.get(top, "warmup", _duration, "scenario", default=0.0)
    tick = r.get(top, "tick", _duration, "scenario", default=None)
    faults = r.get(top, "faults", boolean, "scenario", default=False)
    events = _events(r, top.get("events"), top.line_of("events"), layout)
    if duration is None:  # a recording cut short: run to a minute past its last command
        last = max((e.at_s or 0.0) for e in events) if events else 0.0
        duration = last + 60.0
    expect = _expectations(r, top.get("expect"), top.line_of("expect"), duration)
    aborts = []
    for i, text in enumerate(_as_list(top.get("abort_if"))):
        line = top["abort_if"].line_of(i) if isinstance(top.get("abort_if"), YList) else top.line_of("abort_if")
        cond, rest, err = parse_condition(str(text), "abort_if")
        if err or rest:
            r.error(line, err or f"abort_if: unexpected {rest!r} after the condition")
        else:
            aborts.append(cond)
    for e in events:
        if e.at_s is not None and e.at_s > duration:
            r.error(e.line, f"events: at {e.at_s:g}s is after the scenario ends ({duration:g}s)")
    r.raise_if_any()
    return Scenario(name, str(top.get("description", "") or ""), file, layout, seed, duration, warmup, tick, faults,
                    tuple(events), tuple(expect), tuple(aborts))


def _as_list(v: Any) -> list:
    if v is None:
        return []
    return list(v) if isinstance(v, list) else [v]


def _layout(r: Reader, top: YMap, catalog: Catalog, base_dir: Path | None) -> Layout | None:
    if "layout" not in top:
        r.error(top.line, "scenario: missing required key 'layout' (a layout file or built-in name)")
        return None
    target = str(top["layout"])
    if base_dir is not None and (base_dir / target).exists():
        target = str(base_dir / target)
    try:
        layout = load_layout(target, catalog)
    except InputError as e:
        r.problems.extend(e.problems)
        return None
    except TwinError as e:
        r.error(top.line_of("layout"), f"layout: {e}")
        return None
    ov = top.get("overrides")
    if ov is None:
        return layout
    om = r.mapping(ov, "overrides", top.line_of("overrides"))
    if om is None:
        return layout
    return _apply_overrides(r, om, layout, catalog)


def _apply_overrides(r: Reader, om: YMap, layout: Layout, catalog: Catalog) -> Layout:
    """Routing policy, workload rates (a factor like ``2x`` or a rate like ``40/s``),
    and the GPU SKU of rows."""
    r.only(om, ("routing", "rates", "rows"), "overrides")
    if "routing" in om:
        if om["routing"] not in C.POLICIES:
            r.error(om.line_of("routing"), f"overrides.routing: unknown policy {om['routing']!r}; policies: {', '.join(C.POLICIES)}")
        else:
            layout = dataclasses.replace(layout, routing=om["routing"])
    if "rates" in om:
        rm = r.mapping(om["rates"], "overrides.rates", om.line_of("rates"))
        ws = list(layout.workloads)
        ids = [w.id for w in ws]
        for key, val in (rm or {}).items():
            if key not in ids:
                r.error(rm.line_of(key), f"overrides.rates: unknown workload class {key!r}; classes: {', '.join(ids)}")
                continue
            i = ids.index(key)
            text = str(val).strip()
            try:
                if text.endswith("x"):
                    rate = ws[i].rate_rps * float(text[:-1])
                elif text.endswith("/s"):
                    rate = float(text[:-2].replace("k", "e3"))
                else:
                    raise ValueError
            except ValueError:
                r.error(rm.line_of(key), f"overrides.rates.{key}: {val!r} is not a factor like '2x' or a rate like '40/s'")
                continue
            ws[i] = dataclasses.replace(ws[i], rate_rps=rate)
        layout = dataclasses.replace(layout, workloads=tuple(ws))
    if "rows" in om:
        rows = r.mapping(om["rows"], "overrides.rows", om.line_of("rows"))
        racks = list(layout.racks)
        changed: dict[str, str] = {}
        for row_id, sku in (rows or {}).items():
            if str(sku) not in catalog.gpus:
                r.error(rows.line_of(row_id), f"overrides.rows.{row_id}: unknown GPU {sku!r}; GPUs: {', '.join(catalog.gpus)}")
                continue
            ids = set(layout.racks_of(row_id)) if row_id in layout else set()
            if not ids:
                r.error(rows.line_of(row_id), f"overrides.rows: no row {row_id!r} in layout {layout.name}")
                continue
            g = catalog.gpu(str(sku))
            racks = [dataclasses.replace(k, gpu=g.id, gpus=g.gpus_per_rack) if k.id in ids else k for k in racks]
            changed.update(dict.fromkeys(ids, g.id))
        new_rows = []
        for row in layout.rows:
            skus = {changed.get(rid, row.gpu) for rid in row.racks}
            new_rows.append(dataclasses.replace(row, gpu=skus.pop() if len(skus) == 1 else None))
        layout = dataclasses.replace(layout, racks=tuple(racks), rows=tuple(new_rows))
    return layout


def _events(r: Reader, raw: Any, line: int, layout: Layout) -> list[Event]:
    out: list[Event] = []
    if raw is None:
        return out
    seq = r.sequence(raw, "events", line)
    for i, item in enumerate(seq or []):
        ln = seq.line_of(i)
        em = r.mapping(item, f"events[{i + 1}]", ln)
        if em is None:
            continue
        where = f"events[{i + 1}]"
        r.only(em, ("at", "every", "from", "until", "when", "once", "do"), where)
        triggers = [k for k in ("at", "every", "when") if k in em]
        if len(triggers) != 1:
            r.error(em.line, f"{where}: give exactly one of 'at', 'every' or 'when'")
            continue
        if "do" not in em:
            r.error(em.line, f"{where}: missing 'do' (a command, or a list of them)")
            continue
        cmds = _commands(r, em["do"], em.line_of("do"), where, layout)
        at = r.get(em, "at", _duration, where, default=None)
        every = r.get(em, "every", _duration, where, default=None)
        if every is not None and every <= 0:
            r.error(em.line_of("every"), f"{where}.every: must be longer than 0s")
        start = r.get(em, "from", _duration, where, default=0.0)
        until = r.get(em, "until", _duration, where, default=None)
        once = r.get(em, "once", boolean, where, default=True)
        when = None
        if "when" in em:
            when, rest, err = parse_condition(str(em["when"]), f"{where}.when")
            if err or rest:
                r.error(em.line_of("when"), err or f"{where}.when: unexpected {rest!r} after the condition")
                continue
        out.append(Event(ln, cmds, at, every, start, until, when, once))
    return out


def _expectations(r: Reader, raw: Any, line: int, duration: float) -> list[Expectation]:
    out: list[Expectation] = []
    if raw is None:
        return out
    seq = r.sequence(raw, "expect", line)
    for i, item in enumerate(seq or []):
        ln = seq.line_of(i)
        where = f"expect[{i + 1}]"
        if isinstance(item, dict):
            r.only(item, ("metric", "op", "value", "at", "during", "always", "overall", "text"), where)
            if not all(k in item for k in ("metric", "op", "value")):
                r.error(ln, f"{where}: a structured expectation needs metric, op and value")
                continue
            when = ("at " + str(item["at"])) if "at" in item else ("during " + str(item["during"])) if "during" in item else \
                "always" if item.get("always") else "overall" if item.get("overall") else "at end"
            text = f"{item['metric']} {item['op']} {item['value']} {when}"
        else:
            text = str(item)
        cond, rest, err = parse_condition(text, where)
        if err:
            r.error(ln, err)
            continue
        e = _window(rest, cond, text, ln, duration, where)
        if isinstance(e, str):
            r.error(ln, e)
        else:
            out.append(e)
    return out


def _window(rest: str, cond: Condition, text: str, ln: int, duration: float, where: str) -> Expectation | str:
    rest = rest.strip()
    try:
        if rest in ("", "at end"):
            return Expectation(ln, text, cond, "end")
        if rest == "always":
            return Expectation(ln, text, cond, "always", start_s=0.0, end_s=duration)
        if rest == "overall":
            return Expectation(ln, text, cond, "overall")
        if rest.startswith("at "):
            t = parse_duration_s(rest[3:].strip())
            if t > duration:
                return f"{where}: at {t:g}s is after the scenario ends ({duration:g}s)"
            return Expectation(ln, text, cond, "at", at_s=t)
        m = _WINDOW.match(rest)
        if m:
            a, b = parse_duration_s(m["a"]), parse_duration_s(m["b"])
            if not a < b:
                return f"{where}: window {m['a']}..{m['b']} is empty"
            if b > duration:
                return f"{where}: window ends after the scenario ({duration:g}s)"
            return Expectation(ln, text, cond, "during", start_s=a, end_s=b)
    except ValueError as e:
        return f"{where}: {e}"
    return f"{where}: {rest!r} — say 'at 10m', 'during 10m..20m', 'always', 'at end' or 'overall'"


# ---------------------------------------------------------------------------------------
# observing the factory


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
            return float(f.snapshot().racks.clock[i])  # the effective clock: caps and thermal throttling
        arr = {"temp_c": f.gpu_temp_c, "power_kw": f.rack_power_kw, "utilisation": f.rack_util}[metric]
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


# ---------------------------------------------------------------------------------------
# running


@dataclass
class Verdict:
    text: str
    line: int
    status: str = "passed"  # "passed" | "failed" | "not evaluated"
    observed: float | str | None = None  # the worst value seen where it applied
    at_s: float | None = None  # when it first failed (or where the worst value was)
    by: float | None = None  # how far past the limit (same unit as the metric)


@dataclass
class Outcome:
    scenario: Scenario
    factory: Factory
    recorder: Recorder
    verdicts: list[Verdict]
    aborted: str | None = None
    applied: list[tuple[float, str, str]] = field(default_factory=list)  # (t_s, command, result or error)

    @property
    def passed(self) -> bool:
        return self.aborted is None and all(v.status == "passed" for v in self.verdicts)


def worse(cond: Condition, a: Any, b: Any) -> bool:
    """Is observation a further from satisfying cond than b?"""
    if isinstance(a, str) or isinstance(b, str):
        return not cond.holds(a) and cond.holds(b)
    if cond.op in ("<=", "<"):
        return a > b
    if cond.op in (">=", ">"):
        return a < b
    return not cond.holds(a)


def margin(cond: Condition, obs: Any) -> float | None:
    if isinstance(obs, str) or isinstance(cond.value, str):
        return None
    return float(abs(obs - cond.value))


@dataclass(frozen=True)
class Applied:
    """A command applied during the session."""

    t_s: float  # scenario time (from the end of the warm-up)
    text: str
    result: str  # what the engine said, or ``error: …``
    ok: bool
    source: str  # "script" | "operator" | "what-if"
    line: int | None = None  # the scenario line of a scripted event


def _engine_apply(f: Factory) -> Callable[[C.Command], tuple[bool, str]]:
    def apply(cmd: C.Command) -> tuple[bool, str]:
        try:
            return True, f.apply(cmd)
        except TwinError as err:
            return False, f"error: {err}"

    return apply


class ScenarioPlayer:
    """A scenario's timeline over a live factory (which someone else may also command).

    ``apply(cmd) -> (ok, message)`` carries out a scripted command; by default straight on
    the factory, but a front end passes its own so it can journal and show it.
    ``on_event(t, event)``, if set, is told each time an event fires, before its commands.
    """

    def __init__(self, sc: Scenario, factory: Factory, apply: Callable[[C.Command], tuple[bool, str]] | None = None,
                 extra: tuple[tuple[float, C.Command], ...] = ()):
        self.sc = sc
        self._extra = sorted(extra, key=lambda x: x[0])  # what-if commands at scenario times
        self.factory = factory
        self.apply_fn = apply or _engine_apply(factory)
        self.on_event: Callable[[float, Event], None] | None = None
        self.t0 = factory.now
        self.warmed = False
        self.started = False
        self.finished = False
        self.aborted: str | None = None
        self.applied: list[Applied] = []
        n_ev, n_ex = len(sc.events), len(sc.expect)
        self.verdicts = [Verdict(e.text, e.line) for e in sc.expect]
        self._worst: list[Any] = [None] * n_ex
        self._seen = [False] * n_ex
        self._fired = [False] * n_ev
        self._armed = [True] * n_ev
        self._next_every = [e.start_s if e.every_s else math.inf for e in sc.events]
        self._timed = sorted([(e.at_s, i) for i, e in enumerate(sc.events) if e.at_s is not None])
        self._step_points: set[float] = set()
        self._last_cp = 0.0

    # ---- set-up ---------------------------------------------------------------------------
    def warm_up(self, on_step: Callable[[float, float], None] | None = None, chunk_ticks: int = 60) -> None:
        """Run the warm-up (as `Runner` does, but in chunks so a progress bar can follow)."""
        if self.warmed:
            return
        f, w = self.factory, self.sc.warmup_s
        chunk = chunk_ticks * f.dt
        while f.now < w - 1e-9:
            f.advance_to(min(w, f.now + chunk))
            if on_step:
                on_step(f.now, w)
        f.reset_run_totals()
        self.t0 = f.now
        self.warmed = True

    def start(self) -> None:
        """Scenario time 0: random faults if the scenario asks, then the events due at 0."""
        if self.started:
            return
        self.warm_up()
        sc, f = self.sc, self.factory
        self.started = True
        if sc.faults:
            self._apply((C.Faults(True),), 0.0, None)
        self._step_points = {self.t0 + e.at_s for e in sc.expect if e.mode == "at"} | \
                            {self.t0 + t for t, _ in self._timed} | {self.t0 + t for t, _ in self._extra}
        self._due(0.0)
        self._check(0.0)
        self._last_cp = f.now

    @property
    def running(self) -> bool:
        return self.started and not self.finished

    @property
    def end_s(self) -> float:
        """The absolute simulated time the scenario ends."""
        return self.t0 + self.sc.duration_s

    def t_rel(self) -> float:
        return self.factory.now - self.t0

    # ---- stepping -------------------------------------------------------------------------
    def _next_checkpoint(self) -> float:
        """Where `Runner` stops next after the last checkpoint: the next tick, or a scripted time."""
        dt, last = self.factory.dt, self._last_cp
        nxt = min(self.end_s, (math.floor((last + 1e-9) / dt) + 1) * dt)
        pending = [p for p in self._step_points if last + 1e-9 < p < nxt - 1e-9]
        return min(pending) if pending else nxt

    def advance_to(self, target: float, on_checkpoint: Callable[[float], None] | None = None) -> bool:
        """Advance the factory to ``target`` (absolute), playing the script on the way.

        Returns True when the scenario stopped on the way (an ``abort_if`` held, or it
        reached its end): the factory is then at that instant, short of ``target``.
        After that the factory advances as a plain session.
        """
        f = self.factory
        if not self.running:
            f.advance_to(target)
            return False
        while True:
            cp = self._next_checkpoint()
            if target < cp - 1e-9:
                f.advance_to(target)
                return False
            f.advance_to(cp)
            self._last_cp = f.now
            t_rel = f.now - self.t0
            self._due(t_rel)
            self._check(t_rel)
            if on_checkpoint is not None:
                on_checkpoint(t_rel)
            for cond in self.sc.abort_if:
                if cond.holds(cond.observe(f)):
                    self.aborted = f"{cond.text} at {t_rel:g}s (observed {fmt_value(cond.observe(f))})"
                    f.note("critical", "scenario", f"aborted: {self.aborted}")
                    self._finish()
                    return True
            if f.now >= self.end_s - 1e-9:
                self._finish()
                return True

    def _fire(self, e: Event, t_rel: float) -> None:
        if self.on_event is not None:
            self.on_event(t_rel, e)
        self._apply(e.commands, t_rel, e.line)

    def _apply(self, cmds, t_rel: float, line: int | None) -> None:
        for cmd in cmds:
            ok, msg = self.apply_fn(cmd)
            self.applied.append(Applied(t_rel, cmd.text, msg, ok, "script", line))

    def note_operator(self, t_abs: float, cmd: C.Command, ok: bool, msg: str) -> None:
        """An operator's command, for the timeline (it does not change the script)."""
        self.applied.append(Applied(t_abs - self.t0, cmd.text, msg, ok, "operator"))

    def _due(self, t_rel: float) -> None:
        sc, f = self.sc, self.factory
        while self._timed and self._timed[0][0] <= t_rel + 1e-9:
            _, i = self._timed.pop(0)
            self._fire(sc.events[i], t_rel)
        while self._extra and self._extra[0][0] <= t_rel + 1e-9:
            cmd = self._extra.pop(0)[1]
            ok, msg = self.apply_fn(cmd)
            self.applied.append(Applied(t_rel, cmd.text, msg, ok, "what-if"))
        for i, e in enumerate(sc.events):
            if e.every_s and self._next_every[i] <= t_rel + 1e-9 and (e.until_s is None or t_rel <= e.until_s + 1e-9):
                self._fire(e, t_rel)
                self._next_every[i] += e.every_s
            if e.when is not None and (self._armed[i] and not (e.once and self._fired[i])):
                if e.when.holds(e.when.observe(f)):
                    self._fire(e, t_rel)
                    self._fired[i], self._armed[i] = True, False
            elif e.when is not None and not e.once and not self._armed[i] and not e.when.holds(e.when.observe(f)):
                self._armed[i] = True

    def _check(self, t_rel: float) -> None:
        f = self.factory
        if f.history.count == 0:
            return  # no tick yet: every gauge is still empty
        for k, e in enumerate(self.sc.expect):
            if e.mode in ("end", "overall"):
                continue
            if e.mode == "at" and abs(t_rel - e.at_s) > 1e-6:
                continue
            if e.mode in ("during", "always") and not (e.start_s - 1e-6 <= t_rel <= e.end_s + 1e-6):
                continue
            obs = e.cond.observe(f)
            self._seen[k] = True
            v = self.verdicts[k]
            if self._worst[k] is None or worse(e.cond, obs, self._worst[k]):
                self._worst[k] = obs
                v.observed = obs
                if not e.cond.holds(obs):
                    v.at_s = t_rel
            if not e.cond.holds(obs) and v.status != "failed":
                v.status = "failed"
                v.at_s = t_rel

    def _finish(self) -> None:
        """The verdicts `Runner` gives when its loop ends (at the end, or aborted)."""
        f = self.factory
        self.finished = True
        summary = f.run_summary()
        for k, e in enumerate(self.sc.expect):
            v = self.verdicts[k]
            if e.mode in ("end", "overall"):
                obs = e.cond.observe(f) if e.mode == "end" or e.cond.kind else summary.get(e.cond.metric, e.cond.observe(f))
                v.observed, v.at_s = obs, f.now - self.t0
                v.status = "passed" if e.cond.holds(obs) else "failed"
            elif not self._seen[k]:
                v.status = "not evaluated" if self.aborted else "failed"
                v.observed = None
            if v.status == "failed" and v.observed is not None:
                v.by = margin(e.cond, v.observed)
            if self.aborted and v.status == "passed" and e.mode in ("end", "overall", "always"):
                v.status = "not evaluated"

    # ---- headless (tests: the same timeline `Runner` plays) ------------------------------------
    def run(self, step_s: float | None = None) -> None:
        """Play the whole scenario headless, ``step_s`` at a time (as frames would)."""
        self.warm_up()
        self.start()
        step = step_s or self.factory.dt
        while self.running:
            self.advance_to(min(self.end_s, self.factory.now + step))



class Runner:
    """Runs a scenario headless, as fast as the machine allows: the player's timeline in
    one loop, sampling the report's series as it goes."""

    def __init__(self, sc: Scenario, catalog: Catalog | None = None, seed: int | None = None,
                 extra: tuple[tuple[float, C.Command], ...] = ()):
        self.sc = sc
        self.factory = Factory(sc.layout, catalog, seed=sc.seed if seed is None else seed, faults=False, tick_s=sc.tick_s)
        self.player = ScenarioPlayer(sc, self.factory, extra=extra)

    def run(self, on_step: Callable[[float, float], None] | None = None) -> Outcome:
        sc, f, p = self.sc, self.factory, self.player
        p.warm_up()
        p.start()
        rec = Recorder(f, sc.duration_s)
        rec.start_s = p.t0
        rec.sample()

        def checkpoint(t_rel: float) -> None:
            if abs(f.now - math.floor(f.now / rec.every_s + 1e-9) * rec.every_s) < 1e-6 or f.now >= p.end_s - 1e-9:
                rec.sample()
            if on_step:
                on_step(t_rel, sc.duration_s)

        p.advance_to(p.end_s, on_checkpoint=checkpoint)
        return Outcome(sc, f, rec, p.verdicts, p.aborted, [(a.t_s, a.text, a.result) for a in p.applied])


def fmt_value(x: Any) -> str:
    return x if isinstance(x, str) else f"{x:.6g}"


def scenario_report(out: Outcome) -> dict[str, Any]:
    sc = out.scenario
    doc = report(out.recorder, scenario=sc.name, description=sc.description, duration_s=sc.duration_s,
                 warmup_s=sc.warmup_s, faults=sc.faults)
    doc["status"] = "aborted" if out.aborted else ("passed" if out.passed else "failed")
    doc["aborted"] = out.aborted
    doc["expectations"] = [{"expect": v.text, "line": v.line, "status": v.status,
                            "observed": v.observed if not isinstance(v.observed, np.floating) else float(v.observed),
                            "at_s": v.at_s, "by": v.by} for v in out.verdicts]
    doc["commands"] = [{"t_s": t, "do": c, "result": r} for t, c, r in out.applied]
    return doc



def scenario_for_layout(layout: Layout, duration_s: float, seed: int | None = None, tick_s: float | None = None) -> Scenario:
    """A layout run as a scenario with no events (the baseline of a what-if)."""
    return Scenario(layout.name, layout.description, layout.file, layout, layout.seed if seed is None else seed,
                    duration_s, 0.0, tick_s, False, (), (), ())
