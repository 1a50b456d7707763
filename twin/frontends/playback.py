"""Playing a scenario live: the core's `ScenarioPlayer` plus what the timeline shows.

`twin.core.scenario.ScenarioPlayer` plays a scenario's timeline over a factory one
``advance_to(t)`` at a time, stopping where `Runner` stops and doing there what it does,
so a scenario played live fires its events at the same simulated times and reaches the
same verdicts as ``twin run`` (`Runner` is the same player in one loop). This module
adds immutable summaries for a view: what has happened, what comes next, live verdicts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from twin.core.api import Applied, margin
from twin.core.api import ScenarioPlayer as _CorePlayer

#: Entries of the "what has happened" list a state carries (the newest).
HISTORY_KEPT = 500


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
    #: a drill's live state as plain JSON data (`DrillScore.live`): objectives, the tasks
    #: cued so far, the score — never the reference or a cue to come, so it may go to trainees
    drill: dict | None = None

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


class ScenarioPlayer(_CorePlayer):
    """The core player plus what the timeline view shows: past, next, live verdicts."""

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
                    out.append(
                        Upcoming(nxt, f"every {_dur(e.every_s)}{until} · ", _cmds(e), e.line)
                    )
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
            by = margin(e.cond, obs) if status == "failed" and obs is not None else None
            out.append(
                LiveVerdict(v.text, v.line, e.mode, status, obs, at, by, start, end, e.cond.metric)
            )
        return out

    def state(self) -> ScriptState:
        status = "aborted" if self.aborted else ("ended" if self.finished else "running")
        return ScriptState(
            name=self.sc.name,
            t_s=self.factory.now - self.t0,
            duration_s=self.sc.duration_s,
            warmup_s=self.sc.warmup_s,
            status=status,
            aborted=self.aborted,
            applied=tuple(self.applied[-HISTORY_KEPT:]),
            applied_total=len(self.applied),
            upcoming=tuple(self.upcoming()),
            verdicts=tuple(self.live_verdicts()),
            drill=self.drill.live(self.factory.now - self.t0) if self.drill is not None else None,
        )


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
