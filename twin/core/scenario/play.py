"""Playing a scenario: observing the factory, the timeline player, the headless Runner, verdicts."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from twin.core import commands as C
from twin.core.catalog import Catalog
from twin.core.engine import Factory
from twin.core.errors import TwinError
from twin.core.report import Recorder, report
from twin.core.scenario.conditions import parse_condition
from twin.core.scenario.model import Condition, Event, Scenario
from twin.core.scenario.score import DrillScore

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
    applied: list[tuple[float, str, str]] = field(
        default_factory=list
    )  # (t_s, command, result or error)
    drill: dict[str, Any] | None = None  # the drill's score and its parts (a drill)

    @property
    def passed(self) -> bool:
        """Every expectation held, nothing aborted and every scripted command was carried out."""
        return (
            self.aborted is None
            and all(v.status == "passed" for v in self.verdicts)
            and not self.failed_commands
        )

    @property
    def failed_commands(self) -> list[tuple[float, str, str]]:
        return [a for a in self.applied if a[2].startswith("error")]


#: Observations this close (relative) are the same value: which of two such ticks holds
#: "the worst" is float summation order (the engine's rows sum in another order than one
#: row per replica), so the first of them is the one a report names.
SAME_VALUE_REL = 1e-9


def _beyond(a: float, b: float) -> bool:
    """a > b by more than float noise."""
    if not (math.isfinite(a) and math.isfinite(b)):
        return a > b
    return a - b > SAME_VALUE_REL * max(abs(a), abs(b))


def worse(cond: Condition, a: Any, b: Any) -> bool:
    """Is observation a further from satisfying cond than b?"""
    if isinstance(a, str) or isinstance(b, str):
        return not cond.holds(a) and cond.holds(b)
    if cond.op in ("<=", "<"):
        return _beyond(a, b)
    if cond.op in (">=", ">"):
        return _beyond(b, a)
    if cond.holds(a):
        return False
    if cond.op == "==" and not isinstance(cond.value, str):
        return cond.holds(b) or _beyond(abs(a - cond.value), abs(b - cond.value))
    return cond.holds(b)  # "!=": every miss is the same value; keep the first


def margin(cond: Condition, obs: Any) -> float | None:
    """By how much ``obs`` missed the condition's value; None when there is no number to
    compare (a state, or no value: a class none of whose requests completed has no TTFT)."""
    if isinstance(obs, str) or isinstance(cond.value, str) or not math.isfinite(obs):
        return None
    return float(abs(obs - cond.value))


@dataclass(frozen=True)
class Applied:
    """A command applied during the session."""

    t_s: float  # scenario time (from the end of the warm-up)
    text: str
    result: str  # what the engine said, or ``error: …``
    ok: bool
    source: str  # "script" | "operator" | "inject" | "what-if"
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

    def __init__(
        self,
        sc: Scenario,
        factory: Factory,
        apply: Callable[[C.Command], tuple[bool, str]] | None = None,
        extra: tuple[tuple[float, C.Command], ...] = (),
    ):
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
        self._timed = sorted(
            [(e.at_s, i) for i, e in enumerate(sc.events) if e.at_s is not None and not e.submitted]
        )
        # a recording's commands given live and hints, applied after their instant's checkpoint
        self._ops = sorted([(e.at_s, i) for i, e in enumerate(sc.events) if e.submitted])
        self._step_points: set[float] = set()
        self._last_cp = 0.0
        self.drill = DrillScore(sc.drill, sc.drill.duration_s, factory.dt) if sc.drill else None

    # ---- set-up ---------------------------------------------------------------------------
    def warm_up(
        self, on_step: Callable[[float, float], None] | None = None, chunk_ticks: int = 60
    ) -> None:
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
        self._step_points = (
            {self.t0 + e.at_s for e in sc.expect if e.mode == "at"}
            | {self.t0 + t for t, _ in self._timed}
            | {self.t0 + t for t, _ in self._extra}
            | {self.t0 + t for t, i in self._ops if not sc.events[i].hint}
        )
        self._due(0.0)
        self._check(0.0)
        if self.drill is not None:
            self.drill.step(self, 0.0)
        self._last_cp = f.now
        self._operator_due(0.0)

    @property
    def running(self) -> bool:
        return self.started and not self.finished

    @property
    def drill_duration_s(self) -> float:
        return self.sc.drill.duration_s if self.sc.drill is not None else self.sc.duration_s

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

    def advance_to(
        self, target: float, on_checkpoint: Callable[[float], None] | None = None
    ) -> bool:
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
            if self.drill is not None:
                self.drill.step(self, t_rel)
            if on_checkpoint is not None:
                on_checkpoint(t_rel)
            stopped = self.stop_here()
            self._operator_due(t_rel)
            if stopped:
                return True

    def stop_here(self) -> bool:
        """After a checkpoint instant: an ``abort_if`` that holds, or the end, stops the script."""
        f = self.factory
        t_rel = f.now - self.t0
        for cond in self.sc.abort_if:
            if cond.holds(cond.observe(f)):
                self.aborted = f"{cond.text} at {t_rel:g}s (observed {fmt_value(cond.observe(f))})"
                f.note("critical", "scenario", f"aborted: {self.aborted}")
                self._finish()
                return True
        if f.now >= self.end_s - 1e-9:
            self._finish()
            return True
        return False

    def _fire(self, e: Event, t_rel: float) -> None:
        if self.on_event is not None:
            self.on_event(t_rel, e)
        self._apply(e.commands, t_rel, e.line, "inject" if e.inject else "script")

    def _apply(self, cmds, t_rel: float, line: int | None, source: str = "script") -> None:
        for cmd in cmds:
            ok, msg = self.apply_fn(cmd)
            self.applied.append(Applied(t_rel, cmd.text, msg, ok, source, line))

    def note_operator(
        self, t_abs: float, cmd: C.Command, ok: bool, msg: str, source: str = "operator"
    ) -> None:
        """An operator's command (``source``: or an instructor's ``inject``), for the
        timeline and the drill's score (it does not change the script)."""
        self.applied.append(Applied(t_abs - self.t0, cmd.text, msg, ok, source))

    def _operator_due(self, t_rel: float) -> None:
        """A recording's commands given live (an operator's, an instructor's inject) and
        hints due by now, as the live session gave them: after the checkpoint of their
        instant, in order (a hint at the recorded time)."""
        while self._ops and self._ops[0][0] <= t_rel + 1e-9:
            at, i = self._ops.pop(0)
            e = self.sc.events[i]
            if e.hint:
                if self.drill is not None:
                    self.drill.take_hint(at)
                continue
            source = "inject" if e.inject else "operator"
            for cmd in e.commands:
                ok, msg = self.apply_fn(cmd)
                self.applied.append(Applied(t_rel, cmd.text, msg, ok, source, e.line))

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
            if (
                e.every_s
                and self._next_every[i] <= t_rel + 1e-9
                and (e.until_s is None or t_rel <= e.until_s + 1e-9)
            ):
                self._fire(e, t_rel)
                self._next_every[i] += e.every_s
            if e.when is not None and (self._armed[i] and not (e.once and self._fired[i])):
                if e.when.holds(e.when.observe(f)):
                    self._fire(e, t_rel)
                    self._fired[i], self._armed[i] = True, False
            elif (
                e.when is not None
                and not e.once
                and not self._armed[i]
                and not e.when.holds(e.when.observe(f))
            ):
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
        cut_short = self.sc.recorded and self.sc.duration_s < self.drill_duration_s - 1e-9
        if self.drill is not None and (self.aborted or not cut_short):
            self.drill.finish(self)  # a session stopped early leaves its tasks as they were
        summary = f.run_summary()
        for k, e in enumerate(self.sc.expect):
            v = self.verdicts[k]
            if e.mode in ("end", "overall"):
                obs = (
                    e.cond.observe(f)
                    if e.mode == "end" or e.cond.kind
                    else summary.get(e.cond.metric, e.cond.observe(f))
                )
                v.observed, v.at_s = obs, f.now - self.t0
                v.status = "passed" if e.cond.holds(obs) else "failed"
            elif not self._seen[k]:
                cut_short = (
                    self.sc.recorded
                    and (e.end_s if e.end_s is not None else e.at_s or 0.0) > self.sc.duration_s
                )
                v.status = "not evaluated" if self.aborted or cut_short else "failed"
                v.observed = None
            if v.status == "failed" and v.observed is not None:
                v.by = margin(e.cond, v.observed)
            if self.aborted and v.status == "passed" and e.mode in ("end", "overall", "always"):
                v.status = "not evaluated"

    # ---- state for exact checkpoints (plain JSON values) ------------------------------------
    _STATE = (
        "t0",
        "warmed",
        "started",
        "finished",
        "aborted",
        "_worst",
        "_seen",
        "_fired",
        "_armed",
        "_next_every",
        "_last_cp",
    )

    def state(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self._STATE}
        d["_worst"] = [float(x) if isinstance(x, np.floating) else x for x in self._worst]
        d["timed"] = [list(x) for x in self._timed]
        d["ops"] = [list(x) for x in self._ops]
        d["extra"] = [[t, c.text] for t, c in self._extra]
        d["step_points"] = sorted(self._step_points)
        d["applied"] = [[a.t_s, a.text, a.result, a.ok, a.source, a.line] for a in self.applied]
        d["verdicts"] = [
            [
                v.status,
                float(v.observed) if isinstance(v.observed, np.floating) else v.observed,
                v.at_s,
                v.by,
            ]
            for v in self.verdicts
        ]
        if self.drill is not None:
            d["drill"] = self.drill.state()
        return d

    def load_state(self, d: dict[str, Any]) -> None:
        for k in self._STATE:
            setattr(self, k, d[k])
        self._timed = [(t, int(i)) for t, i in d["timed"]]
        self._ops = [(t, int(i)) for t, i in d.get("ops", ())]
        self._extra = [(t, C.parse_command(text)) for t, text in d["extra"]]
        self._step_points = set(d["step_points"])
        self.applied = [Applied(*a) for a in d["applied"]]
        for v, (status, observed, at_s, by) in zip(self.verdicts, d["verdicts"], strict=True):
            v.status, v.observed, v.at_s, v.by = status, observed, at_s, by
        if self.drill is not None:
            self.drill.load_state(d["drill"])

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

    def __init__(
        self,
        sc: Scenario,
        catalog: Catalog | None = None,
        seed: int | None = None,
        extra: tuple[tuple[float, C.Command], ...] = (),
    ):
        self.sc = sc
        self.factory = Factory(
            sc.layout,
            catalog,
            seed=sc.seed if seed is None else seed,
            faults=False,
            tick_s=sc.tick_s,
        )
        self.player = ScenarioPlayer(sc, self.factory, extra=extra)

    def run(
        self,
        on_step: Callable[[float, float], None] | None = None,
        at: tuple[tuple[float, Callable[[Runner, Recorder], None]], ...] = (),
    ) -> Outcome:
        """Play the scenario; each ``(t, hook)`` in ``at`` is called once, at the first
        step at or after scenario time t (to write a checkpoint)."""
        sc, f, p = self.sc, self.factory, self.player
        p.warm_up()
        p.start()
        rec = Recorder(f, sc.duration_s)
        rec.start_s = p.t0
        rec.sample()
        return self._play(rec, on_step, at)

    def resume(
        self,
        engine: bytes,
        player: dict[str, Any],
        recorder: dict[str, Any],
        on_step: Callable[[float, float], None] | None = None,
    ) -> Outcome:
        """Continue a run from a checkpoint taken by an ``at`` hook of ``run``."""
        self.factory.restore(engine)
        self.player.load_state(player)
        rec = Recorder(self.factory, self.sc.duration_s)
        rec.load_state(recorder)
        return self._play(rec, on_step, (), resumed=True)

    def _play(self, rec: Recorder, on_step, at, resumed: bool = False) -> Outcome:
        sc, f, p = self.sc, self.factory, self.player
        hooks = sorted(at, key=lambda x: x[0])

        def checkpoint(t_rel: float) -> None:
            if (
                abs(f.now - math.floor(f.now / rec.every_s + 1e-9) * rec.every_s) < 1e-6
                or f.now >= p.end_s - 1e-9
            ):
                rec.sample()
            while hooks and t_rel >= hooks[0][0] - 1e-9:
                hooks.pop(0)[1](self, rec)
            if on_step:
                on_step(t_rel, sc.duration_s)

        if not (
            resumed and p.stop_here()
        ):  # a checkpoint is written before this instant's stop checks
            p.advance_to(p.end_s, on_checkpoint=checkpoint)
        return Outcome(
            sc,
            f,
            rec,
            p.verdicts,
            p.aborted,
            [(a.t_s, a.text, a.result) for a in p.applied],
            p.drill.report(p.t_rel(), p.applied) if p.drill is not None else None,
        )


def fmt_value(x: Any) -> str:
    if isinstance(x, str):
        return x
    return f"{x:.6g}" if math.isfinite(x) else "—"


def scenario_report(out: Outcome) -> dict[str, Any]:
    sc = out.scenario
    doc = report(
        out.recorder,
        scenario=sc.name,
        description=sc.description,
        duration_s=sc.duration_s,
        warmup_s=sc.warmup_s,
        faults=sc.faults,
    )
    doc["status"] = "aborted" if out.aborted else ("passed" if out.passed else "failed")
    doc["aborted"] = out.aborted
    doc["expectations"] = [
        {
            "expect": v.text,
            "metric": _metric(v.text),
            "line": v.line,
            "status": v.status,
            "observed": v.observed
            if not isinstance(v.observed, np.floating)
            else float(v.observed),
            "at_s": v.at_s,
            "by": v.by,
        }
        for v in out.verdicts
    ]
    doc["commands"] = [
        {"t_s": t, "do": c, "result": r, "ok": not r.startswith("error")} for t, c, r in out.applied
    ]
    doc["failed_commands"] = len(out.failed_commands)
    if out.drill is not None:
        doc["score"] = out.drill["score"]
        doc["drill"] = out.drill
    return doc


def _metric(text: str) -> str:
    """The metric an expectation reads ('rack r07 temp_c > 35' → 'temp_c'), for its unit."""
    cond, _, _ = parse_condition(text, "")
    return cond.metric if cond is not None else ""
