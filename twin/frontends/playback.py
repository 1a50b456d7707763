"""Playing a scenario live: `Runner`'s timeline, one step at a time, at a pace set outside.

`twin.core.scenario.Runner` runs a scenario in one loop as fast as it can. A live front
end advances the factory a frame at a time, to wherever the wall clock says, and lets an
operator act in between. `ScenarioPlayer` is that loop taken apart: ``warm_up()``, then
``start()``, then ``advance_to(t)`` as often as the front end likes. It stops at exactly
the instants `Runner` stops at — every engine tick and every scripted time — and does
there exactly what `Runner` does (timed, ``every`` and edge-triggered ``when`` events,
expectations, ``abort_if``), so a scenario played live fires its events at the same
simulated times and reaches the same verdicts as ``twin run``. Between those instants it
only advances: a frame that ends at 30.2 s checks nothing until the tick at 31 s.

Nothing here knows about a screen; ``state()`` is an immutable summary a view can draw.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twin.core import commands as C
from twin.core.engine import Factory
from twin.core.errors import TwinError
from twin.core.scenario import Event, Scenario, Verdict, _fmt, _margin, _worse

#: Entries of the "what has happened" list a state carries (the newest).
HISTORY_KEPT = 500


@dataclass(frozen=True)
class Applied:
    """A command applied during the session."""

    t_s: float  # scenario time (from the end of the warm-up)
    text: str
    result: str  # what the engine said, or ``error: …``
    ok: bool
    source: str  # "script" | "operator"
    line: int | None = None  # the scenario line of a scripted event


@dataclass(frozen=True)
class Upcoming:
    """A scripted event still to come: timed (``at``, ``every``) or armed (``when``)."""

    t_s: float | None  # next scenario time it fires; None for a condition
    trigger: str  # "" (at a time), "every 2m until 20m · ", "when slo_attainment < 0.9"
    commands: str
    line: int
    observed: float | str | None = None  # a condition's value now


@dataclass(frozen=True)
class LiveVerdict:
    """An expectation and how it stands so far."""

    text: str
    line: int
    mode: str  # at | during | always | end | overall
    status: str  # pending | holding | held | failed | not evaluated
    observed: float | str | None  # worst value seen in its window, or the value now (end, overall)
    at_s: float | None  # when it failed (or was evaluated)
    by: float | None
    start_s: float | None  # when it starts to apply (scenario time)
    end_s: float | None  # when it is decided
    metric: str = ""  # the metric or field it reads (to show its value in its unit)


@dataclass(frozen=True)
class ScriptState:
    """One frame's view of the scenario: what happened, what comes, how expectations stand."""

    name: str
    t_s: float  # scenario time
    duration_s: float
    warmup_s: float
    status: str  # running | ended | aborted
    aborted: str | None
    applied: tuple[Applied, ...]  # the newest HISTORY_KEPT, oldest first
    applied_total: int
    upcoming: tuple[Upcoming, ...]  # soonest first; conditions last
    verdicts: tuple[LiveVerdict, ...]

    @property
    def counts(self) -> dict[str, int]:
        out = {"held": 0, "holding": 0, "failed": 0, "pending": 0, "not evaluated": 0}
        for v in self.verdicts:
            out[v.status] += 1
        return out


def exact_offset(t_abs: float, t0: float) -> float:
    """``t_abs - t0``, nudged so that ``t0 + offset == t_abs`` holds in floating point.

    A recording writes times from the end of the warm-up; replayed, `Runner` stops at
    ``t0 + at``, which must be the very instant the command was applied live (one ulp
    the other side of a tick boundary would apply it after that tick, not before).
    """
    d = t_abs - t0
    if t0 + d == t_abs:
        return d
    for direction in (math.inf, -math.inf):
        x = d
        for _ in range(4):
            x = math.nextafter(x, direction)
            if t0 + x == t_abs:
                return x
    return d


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

    def __init__(self, sc: Scenario, factory: Factory, apply: Callable[[C.Command], tuple[bool, str]] | None = None):
        self.sc = sc
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
                            {self.t0 + t for t, _ in self._timed}
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

    def advance_to(self, target: float) -> bool:
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
            for cond in self.sc.abort_if:
                if cond.holds(cond.observe(f)):
                    self.aborted = f"{cond.text} at {t_rel:g}s (observed {_fmt(cond.observe(f))})"
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
            if self._worst[k] is None or _worse(e.cond, obs, self._worst[k]):
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
                v.by = _margin(e.cond, v.observed)
            if self.aborted and v.status == "passed" and e.mode in ("end", "overall", "always"):
                v.status = "not evaluated"

    # ---- what a view shows ----------------------------------------------------------------
    def upcoming(self) -> list[Upcoming]:
        if not self.running:
            return []
        sc, f = self.sc, self.factory
        out: list[Upcoming] = []
        for at, i in self._timed:
            e = sc.events[i]
            out.append(Upcoming(at, "", _cmds(e), e.line))
        for i, e in enumerate(sc.events):
            if e.every_s:
                nxt = self._next_every[i]
                if e.until_s is None or nxt <= e.until_s + 1e-9:
                    until = f" until {_dur(e.until_s)}" if e.until_s is not None else ""
                    out.append(Upcoming(nxt, f"every {_dur(e.every_s)}{until} · ", _cmds(e), e.line))
        out.sort(key=lambda u: (u.t_s, u.line))
        for i, e in enumerate(sc.events):
            if e.when is not None and self._armed[i] and not (e.once and self._fired[i]):
                obs = e.when.observe(f) if f.history.count else None
                again = "" if e.once else " (each time)"
                out.append(Upcoming(None, f"when {e.when.text}{again}", _cmds(e), e.line, obs))
        return out

    def live_verdicts(self) -> list[LiveVerdict]:
        sc, f = self.sc, self.factory
        t = f.now - self.t0
        summary = None
        out = []
        for k, e in enumerate(sc.expect):
            v = self.verdicts[k]
            start, end = _window(e, sc.duration_s)
            obs, at = v.observed, v.at_s
            if self.finished:
                status = {"passed": "held", "failed": "failed"}.get(v.status, "not evaluated")
            elif e.mode in ("end", "overall"):
                status = "pending"
                if f.history.count:
                    if e.mode == "end" or e.cond.kind:
                        obs = e.cond.observe(f)
                    else:
                        summary = summary if summary is not None else f.run_summary()
                        obs = summary.get(e.cond.metric, e.cond.observe(f))
            elif v.status == "failed":
                status = "failed"
            elif not self._seen[k]:
                status = "pending"
            elif e.mode == "at" or t > end + 1e-6:
                status = "held"
            else:
                status = "holding"
            by = _margin(e.cond, obs) if status == "failed" and obs is not None else None
            out.append(LiveVerdict(v.text, v.line, e.mode, status, obs, at, by, start, end, e.cond.metric))
        return out

    def state(self) -> ScriptState:
        status = "aborted" if self.aborted else ("ended" if self.finished else "running")
        return ScriptState(
            name=self.sc.name, t_s=self.factory.now - self.t0, duration_s=self.sc.duration_s,
            warmup_s=self.sc.warmup_s, status=status, aborted=self.aborted,
            applied=tuple(self.applied[-HISTORY_KEPT:]), applied_total=len(self.applied),
            upcoming=tuple(self.upcoming()), verdicts=tuple(self.live_verdicts()),
        )

    # ---- headless (tests: the same timeline `Runner` plays) ------------------------------------
    def run(self, step_s: float | None = None) -> None:
        """Play the whole scenario headless, ``step_s`` at a time (as frames would)."""
        self.warm_up()
        self.start()
        step = step_s or self.factory.dt
        while self.running:
            self.advance_to(min(self.end_s, self.factory.now + step))


def _window(e, duration_s: float) -> tuple[float | None, float | None]:
    if e.mode == "at":
        return e.at_s, e.at_s
    if e.mode in ("during", "always"):
        return e.start_s, e.end_s
    return duration_s, duration_s


def _cmds(e) -> str:
    return " · ".join(c.text for c in e.commands)


def _dur(s: float | None) -> str:
    from twin.core.units import format_duration

    if s is None:
        return ""
    return format_duration(s) if abs(s - round(s)) < 1e-9 else f"{s:g}s"
