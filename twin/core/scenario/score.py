"""A drill's score, kept as the scenario plays: 0 to 100, the same for the same actions.

The score starts at 100 and loses points; it never goes below 0.

* **Objectives and critical tasks share 100 points** by weight: one of weight ``w`` is
  worth ``100 × w / (the sum of all weights)`` points.
* **Time outside limits** — an objective loses its points in proportion to the time its
  condition did not hold, integrated tick by tick over its window:
  ``points × seconds outside / seconds in the window``.
* **Critical tasks** — when the cue fires, the clock for the task starts: the expected
  action (``do``, any time before the deadline, even before the cue) or outcome
  (``check``, from the cue on) by ``cue + within`` is *on time* (nothing lost), by
  ``cue + within + late`` is *late* (half the points lost), after that *missed* (all
  lost). A task whose cue never fires (the operator kept it from happening) loses nothing.
  An expected action taken before its cue counts as on time. While the drill runs, a task
  past its deadline and not done (*overdue*) has lost the late half already: at best it
  ends late, so the live score never shows more than the final one can be.
* **Actions that made things worse** — each action matching a declared ``penalties``
  pattern costs its points; and an action after which an objective that held when it was
  taken breaks within 3 minutes, with no scripted event in between, and stays broken
  for 30 s, costs ``worse_penalty`` (5 unless the drill says otherwise), once per action.
* **Hints** — each ``:hint`` taken costs ``hint_cost`` (5 unless the drill says otherwise).

Score = max(0, 100 − objectives − tasks − penalties − hints), shown to one decimal.
Everything here is plain data (``state()`` goes into exact checkpoints), decided only at
the scenario player's checkpoints, so the same actions on the same seed give the same
score, live or headless, resumed or not.
"""

from __future__ import annotations

import math
from typing import Any

from twin.core.scenario.drill import WORSE_HOLD_S, WORSE_WINDOW_S, Drill

#: Site gauges every debrief plots, besides the objectives' own metrics.
CURVE_GAUGES = ("slo_attainment", "facility_power_kw", "output_tok_s")
#: Points of each curve over a drill.
CURVE_POINTS = 120
LATE_SHARE = 0.5
#: Commands that are the exercise's, not the trainee's: the script's and an instructor's injects.
SCRIPTED = ("script", "inject")
_EPS = 1e-6


class DrillScore:
    """The running score of one drill; the scenario player calls ``step`` at each checkpoint."""

    _STATE = (
        "outside",
        "seen_s",
        "holding",
        "cued",
        "done",
        "penalties",
        "hints",
        "seen",
        "last_t",
        "recent",
        "suspects",
        "curves",
        "curve_t",
        "finished",
    )

    def __init__(self, drill: Drill, duration_s: float, dt: float):
        self.drill = drill
        self.duration_s = duration_s
        n_o, n_t = len(drill.objectives), len(drill.tasks)
        self.outside = [0.0] * n_o  # seconds outside the limit
        self.seen_s = [0.0] * n_o  # seconds of the window evaluated so far
        self.holding: list[bool | None] = [None] * n_o  # at the last checkpoint (None: not open)
        self.cued: list[float | None] = [None] * n_t
        self.done: list[float | None] = [None] * n_t
        self.penalties: list[list[Any]] = []  # [t_s, command, points, why]
        self.hints: list[list[Any]] = []  # [t_s, hint index]
        self.seen = 0  # the player's applied commands looked at
        self.last_t: float | None = None
        self.recent: list[list[Any]] = []  # [t_s, command, objectives holding, scripted since]
        self.suspects: list[list[Any]] = []  # [objective, broke at, action t_s, command]
        self.curves: dict[str, list[float | None]] = {k: [] for k in self.curve_keys()}
        self.curve_t: list[float] = []
        self.finished = False
        self.every_s = max(dt, math.ceil(duration_s / CURVE_POINTS / dt) * dt)

    def curve_keys(self) -> list[str]:
        keys = [o.cond.text.rsplit(" ", 2)[0] for o in self.drill.objectives]
        return list(dict.fromkeys([*keys, *CURVE_GAUGES]))

    # ---- the player's calls -------------------------------------------------------------------
    def step(self, player, t: float) -> None:
        """At a checkpoint of scenario time ``t``: actions, cues, objectives, curves."""
        f = player.factory
        if self.finished:  # the drill's time is up (a session may run on after it)
            return
        if f.history.count == 0:
            self.last_t = t
            return
        self._actions(player.applied)
        for i, task in enumerate(self.drill.tasks):
            if self.cued[i] is None:
                if task.cue_at_s is not None:
                    fired = t >= task.cue_at_s - _EPS
                else:
                    fired = task.cue_when.holds(task.cue_when.observe(f))  # type: ignore[union-attr]
                if fired:
                    self.cued[i] = t
            c = self.cued[i]
            if c is not None and self.done[i] is None and task.check is not None:
                in_time = t <= c + task.within_s + task.late_s + _EPS
                if in_time and task.check.holds(task.check.observe(f)):  # type: ignore[union-attr]
                    self.done[i] = t
        self._objectives(f, t)
        if not self.curve_t or t >= self.curve_t[-1] + self.every_s - _EPS:
            self._sample(f, t)
        self.last_t = t
        if t >= self.duration_s - _EPS:
            self.finished = True

    def finish(self, player) -> None:
        self.finished = True

    def take_hint(self, t: float) -> str | None:
        """The next hint (it costs ``hint_cost``), or None when there is none left."""
        n = len(self.hints)
        if n >= len(self.drill.hints) or self.finished:
            return None
        self.hints.append([t, n])
        return self.drill.hints[n]

    # ---- inside -------------------------------------------------------------------------------
    def _actions(self, applied) -> None:
        for a in applied[self.seen :]:
            if a.source in SCRIPTED:
                for r in self.recent:
                    r[3] = True
                continue
            if not a.ok:
                continue
            for i, task in enumerate(self.drill.tasks):
                if self.done[i] is None and task.do and task.matches(a.text):
                    self.done[i] = a.t_s
            from twin.core.scenario.drill import pattern_matches

            for p in self.drill.penalties:
                if pattern_matches(p.do, a.text):
                    self.penalties.append([a.t_s, a.text, p.points, p.why])
            held = [k for k, h in enumerate(self.holding) if h]
            self.recent.append([a.t_s, a.text, held, False])
        self.seen = len(applied)

    def window(self, k: int) -> tuple[float, float] | None:
        """Objective k's window in scenario time (None while its cue has not fired)."""
        o = self.drill.objectives[k]
        if o.after is None:
            return o.start_s, o.end_s
        i = next(i for i, t in enumerate(self.drill.tasks) if t.id == o.after)
        c = self.cued[i]
        return None if c is None else (min(c + o.start_s, o.end_s), o.end_s)

    def _objectives(self, f, t: float) -> None:
        last = t if self.last_t is None else self.last_t
        for k, o in enumerate(self.drill.objectives):
            win = self.window(k)
            if win is None or not win[0] - _EPS <= t <= win[1] + _EPS:
                self.holding[k] = None
                continue
            span = max(0.0, min(t, win[1]) - max(last, win[0]))
            ok = o.cond.holds(o.cond.observe(f))
            self.seen_s[k] += span
            if not ok:
                self.outside[k] += span
                if self.holding[k]:
                    self._blame(k, t)
            self.holding[k] = ok
        self.recent = [r for r in self.recent if t - r[0] <= WORSE_WINDOW_S + _EPS]
        self._judge(t)

    def _blame(self, k: int, t: float) -> None:
        """Objective k broke at t: the latest action that found it holding, with no scripted
        event since, is suspected (once per action) of making things worse."""
        for r in reversed(self.recent):
            if r[3]:
                return
            if k in r[2]:
                self.suspects.append([k, t, r[0], r[1]])
                r[2], r[3] = [], True
                return

    def _judge(self, t: float) -> None:
        """A suspect is penalised when its objective stays broken for ``WORSE_HOLD_S``; a blip
        (the requests a node had in flight) is forgiven."""
        keep = []
        for k, broke, at, cmd in self.suspects:
            if self.holding[k] is not False:
                continue
            if t - broke >= WORSE_HOLD_S - _EPS:
                if self.drill.worse_penalty > 0:
                    why = f"{self.drill.objectives[k].text} broke {_ago(broke - at)} later"
                    self.penalties.append([at, cmd, self.drill.worse_penalty, why])
                continue
            keep.append([k, broke, at, cmd])
        self.suspects = keep

    def _sample(self, f, t: float) -> None:
        self.curve_t.append(t)
        objs = {o.cond.text.rsplit(" ", 2)[0]: o.cond for o in self.drill.objectives}
        for key in self.curves:
            cond = objs.get(key)
            if cond is None:
                v = f.gauges.get(key, math.nan)
            else:
                obs = cond.observe(f)
                v = (1.0 if cond.holds(obs) else 0.0) if isinstance(obs, str) else obs
            v = float(v)
            self.curves[key].append(v if math.isfinite(v) else None)

    # ---- results ------------------------------------------------------------------------------
    def task_status(self, i: int, now: float) -> str:
        """waiting · open · overdue · on time · late · missed · not cued (at the end)."""
        task, c, d = self.drill.tasks[i], self.cued[i], self.done[i]
        if c is None:  # done before its cue (anticipated): on time; never needed: not cued
            return "on time" if d is not None else ("not cued" if self.finished else "waiting")
        deadline, late_end = c + task.within_s, c + task.within_s + task.late_s
        if d is not None and d <= deadline + _EPS:
            return "on time"
        if d is not None and d <= late_end + _EPS:
            return "late"
        if self.finished or now > late_end + _EPS:
            return "missed"
        return "overdue" if now > deadline + _EPS else "open"

    def objective_lost(self, k: int) -> float:
        win = self.window(k)
        if win is None or win[1] - win[0] <= 0:
            return 0.0
        pts = self.drill.points(self.drill.objectives[k].weight)
        return pts * min(1.0, self.outside[k] / (win[1] - win[0]))

    def task_lost(self, i: int, now: float) -> float:
        share = {"late": LATE_SHARE, "overdue": LATE_SHARE, "missed": 1.0}.get(
            self.task_status(i, now), 0.0
        )
        return self.drill.points(self.drill.tasks[i].weight) * share

    def breakdown(self, now: float) -> dict[str, float]:
        return {
            "objectives": sum(self.objective_lost(k) for k in range(len(self.drill.objectives))),
            "tasks": sum(self.task_lost(i, now) for i in range(len(self.drill.tasks))),
            "penalties": sum(p[2] for p in self.penalties),
            "hints": self.drill.hint_cost * len(self.hints),
        }

    def score(self, now: float) -> float:
        return round(max(0.0, 100.0 - sum(self.breakdown(now).values())), 1)

    def live(self, now: float) -> dict[str, Any]:
        """What a trainee may see while the drill runs, as plain data: the objectives, the
        tasks whose cue has fired (what they were only once decided), the score so far.
        Never the reference response or a cue still to come."""
        d = self.drill
        tasks = []
        for i, task in enumerate(d.tasks):
            c = self.cued[i]
            if c is None:
                continue
            status = self.task_status(i, now)
            decided = status in ("on time", "late", "missed")
            tasks.append(
                {
                    "alarm": task.alarm or "a critical task",
                    "cued_at_s": c,
                    "deadline_s": c + task.within_s,
                    "late_until_s": c + task.within_s + task.late_s,
                    "status": status,
                    "task": task.task if decided else None,
                    "points": round(d.points(task.weight), 1),
                    "lost": round(self.task_lost(i, now), 1),
                }
            )
        return {
            "t_s": now,
            "duration_s": self.duration_s,
            "score": self.score(now),
            "breakdown": {k: round(v, 1) for k, v in self.breakdown(now).items()},
            "briefing": d.briefing,
            "objectives": [self._objective_data(k) for k in range(len(d.objectives))],
            "tasks": tasks,
            "tasks_waiting": sum(1 for c in self.cued if c is None),
            "hints_taken": len(self.hints),
            "hints_left": len(d.hints) - len(self.hints),
            "hint_cost": d.hint_cost,
            "penalties": [
                {"t_s": t, "do": c, "points": p, "why": w} for t, c, p, w in self.penalties
            ],
            "finished": self.finished,
        }

    def _objective_data(self, k: int) -> dict[str, Any]:
        o = self.drill.objectives[k]
        win = self.window(k)
        h = self.holding[k]
        state = "pending" if h is None else ("holding" if h else "broken")
        if h is None and win is not None and self.last_t is not None and self.last_t > win[1]:
            state = "closed"
        return {
            "text": o.text,
            "hold": o.cond.text,
            "window": o.window_text
            if o.after or o.start_s or o.end_s < self.duration_s
            else "always",
            "state": state,
            "outside_s": round(self.outside[k], 3),
            "window_s": None if win is None else win[1] - win[0],
            "points": round(self.drill.points(o.weight), 1),
            "lost": round(self.objective_lost(k), 1),
        }

    def report(self, now: float, applied=()) -> dict[str, Any]:
        """Everything, for the report and the debrief: every task, the reference, the curves
        and the commands ``applied`` (the player's, with who gave them)."""
        d = self.drill
        live = self.live(now)
        live["actions"] = [
            {"t_s": a.t_s, "do": a.text, "source": a.source, "ok": a.ok} for a in applied
        ]
        live["tasks"] = [
            {
                "id": task.id,
                "task": task.task,
                "cue": task.cue_text,
                "alarm": task.alarm,
                "expected": task.expected,
                "cued_at_s": self.cued[i],
                "deadline_s": None if self.cued[i] is None else self.cued[i] + task.within_s,
                "done_at_s": self.done[i],
                "outcome": self.task_status(i, now),
                "points": round(d.points(task.weight), 1),
                "lost": round(self.task_lost(i, now), 1),
            }
            for i, task in enumerate(d.tasks)
        ]
        live["hints"] = [{"t_s": t, "hint": d.hints[n]} for t, n in self.hints]
        live["reference"] = [
            {"t_s": s.at_s, "do": s.command.text, "why": s.why} for s in d.reference
        ]
        live["curves"] = {"t_s": list(self.curve_t), **{k: list(v) for k, v in self.curves.items()}}
        return live

    # ---- exact checkpoints --------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {k: _plain(getattr(self, k)) for k in self._STATE}

    def load_state(self, d: dict[str, Any]) -> None:
        for k in self._STATE:
            setattr(self, k, d[k])


def _plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_plain(v) for v in x]
    if hasattr(x, "item"):  # numpy scalars
        return x.item()
    return x


def _ago(s: float) -> str:
    from twin.core.units import format_duration

    return format_duration(s)
