"""Reading a drill's sections of a scenario file (`twin.core.scenario.drill` has the model
and the format's keys): objectives, critical tasks, the reference response, hints and
penalties, every mistake as ``FILE:LINE: message`` with the scenario's other mistakes."""

from __future__ import annotations

from twin.core import commands as C
from twin.core.scenario.conditions import _commands, parse_condition
from twin.core.scenario.drill import (
    _AFTER,
    DEFAULT_HINT_COST,
    DEFAULT_WORSE_PENALTY,
    DRILL_KEYS,
    DURING,
    Drill,
    Objective,
    Penalty,
    RefStep,
    Task,
    _dur,
    during_window,
)
from twin.core.units import parse_duration_s
from twin.core.yamlsrc import Reader, YList, YMap, non_negative, text


def parse_drill(r: Reader, top: YMap, layout, catalog, duration_s: float) -> Drill | None:
    """The drill sections of a scenario (None if it has none); problems go to ``r``."""
    if not any(k in top for k in DRILL_KEYS):
        return None
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
