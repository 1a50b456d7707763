"""Drills: a scenario with objectives, critical tasks, a reference response and hints.

A drill is a scenario file with some of these top-level keys (``twin.core.scenario.score``
grades a run against them)::

    briefing: what the trainee is told at the start (text)
    objectives:                       # conditions to keep, over a window
      - text: Agentic sessions meet their SLO        # a label (default: the condition)
        hold: class agentic slo_attainment >= 0.9    # the condition language of `expect`
        window: always | during 2m..10m | from 3m | after TASK_ID [+ 2m]
        weight: 40
    critical_tasks:                   # what an expert does when a cue fires, by a deadline
      - id: reroute                   # (optional) for objectives' ``after`` windows
        task: Route agentic follow-ups to the replica that holds their prefix
        cue: at 1m | when class agentic ttft_p95_s > 2s
        alarm: Agentic TTFT p95 is over its 2 s SLO   # what the trainee is told at the cue
        do: route kv-aware            # the expected action (`*` matches any word; a list: any)
        check: ...                    # or the expected outcome (a condition), not both
        within: 2m                    # the deadline, after the cue
        late: 3m                      # (optional) after the deadline: late, half the points
        weight: 30
    reference:                        # what an expert does (``twin run --reference`` plays it)
      - {at: 1m30s, do: route kv-aware, why: follow-ups land where their prefix is cached}
    hints: [text, ...]                # ``:hint`` shows the next one, for hint_cost points
    hint_cost: 5
    penalties:                        # actions that make things worse, and their cost
      - {do: "repair *", points: 20, why: the crew repairs; you keep the floor running}
    worse_penalty: 5                  # an action that breaks a holding objective (see score)
    drill_duration: 10m               # a recording's: the drill's own length (the session
                                      #   may have stopped before it, or run on after it)

Every mistake is reported as ``FILE:LINE: message`` with the scenario's other mistakes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from twin.core import commands as C
from twin.core.units import parse_duration_s

#: The scenario keys a drill adds (declared in ``SCENARIO_KEYS``).
DRILL_KEYS = (
    "briefing",
    "objectives",
    "critical_tasks",
    "reference",
    "hints",
    "hint_cost",
    "penalties",
    "worse_penalty",
    "drill_duration",
)
DEFAULT_HINT_COST = 5.0
DEFAULT_WORSE_PENALTY = 5.0
#: An operator action is blamed for an objective that breaks this soon after it.
WORSE_WINDOW_S = 180.0
#: ... and stays broken this long (a blip is not blamed).
WORSE_HOLD_S = 30.0
_AFTER = re.compile(r"^after\s+(?P<id>[A-Za-z0-9_.-]+)\s*(?:\+\s*(?P<d>\S+))?$")


@dataclass(frozen=True)
class Objective:
    line: int
    text: str
    cond: object  # a `Condition`
    start_s: float  # scenario time the window opens (after: the offset from the cue)
    end_s: float
    weight: float
    after: str | None = None  # the task whose cue opens the window

    @property
    def window_text(self) -> str:
        if self.after is not None:
            plus = f" + {_dur(self.start_s)}" if self.start_s else ""
            return f"after {self.after}{plus}"
        return f"during {_dur(self.start_s)}..{_dur(self.end_s)}"


@dataclass(frozen=True)
class Task:
    line: int
    id: str
    task: str
    cue_at_s: float | None  # a timed cue ...
    cue_when: object | None  # ... or a condition (a `Condition`)
    alarm: str
    do: tuple[str, ...]  # patterns of the expected action (any of them)
    check: object | None  # or the expected outcome (a `Condition`)
    within_s: float
    late_s: float
    weight: float

    @property
    def cue_text(self) -> str:
        if self.cue_at_s is not None:
            return f"at {_dur(self.cue_at_s)}"
        return f"when {self.cue_when.text}"  # type: ignore[union-attr]

    @property
    def expected(self) -> str:
        return " or ".join(self.do) if self.do else self.check.text  # type: ignore[union-attr]

    def matches(self, command: str) -> bool:
        return any(pattern_matches(p, command) for p in self.do)


@dataclass(frozen=True)
class RefStep:
    line: int
    at_s: float
    command: C.Command
    why: str = ""


@dataclass(frozen=True)
class Penalty:
    line: int
    do: str
    points: float
    why: str


@dataclass(frozen=True)
class Drill:
    briefing: str
    objectives: tuple[Objective, ...]
    tasks: tuple[Task, ...]
    reference: tuple[RefStep, ...]
    hints: tuple[str, ...]
    hint_cost: float
    penalties: tuple[Penalty, ...]
    worse_penalty: float
    duration_s: float  # the drill's length: its windows and deadlines end there

    @property
    def weight(self) -> float:
        return sum(o.weight for o in self.objectives) + sum(t.weight for t in self.tasks)

    def points(self, weight: float) -> float:
        """The share of the 100 points one objective or task of this weight is worth."""
        return 100.0 * weight / self.weight if self.weight > 0 else 0.0


def pattern_matches(pattern: str, command: str) -> bool:
    """``cap row-h *`` matches ``cap row-h 900kW``: word by word, ``*`` is any one word and
    a trailing ``*`` any rest (or none); the command is compared in its canonical form."""
    pw, cw = pattern.split(), command.split()
    for i, p in enumerate(pw):
        if p == "*" and i == len(pw) - 1:
            return True
        if i >= len(cw) or (p != "*" and p.lower() != cw[i].lower()):
            return False
    return len(pw) == len(cw)


DURING = re.compile(r"^during\s+(?P<a>\S+?)\s*\.\.\s*(?P<b>\S+)$")


def during_window(m: re.Match, duration_s: float) -> tuple[float, float] | str:
    """The bounds in seconds of a matched ``during A..B`` (expectations and drill
    objectives), or what is wrong with them."""
    a, b = parse_duration_s(m["a"]), parse_duration_s(m["b"])
    if not a < b:
        return f"window {m['a']}..{m['b']} is empty"
    if b > duration_s:
        return f"window ends after the scenario ({_dur(duration_s)})"
    return a, b


def _dur(s: float) -> str:
    from twin.core.units import format_duration

    return format_duration(s)
