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
from twin.core.yamlsrc import Reader, YList, YMap, non_negative, text

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


# ---------------------------------------------------------------------------------------
# reading


def parse_drill(r: Reader, top: YMap, layout, catalog, duration_s: float) -> Drill | None:
    """The drill sections of a scenario (None if it has none); problems go to ``r``."""
    if not any(k in top for k in DRILL_KEYS):
        return None
    from twin.core.scenario.parse import _commands

    duration_s = r.get(top, "drill_duration", _span, "scenario", default=duration_s) or duration_s

    tasks = _tasks(r, top, duration_s)
    ids = {t.id for t in tasks}
    objectives = _objectives(r, top, duration_s, ids)
    reference = []
    for m, where in _items(r, top, "reference"):
        r.only(m, ("at", "do", "why"), where)
        at = r.get(m, "at", _time(duration_s), where)
        cmds = _commands(r, m["do"], m.line_of("do"), where, layout, catalog) if "do" in m else ()
        if "do" not in m:
            r.error(m.line, f"{where}: missing required key 'do'")
        why = r.get(m, "why", text, where, default="")
        if at is not None:
            reference += [RefStep(m.line, at, c, str(why)) for c in cmds]
    penalties = []
    for m, where in _items(r, top, "penalties"):
        r.only(m, ("do", "points", "why"), where)
        do = r.get(m, "do", _pattern, where)
        points = r.get(m, "points", non_negative, where)
        why = r.get(m, "why", text, where, default="")
        if do is not None and points is not None:
            penalties.append(Penalty(m.line, do, points, str(why)))
    hints = []
    if "hints" in top:
        seq = r.sequence(top["hints"], "hints", top.line_of("hints"))
        for i, h in enumerate(seq or []):
            if not isinstance(h, str) or not h.strip():
                r.error(seq.line_of(i), f"hints[{i + 1}]: expected text, got {h!r}")
            else:
                hints.append(h.strip())
    drill = Drill(
        str(r.get(top, "briefing", text, "scenario", default="")).strip(),
        tuple(objectives),
        tuple(tasks),
        tuple(reference),
        tuple(hints),
        r.get(top, "hint_cost", non_negative, "scenario", default=DEFAULT_HINT_COST),
        tuple(penalties),
        r.get(top, "worse_penalty", non_negative, "scenario", default=DEFAULT_WORSE_PENALTY),
        duration_s,
    )
    if not drill.objectives and not drill.tasks:
        r.error(top.line, "drill: give 'objectives' or 'critical_tasks' to score against")
    elif drill.weight <= 0:
        r.error(top.line, "drill: the objectives' and tasks' weights add up to 0")
    return drill


def _items(r: Reader, top: YMap, key: str):
    if key not in top:
        return
    seq = r.sequence(top[key], key, top.line_of(key))
    for i, item in enumerate(seq or []):
        where = f"{key}[{i + 1}]"
        m = r.mapping(item, where, seq.line_of(i))
        if m is not None:
            yield m, where


def _time(duration_s: float):
    def read(v) -> float:
        t = parse_duration_s(v)
        if not 0 <= t <= duration_s:
            raise ValueError(f"{v} is not inside the scenario (0s to {_dur(duration_s)})")
        return t

    return read


def _span(v) -> float:
    t = parse_duration_s(v)
    if t < 0:
        raise ValueError(f"{v} cannot be negative")
    return t


def _weight(v) -> float:
    w = non_negative(v)
    if w > 1000:
        raise ValueError(f"at most 1000, got {v!r}")
    return w


def _pattern(v) -> str:
    words = str(v).split()
    if not words or words[0].lower() not in C.VERBS:
        raise ValueError(f"{str(v)!r} is not a command pattern like 'cap row-h *'")
    return " ".join(words)


def _condition(r: Reader, m: YMap, key: str, where: str):
    from twin.core.scenario.parse import parse_condition

    cond, rest, err = parse_condition(str(m[key]), f"{where}.{key}")
    if err or rest:
        r.error(m.line_of(key), err or f"{where}.{key}: unexpected {rest!r} after the condition")
        return None
    return cond


def _tasks(r: Reader, top: YMap, duration_s: float) -> list[Task]:
    out: list[Task] = []
    for m, where in _items(r, top, "critical_tasks"):
        i = len(out) + 1
        r.only(m, ("id", "task", "cue", "alarm", "do", "check", "within", "late", "weight"), where)
        tid = str(m.get("id", f"task-{i}"))
        if any(t.id == tid for t in out):
            r.error(m.line_of("id"), f"{where}.id: {tid!r} is already the id of another task")
        label = r.get(m, "task", text, where)
        cue_at, cue_when = None, None
        cue = str(m.get("cue", "")).strip()
        if cue.startswith("at "):
            try:
                cue_at = _time(duration_s)(cue[3:].strip())
            except ValueError as e:
                r.error(m.line_of("cue"), f"{where}.cue: {e}")
        elif cue.startswith("when "):
            cm = YMap({"cue": cue[5:]})
            cm.lines, cm.line = {"cue": m.line_of("cue")}, m.line_of("cue")
            cue_when = _condition(r, cm, "cue", where)
        else:
            r.error(
                m.line_of("cue") if "cue" in m else m.line,
                f"{where}.cue: say 'at 2m' or 'when pdu bus-b8 state == tripped'",
            )
        do: tuple[str, ...] = ()
        check = None
        if ("do" in m) == ("check" in m):
            r.error(m.line, f"{where}: give the expected action ('do') or outcome ('check')")
        elif "do" in m:
            raw = m["do"]
            items = list(raw) if isinstance(raw, list) else [raw]
            lines = raw.lines if isinstance(raw, YList) else [m.line_of("do")] * len(items)
            pats = []
            for item, ln in zip(items, lines, strict=True):
                try:
                    pats.append(_pattern(item))
                except ValueError as e:
                    r.error(ln, f"{where}.do: {e}")
            do = tuple(pats)
        else:
            check = _condition(r, m, "check", where)
        within = r.get(m, "within", _span, where)
        late = r.get(m, "late", _span, where, default=0.0)
        weight = r.get(m, "weight", _weight, where)
        if label is None or within is None or weight is None or (cue_at is None and not cue_when):
            continue
        if not do and check is None:
            continue
        out.append(
            Task(
                m.line,
                tid,
                label.strip(),
                cue_at,
                cue_when,
                str(r.get(m, "alarm", text, where, default="")).strip(),
                do,
                check,
                within,
                late,
                weight,
            )
        )
    return out


def _objectives(r: Reader, top: YMap, duration_s: float, ids: set[str]) -> list[Objective]:
    out: list[Objective] = []
    for m, where in _items(r, top, "objectives"):
        r.only(m, ("text", "hold", "window", "weight"), where)
        if "hold" not in m:
            r.error(m.line, f"{where}: missing required key 'hold' (a condition to keep)")
            continue
        cond = _condition(r, m, "hold", where)
        weight = r.get(m, "weight", _weight, where)
        label = r.get(m, "text", text, where, default=None)
        window = str(m.get("window", "always")).strip()
        win = _window(window, duration_s, ids)
        if isinstance(win, str):
            r.error(m.line_of("window") if "window" in m else m.line, f"{where}.window: {win}")
            continue
        if cond is None or weight is None:
            continue
        start, end, after = win
        out.append(Objective(m.line, (label or cond.text).strip(), cond, start, end, weight, after))
    return out


def _window(w: str, duration_s: float, ids: set[str]) -> tuple[float, float, str | None] | str:
    try:
        if w == "always":
            return 0.0, duration_s, None
        if w.startswith("from "):
            a = parse_duration_s(w[5:].strip())
            if not 0 <= a < duration_s:
                return f"{w!r} opens after the scenario ends ({_dur(duration_s)})"
            return a, duration_s, None
        m = DURING.match(w)
        if m:
            bounds = during_window(m, duration_s)
            return bounds if isinstance(bounds, str) else (*bounds, None)
        m = _AFTER.match(w)
        if m:
            if m["id"] not in ids:
                known = ", ".join(sorted(ids)) or "none"
                return f"no critical task {m['id']!r} (tasks: {known})"
            return (parse_duration_s(m["d"]) if m["d"] else 0.0), duration_s, m["id"]
    except ValueError as e:
        return str(e)
    return f"{w!r} — say 'always', 'during 2m..10m', 'from 3m' or 'after TASK_ID + 2m'"
