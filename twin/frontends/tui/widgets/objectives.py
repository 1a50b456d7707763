"""The drill panel: while a drill runs, its clock, live score, objectives and cued tasks.

It sits above the message line in every view, a few lines tall, and is drawn only from
the frame's plain drill data (`twin.core.scenario.score.DrillScore.live`), which never
holds the reference response or a cue still to come — so what a trainee's console shows
is what a remote one would be sent. Every state has a glyph as well as a colour.
"""

from __future__ import annotations

from textual.content import Content
from textual.widgets import Static

from twin.frontends.tui import fmt

#: Objective states: glyph, word, style.
OBJ_LOOK = {
    "holding": ("✔", "holding", "$success"),
    "broken": ("✘", "OUTSIDE", "bold $error"),
    "pending": ("·", "not yet", "$text-muted"),
    "closed": ("■", "closed", "$text-muted"),
}
#: Task states: glyph, style.
TASK_LOOK = {
    "open": ("⚑", "bold $warning"),
    "overdue": ("⚑", "bold $error"),
    "on time": ("✔", "$success"),
    "late": ("◷", "$warning"),
    "missed": ("✘", "bold $error"),
}


def score_style(score: float) -> str:
    return "bold $success" if score >= 80 else ("bold $warning" if score >= 50 else "bold $error")


def panel_lines(d: dict, width: int = 120) -> list[Content]:
    """The panel's lines for one frame's drill data."""
    now, end = d["t_s"], d["duration_s"]
    lost = " · ".join(f"{k} −{v:g}" for k, v in d["breakdown"].items() if v)
    hints = (
        f"{d['hints_left']} hint{'s' if d['hints_left'] != 1 else ''} left (:hint −{d['hint_cost']:g})"
        if d["hints_left"]
        else "no hints left"
    )
    head = [
        ("DRILL ", "bold $accent"),
        (f"{fmt.rel_time(now)} / {fmt.rel_time(end).removeprefix('T+')}", "bold"),
        ("  score ", "$text-muted"),
        (f"{d['score']:g}", score_style(d["score"])),
        (" / 100", "$text-muted"),
    ]
    if lost:
        head.append((f"  ({lost})", "$text-muted"))
    if d["finished"]:
        head.append(("  ■ over — :debrief", "bold"))
    elif width >= 100:
        head.append((f"  · {hints}", "$text-muted"))
    lines = [Content.assemble(*head)]
    if d["briefing"] and not d["tasks"] and not d["finished"]:
        lines.append(Content.assemble(("  ▸ ", "$accent"), (d["briefing"], "$text-muted")))
    for o in d["objectives"]:
        glyph, word, style = OBJ_LOOK.get(o["state"], ("·", o["state"], ""))
        out = (
            f" {fmt.rel_time(o['outside_s']).removeprefix('T+')} outside" if o["outside_s"] else ""
        )
        lines.append(
            Content.assemble(
                (f" {glyph} {word:<8}", style),
                (f" {o['text']}", ""),
                (f"  {o['window']}{out}", "$text-muted"),
                (f"  −{o['lost']:g}" if o["lost"] else "", "$error"),
            )
        )
    for task in d["tasks"][-3:]:
        glyph, style = TASK_LOOK.get(task["status"], ("·", ""))
        what = task["task"] or task["alarm"]
        if task["status"] in ("open", "overdue"):
            left = task["deadline_s"] - now
            due = (
                f"due in {fmt.rel_time(left).removeprefix('T+')}"
                if left > 0
                else f"late since {fmt.rel_time(-left).removeprefix('T+')}"
            )
        else:
            due = task["status"]
        lines.append(
            Content.assemble(
                (f" {glyph} {fmt.rel_time(task['cued_at_s'])}", style),
                (f" {what}", "bold" if task["status"] in ("open", "overdue") else ""),
                (f"  {due}", style),
                (f"  −{task['lost']:g}" if task["lost"] else "", "$error"),
            )
        )
    if d["tasks_waiting"] and not d["finished"]:
        n = d["tasks_waiting"]
        lines.append(Content(f"   {n} more critical task{'s' if n != 1 else ''} may come"))
    return lines


class DrillPanel(Static):
    """Shown only while a drill plays (``twin DRILL.yaml``)."""

    def show(self, d: dict | None) -> None:
        self.display = d is not None
        if d is None:
            return
        lines = panel_lines(d, self.size.width or 120)
        self.update(Content("\n").join(lines))
