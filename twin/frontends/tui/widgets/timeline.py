"""View 6, the scenario timeline: what has happened, what comes next, how expectations stand.

Shown only when a scenario plays (``twin SCENARIO.yaml``). The timeline reads top to
bottom in time: the start, every command applied (the script's ▸ and the operator's ●),
a "now" line, then what the script will do next — timed events with their time and the
conditions armed, with the value they watch — unless the session is ``--blind``, when
trainees see only what has happened. Beside it (below it at 80 columns) each expectation
with its verdict so far. Both are Line API lists: only the lines on screen are drawn.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rich.segment import Segment
from rich.style import Style
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Static

from twin.core.api import Snapshot, kpis
from twin.core.units import format_duration
from twin.frontends.playback import LiveVerdict, ScriptState
from twin.frontends.tui import fmt
from twin.frontends.tui.widgets.view import View

#: Each verdict as glyph and word (never colour alone) and its style class.
VERDICT_LOOK = {
    "held": ("✔ held", "ok"),
    "holding": ("◷ holding", "info"),
    "failed": ("✘ FAILED", "bad"),
    "pending": ("· pending", "muted"),
    "not evaluated": ("– n/e", "muted"),
}
STATUS_W = 10


@dataclass(frozen=True)
class Line:
    """One list line: parts on the left (cut at the edge) and a detail kept on the right."""

    left: tuple[tuple[str, str], ...]  # (text, style class: "" plain, or a LineList class)
    right: tuple[tuple[str, str], ...] = ()
    fill: str = ""  # the style class of a rule drawn to the right edge ("── now … ───")


def observed_text(x: float | str | None, metric: str = "") -> str:
    """A value as a condition on ``metric`` is written: latencies in ms or s, power with its unit."""
    if x is None:
        return "—"
    if isinstance(x, str):
        return x
    if not math.isfinite(x):
        return "—"
    quantity = kpis.quantity(metric)  # the registry's unit, never the name's suffix
    if quantity == kpis.DURATION:
        return fmt.seconds(x)
    if quantity == kpis.POWER:
        return fmt.kw(x)
    return fmt.si(x) if abs(x) >= 1e4 else f"{x:.4g}"


def timeline_lines(st: ScriptState, blind: bool) -> tuple[list[Line], int]:
    """The timeline, oldest first, and the index of its "now" line."""
    lines = [
        Line(
            (
                (f"{fmt.rel_time(0.0)} ", "muted"),
                ("▶ ", "accent"),
                (
                    f"start, after a {format_duration(st.warmup_s)} warm-up"
                    if st.warmup_s
                    else "start",
                    "muted",
                ),
            )
        )
    ]
    hidden = st.applied_total - len(st.applied)
    if hidden:
        lines.append(Line(((f"        … {hidden:,} earlier entries not shown", "muted"),)))
    for a in st.applied:
        if a.source == "script":
            glyph, cls = ("▸ ", "script") if a.ok else ("✕ ", "bad")
        else:
            glyph, cls = ("● ", "operator") if a.ok else ("✕ ", "bad")
        who = "" if a.source == "script" else "you: "
        lines.append(
            Line(
                (
                    (f"{fmt.rel_time(a.t_s)} ", "muted"),
                    (glyph, cls),
                    (f"{who}{a.text}", "bold"),
                    (f"  {a.result}", "muted" if a.ok else "bad"),
                )
            )
        )
    now = len(lines)
    if st.status == "running":
        left = st.duration_s - st.t_s
        lines.append(
            Line(
                ((f"── now {fmt.rel_time(st.t_s)} · {format_duration(left)} to go ", "now"),),
                fill="now",
            )
        )
    elif st.status == "ended":
        lines.append(
            Line(
                (
                    (
                        f"── ended {fmt.rel_time(st.t_s)} · the script is over; resumed, the factory runs on ",
                        "now",
                    ),
                ),
                fill="now",
            )
        )
    else:
        lines.append(
            Line(((f"── aborted {fmt.rel_time(st.t_s)}: {st.aborted} ", "bad"),), fill="bad")
        )
    if st.status != "running":
        return lines, now
    if blind:
        lines.append(
            Line((("        what comes next is hidden in this session (--blind)", "muted"),))
        )
        return lines, now
    if not st.upcoming:
        lines.append(Line((("        nothing more is scripted", "muted"),)))
    for u in st.upcoming:
        if u.t_s is not None:
            when = [
                (f"{fmt.rel_time(u.t_s)} ", "muted"),
                ("▹ ", "accent"),
                (u.commands, ""),
                (f"  {u.trigger}in {format_duration(max(u.t_s - st.t_s, 0.0))}", "muted"),
            ]
        else:
            now_value = f" · now {observed_text(u.observed)}" if u.observed is not None else ""
            when = [
                ("armed   ", "warn"),
                ("◇ ", "warn"),
                (u.commands, ""),
                (f"  {u.trigger}{now_value}", "muted"),
            ]
        lines.append(Line(tuple(when)))
    return lines, now


def verdict_detail(v: LiveVerdict) -> str:
    value = observed_text(v.observed, v.metric)
    if v.status == "failed":
        at = f"at {fmt.rel_time(v.at_s)} " if v.at_s is not None else ""
        return f"{at}saw {value}"
    worst = "saw" if isinstance(v.observed, str) else "worst"  # a state has no worst
    if v.status == "holding":
        return f"{worst} {value}"
    if v.status == "held":
        return f"saw {value}" if v.mode in ("at", "end", "overall") else f"{worst} {value}"
    if v.status == "pending":
        if v.mode in ("end", "overall"):
            return f"now {value}" if v.observed is not None else "at the end"
        return f"from {fmt.rel_time(v.start_s or 0.0)}"
    return "aborted"


def verdict_lines(st: ScriptState) -> list[Line]:
    out = []
    for v in st.verdicts:
        word, cls = VERDICT_LOOK[v.status]
        out.append(
            Line(
                ((f"{word:<{STATUS_W}}", cls), (v.text, "")),
                ((verdict_detail(v), cls if v.status == "failed" else "muted"),),
            )
        )
    if not out:
        out.append(Line((("this scenario sets no expectations", "muted"),)))
    return out


def verdict_summary(st: ScriptState) -> list[tuple[str, str]]:
    c = st.counts
    parts: list[tuple[str, str]] = [("expectations ", "bold")]
    for key, style in (
        ("held", "$success"),
        ("holding", "$primary"),
        ("failed", "bold $error"),
        ("pending", "$text-muted"),
        ("not evaluated", "$text-muted"),
    ):
        if c[key]:
            parts.append((f"· {c[key]} {key} ", style))
    if not st.verdicts:
        parts.append(("· none", "$text-muted"))
    return parts


class LineList(ScrollView, can_focus=True):
    """A list of `Line`s drawn with the Line API; ``follow`` keeps one line in view."""

    COMPONENT_CLASSES = {
        "linelist--muted",
        "linelist--accent",
        "linelist--script",
        "linelist--operator",
        "linelist--ok",
        "linelist--info",
        "linelist--warn",
        "linelist--bad",
        "linelist--now",
        "linelist--bold",
    }

    BINDINGS = [
        Binding("up", "scroll_by(-1)", show=False),
        Binding("down", "scroll_by(1)", show=False),
        Binding("pageup", "scroll_by(-10)", show=False),
        Binding("pagedown", "scroll_by(10)", show=False),
        Binding("home", "scroll_by(-1000000)", show=False),
        Binding("end", "follow", show=False),
    ]

    def __init__(self, *, id: str | None = None):
        super().__init__(id=id)
        self.lines: list[Line] = []
        self.anchor: int | None = None  # keep this line in view (the "now" line), unless scrolled
        self.follow = True

    def set_lines(self, lines: list[Line], anchor: int | None = None) -> None:
        self.lines, self.anchor = lines, anchor
        self.virtual_size = Size(0, len(lines))  # lines are cut at the edge: no sideways scrolling
        if self.follow:
            self._to_anchor()
        self.refresh()

    def _to_anchor(self) -> None:
        h = max(self.scrollable_content_region.height, 1)
        if self.anchor is None:
            y = 0
        else:
            below = len(self.lines) - self.anchor  # the now line and what comes after it
            y = self.anchor - max(h - below, h // 3)  # past above, as much as fits
        self.scroll_to(y=max(0, min(y, len(self.lines) - h)), animate=False, immediate=True)

    def on_resize(self) -> None:
        self.virtual_size = Size(0, len(self.lines))
        if self.follow:
            self._to_anchor()

    def action_scroll_by(self, delta: int) -> None:
        self.follow = False
        self.scroll_to(y=max(0, int(self.scroll_y) + delta), animate=False, immediate=True)

    def action_follow(self) -> None:
        self.follow = True
        self._to_anchor()

    def _style(self, cls: str) -> Style:
        return self.get_component_rich_style(f"linelist--{cls}") if cls else Style()

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        idx = y + int(self.scroll_y)
        base = self.rich_style
        if idx >= len(self.lines):
            return Strip.blank(width, base)
        line = self.lines[idx]
        right = [Segment(t, base + self._style(c)) for t, c in line.right]
        right_w = sum(len(t) for t, _ in line.right)
        room = width - (right_w + 2 if right_w else 0)
        if room < 24:  # too narrow for both: the left part wins
            right, right_w, room = [], 0, width
        left = Strip([Segment(t, base + self._style(c)) for t, c in line.left])
        if line.fill and left.cell_length < room:
            left = Strip(
                [*left, Segment("─" * (room - left.cell_length), base + self._style(line.fill))]
            )
        if left.cell_length > room:
            left = left.crop(0, max(room - 1, 0)).extend_cell_length(room - 1, base)
            left = Strip([*left, Segment("…", base + self._style("muted"))])
        left = left.extend_cell_length(width - right_w, base)
        return Strip([*left, *right]).crop(0, width).extend_cell_length(width, base)


class TimelineView(View):
    TITLE = "Timeline"
    KEYS = (
        ("↑↓ pgup/pgdn", "scroll the list in focus (End follows the present again)"),
        ("tab", "switch between the timeline and the expectations"),
        ("space + −", "pause, faster, slower: the script keeps to simulated time"),
        (":", "act on top of the script (:fail, :repair, :route …)"),
    )

    def compose(self) -> ComposeResult:
        yield Static(id="timeline-legend", classes="legend")
        with Vertical(id="timeline-body"):
            with Vertical(id="timeline-pane", classes="timeline-pane"):
                yield Static(id="timeline-title", classes="pane-title")
                yield LineList(id="timeline-list")
            with Vertical(id="expect-pane", classes="timeline-pane"):
                yield Static(id="expect-title", classes="pane-title")
                yield LineList(id="expect-list")

    @property
    def primary(self) -> LineList:
        return self.query_one("#timeline-list", LineList)

    def on_resize(self) -> None:
        super().on_resize()
        if self.snapshot is not None:  # the legend and the split depend on the size
            self.call_after_refresh(self.show, self.snapshot)

    def show(self, snap: Snapshot) -> None:
        super().show(snap)
        st = self.ctx.script
        if st is None:
            return
        sc = self.ctx.scenario
        blind = self.ctx.blind
        frac = st.t_s / st.duration_s if st.duration_s > 0 else 1.0
        word = {
            "running": ("playing", "bold $success"),
            "ended": ("■ ended", "bold reverse $success"),
            "aborted": ("✕ aborted", "bold reverse $error"),
        }[st.status]
        width = self.size.width
        parts: list = [
            ("scenario ", "$text-muted"),
            (st.name, "bold"),
            " ",
            word,
            " ",
            (f"{fmt.rel_time(st.t_s)} of {format_duration(st.duration_s)} ", "bold"),
        ]
        if width >= 100:
            filled = fmt.bar(frac, 16).rstrip()
            parts += [(filled, "$accent"), ("░" * (16 - len(filled)), "$text-muted")]
            parts.append((f" {min(frac, 1.0):.0%}", "$text-muted"))
        if blind:
            parts.append(("  blind", "bold reverse"))
        described = bool(
            sc is not None and sc.description and width >= 120 and not blind
        )  # it tells the plot
        if described:
            parts.append((f"\n{fmt.clip(sc.description, width - 2)}", "$text-muted"))
        self.query_one("#timeline-legend", Static).update(Content.assemble(*parts))
        n_next = len(st.upcoming)
        title: list = [("timeline ", "bold"), ("▸ script ● you", "$text-muted")]
        if not blind and st.status == "running" and n_next:
            title.append((f" · {n_next} to come", "$text-muted"))
        self.query_one("#timeline-title", Static).update(Content.assemble(*title))
        # blind: expectations say what the drill is about; they show only once it is over
        hide = blind and st.status == "running"
        self.query_one("#expect-pane").display = not hide
        if not hide:
            self.query_one("#expect-title", Static).update(Content.assemble(*verdict_summary(st)))
        lines, now = timeline_lines(st, blind)
        verdicts = [] if hide else verdict_lines(st)
        self._share_height(len(lines), len(verdicts), 2 if described else 1, hide)
        self.query_one("#timeline-list", LineList).set_lines(lines, now)
        self.query_one("#expect-list", LineList).set_lines(verdicts)

    def _share_height(
        self, n_timeline: int, n_verdicts: int, legend_h: int, alone: bool = False
    ) -> None:
        """Stacked (narrow), each list gets what it needs if both fit; else the timeline
        gives up rows down to half the height. ``alone``: the timeline has the view to itself."""
        pane = self.query_one("#timeline-pane")
        if self.screen.has_class("-wide") or alone:
            height: str | int = "1fr"
        else:
            room = self.size.height - legend_h
            need_t, need_e = (
                n_timeline + 1,
                n_verdicts + 2,
            )  # titles, and the rule above the expectations
            height = (
                need_t if need_t + need_e <= room else min(need_t, max(room - need_e, room // 2, 4))
            )
        if getattr(self, "_pane_h", None) != height:
            self._pane_h = height
            pane.styles.height = height
