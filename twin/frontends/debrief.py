"""A drill's debrief as Markdown: the score, one timeline, the KPI curves, the reference.

The same text is the ``twin run DRILL --markdown`` report's drill part, the debrief
screen of the control room (``:debrief``, and at the end of a drill) and the file
``:debrief FILE`` writes. It is built from plain data — the drill's ``report()`` (see
`twin.core.scenario.score`), the commands applied and the engine's events, all in
scenario time — so a remote console can render it from what the server sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from twin.core.api import commands as C
from twin.core.api import kpis
from twin.core.units import format_duration

SPARK = "▁▂▃▄▅▆▇█"
CURVE_W = 48
LABEL_W = 32
#: Lines of the timeline, at most (the newest are cut, with a count).
TIMELINE_MAX = 80
OUTCOME_MARK = {"on time": "✔", "late": "◷", "missed": "✘", "not cued": "–"}


@dataclass(frozen=True)
class Action:
    t_s: float  # scenario time
    text: str
    source: str  # "script" | "operator" | "what-if"
    ok: bool = True


@dataclass(frozen=True)
class Note:
    t_s: float  # scenario time
    severity: str
    source: str
    message: str


def t(s: float | None) -> str:
    if s is None:
        return "—"
    return "T+" + format_duration(max(0.0, s))


def _resample(values: list, width: int) -> list:
    n = len(values)
    return [values[min(n - 1, int(i * n / width))] for i in range(min(width, n))]


def sparkline(values: list[float | None], width: int = CURVE_W) -> str:
    """Values as block glyphs, resampled to ``width``; gaps (None) as spaces; a flat line
    at its level (full when above zero)."""
    if not values:
        return ""
    cols = _resample(values, width)
    nums = [v for v in cols if v is not None]
    if not nums:
        return " " * len(cols)
    lo, hi = min(nums), max(nums)
    span = hi - lo
    out = []
    for v in cols:
        if v is None:
            out.append(" ")
        elif span <= 0:
            out.append(SPARK[-1] if v > 0 else SPARK[0])
        else:
            out.append(SPARK[int(round((v - lo) / span * (len(SPARK) - 1)))])
    return "".join(out)


def _num(v: float, key: str = "") -> str:
    if abs(v) < 1e-9:  # float dust from a running mean ("1.39e-16") is zero to a reader
        v = 0.0
    if kpis.quantity(key.split()[-1] if key else "") == kpis.POWER:  # "pdu p1 load_kw" too
        return f"{v / 1e3:.3g} MW" if abs(v) >= 1e3 else f"{v:.3g} kW"
    if abs(v) >= 1e6:
        return f"{v / 1e6:.3g}M"
    if abs(v) >= 1e4:
        return f"{v / 1e3:.3g}k"
    return f"{v:.3g}"


def _key(text: str) -> tuple[str, str | None]:
    """What a command acts on, to pair the operator's actions with the reference's."""
    try:
        cmd = C.parse_command(text)
    except C.CommandError:
        return text.split()[0], None
    target = getattr(cmd, "target", None) or getattr(cmd, "deployment", None)
    return cmd.verb, target


def reference_diff(reference: list[dict], actions: list[Action]) -> list[str]:
    """What the reference response did differently, one line each."""
    mine = [a for a in actions if a.source != "script" and a.ok]
    used: set[int] = set()
    lines = []
    for ref in reference:
        key = _key(ref["do"])
        match = next((i for i, a in enumerate(mine) if i not in used and _key(a.text) == key), None)
        why = f" — {ref['why']}" if ref.get("why") else ""
        if match is None:
            lines.append(f"- the reference did `{ref['do']}` at {t(ref['t_s'])}; you did not{why}")
            continue
        used.add(match)
        a = mine[match]
        dt = a.t_s - ref["t_s"]
        when = (
            "at the same time"
            if abs(dt) < 1
            else f"{format_duration(abs(dt))} {'later' if dt > 0 else 'earlier'}"
        )
        if a.text == ref["do"]:
            lines.append(f"- `{ref['do']}`: you did it too, {when} ({t(a.t_s)}){why}")
        else:
            lines.append(
                f"- the reference did `{ref['do']}` at {t(ref['t_s'])}; you did `{a.text}` {when}{why}"
            )
    for i, a in enumerate(mine):
        if i not in used:
            lines.append(f"- you also did `{a.text}` at {t(a.t_s)}; the reference did not")
    return lines or ["- no actions on either side"]


def timeline(drill: dict, actions: list[Action], notes: list[Note], who: str = "you") -> list[str]:
    """Faults, cues, the operator's actions, hints and penalties, in time order."""
    rows: list[tuple[float, int, str]] = []
    for a in actions:
        if a.source == "script":
            rows.append((a.t_s, 0, f"▸ script: `{a.text}`"))
        else:
            mark = "●" if a.ok else "✘"
            rows.append((a.t_s, 2, f"{mark} {who}: `{a.text}`" + ("" if a.ok else " (refused)")))
    for n in notes:
        if n.severity in ("critical", "warning") and n.source not in ("scenario", "operator"):
            rows.append((n.t_s, 1, f"⚠ {n.severity}: {n.source}: {n.message}"))
    for task in drill["tasks"]:
        if task.get("cued_at_s") is not None:
            rows.append((task["cued_at_s"], 1, f"⚑ cue: {task.get('alarm') or task['task']}"))
    for h in drill.get("hints", ()):
        rows.append((h["t_s"], 3, f"? hint taken (−{drill['hint_cost']:g}): {h['hint']}"))
    for p in drill["penalties"]:
        rows.append((p["t_s"], 3, f"− {p['points']:g} for `{p['do']}`: {p['why']}"))
    rows.sort(key=lambda r: (r[0], r[1]))
    out = [f"- `{t(s):>9}` {text}" for s, _, text in rows[:TIMELINE_MAX]]
    if len(rows) > TIMELINE_MAX:
        out.append(f"- … {len(rows) - TIMELINE_MAX} more")
    return out


def curves(drill: dict) -> list[str]:
    """One sparkline per objective's metric and per site gauge; under an objective's, ✘
    marks where its condition did not hold."""
    c = drill.get("curves") or {}
    ts = c.get("t_s") or []
    if not ts:
        return []
    conds = _conditions(drill)
    w = LABEL_W
    out = ["```", f"{'':{w}} {t(ts[0])} … {t(ts[-1])}"]
    for key, values in c.items():
        if key == "t_s":
            continue
        nums = [v for v in values if v is not None]
        rng = f"{_num(min(nums), key)} … {_num(max(nums), key)}" if nums else "no data"
        m = kpis.get(key)  # a site metric has its label; a component's curve keeps its text
        out.append(f"{(m.label if m else key)[:w]:{w}} {sparkline(values)}  {rng}")
        cond = conds.get(key)
        if cond is not None:
            marks = [
                " " if v is None else ("·" if _holds(cond, v) else "✘")
                for v in _resample(values, CURVE_W)
            ]
            if "✘" in marks:
                out.append(
                    f"{'  ✘ outside ' + cond.op + ' ' + str(cond.text.split()[-1]):{w}} {''.join(marks)}"
                )
    out.append("```")
    return out


def _conditions(drill: dict) -> dict:
    from twin.core.api import parse_condition

    out = {}
    for o in drill.get("objectives", ()):
        cond, _, err = parse_condition(o["hold"], "")
        if cond is not None and not err:
            out.setdefault(o["hold"].rsplit(" ", 2)[0], cond)
    return out


def _holds(cond, v: float) -> bool:
    if isinstance(cond.value, str):  # a state curve holds 1 where the condition held
        return v >= 0.5
    return cond.holds(v)


def _lost(v: float) -> str:
    return f"−{v:g}" if v else "0"


def score_lines(drill: dict, reference: bool = False) -> list[str]:
    """The score and its breakdown: objectives, tasks, penalties, hints."""
    b = drill["breakdown"]
    who = " (the reference response)" if reference else ""
    lost = " · ".join(f"{k} {_lost(v)}" for k, v in b.items())
    lines = [
        f"**Score {drill['score']:g} / 100**{who} — points lost: {lost}",
        "",
        "| objective | window | time outside | points | lost |",
        "|---|---|---:|---:|---:|",
    ]
    for o in drill["objectives"]:
        lines.append(
            f"| {o['text']} (`{o['hold']}`) | {o['window']} | "
            f"{format_duration(o['outside_s'])} | {o['points']:g} | {_lost(o['lost'])} |"
        )
    lines += [
        "",
        "| critical task | cue | outcome | done | points | lost |",
        "|---|---|---|---:|---:|---:|",
    ]
    for task in drill["tasks"]:
        mark = OUTCOME_MARK.get(task["outcome"], "·")
        cue = (
            task["cue"]
            if task.get("cued_at_s") is None
            else f"{task['cue']} ({t(task['cued_at_s'])})"
        )
        lines.append(
            f"| {task['task']} | {cue} | {mark} {task['outcome']} | {t(task['done_at_s'])} "
            f"| {task['points']:g} | {_lost(task['lost'])} |"
        )
    return lines


def render(
    name: str,
    drill: dict[str, Any],
    actions: list[Action],
    notes: list[Note],
    reference: bool = False,
    heading: str = "#",
) -> str:
    """The whole debrief as Markdown."""
    h2 = heading + "#"
    lines = [f"{heading} Debrief: {name}", ""]
    if drill.get("briefing"):
        lines += [f"> {drill['briefing']}", ""]
    lines += score_lines(drill, reference)
    lines += [
        "",
        f"{h2} Timeline",
        "",
        *timeline(drill, actions, notes, "reference" if reference else "you"),
        "",
    ]
    lines += [f"{h2} KPI curves", "", *curves(drill), ""]
    if not reference:
        lines += [f"{h2} What the reference response did differently", ""]
        ref = drill.get("reference_score")
        if ref is not None:
            lines += [
                f"The reference response scores **{ref:g}**; this run {drill['score']:g}.",
                "",
            ]
        lines += reference_diff(drill.get("reference", []), actions)
        lines.append("")
    return "\n".join(lines)


def from_report(doc: dict[str, Any]) -> str:
    """The debrief of a ``twin run`` report (the drill part of its Markdown)."""
    start = doc.get("start_s", 0.0)
    drill = doc["drill"]
    actions = [Action(a["t_s"], a["do"], a["source"], a["ok"]) for a in drill.get("actions", ())]
    notes = [
        Note(e["t_s"] - start, e["severity"], e["source"], e["message"])
        for e in doc.get("events", ())
    ]
    return render(
        doc.get("scenario") or doc["layout"],
        drill,
        actions,
        notes,
        bool(doc.get("reference")),
        heading="##",
    )
