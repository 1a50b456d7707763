"""View 5, events: the alarm log, newest first, with acknowledgement and a `/` filter."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.app import ComposeResult
from textual.binding import Binding
from textual.content import Content
from textual.events import Click
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Static

from twin.core.engine.snapshot import Snapshot
from twin.frontends.tui import fmt
from twin.frontends.tui.model import SEVERITY_GLYPH, LogEntry
from twin.frontends.tui.widgets.view import View

SEVERITY_WORD = {"info": "info", "warning": "warn", "critical": "crit"}
SOURCE_W = 16


class EventLog(ScrollView, can_focus=True):
    """The log as a Line API list: only the lines on screen are drawn."""

    COMPONENT_CLASSES = {"eventlog--cursor", "eventlog--warning", "eventlog--critical", "eventlog--acked",
                         "eventlog--muted"}

    BINDINGS = [
        Binding("up", "move(-1)", show=False),
        Binding("down", "move(1)", show=False),
        Binding("pageup", "move(-10)", show=False),
        Binding("pagedown", "move(10)", show=False),
        Binding("home", "move(-1000000)", show=False),
        Binding("end", "move(1000000)", show=False),
    ]

    class Moved(Message):
        """The cursor moved to another entry."""

    def __init__(self, *, id: str | None = None):
        super().__init__(id=id)
        self.entries: list[LogEntry] = []
        self.acked: set[int] = set()
        self.start_hour = 0.0
        self.cursor = 0

    def set_entries(self, entries: list[LogEntry], acked: set[int], start_hour: float) -> None:
        keep = self.entries[self.cursor].seq if self.entries and self.cursor > 0 else None
        self.entries, self.acked, self.start_hour = entries, set(acked), start_hour
        self.cursor = 0
        if keep is not None:  # stay on the entry the operator was reading
            self.cursor = next((i for i, e in enumerate(entries) if e.seq == keep), 0)
        self.virtual_size = Size(self.size.width, len(entries))
        self.refresh()

    @property
    def selected(self) -> LogEntry | None:
        return self.entries[self.cursor] if 0 <= self.cursor < len(self.entries) else None

    def action_move(self, delta: int) -> None:
        if not self.entries:
            return
        self.cursor = max(0, min(len(self.entries) - 1, self.cursor + delta))
        self.scroll_to_region(Region(0, self.cursor, 1, 1), animate=False, immediate=True)
        self.refresh()
        self.post_message(self.Moved())

    def on_click(self, event: Click) -> None:
        line = event.y + int(self.scroll_y)
        if 0 <= line < len(self.entries):
            self.focus()
            self.cursor = line
            self.refresh()
            self.post_message(self.Moved())

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        line = y + int(self.scroll_y)
        base = self.rich_style
        if line >= len(self.entries):
            if not self.entries and y == 0:
                return Strip([Segment("no events match", base + self.get_component_rich_style("eventlog--muted"))]
                             ).extend_cell_length(width, base)
            return Strip.blank(width, base)
        e = self.entries[line]
        acked = e.event_id in self.acked
        alarm = e.severity != "info" and e.event_id is not None
        sev_style = (self.get_component_rich_style(f"eventlog--{e.severity}") if e.severity != "info" else Style())
        if acked:
            sev_style = self.get_component_rich_style("eventlog--acked")
        mark = "✓" if acked else ("!" if alarm else " ")
        ident = f"#{e.event_id}" if e.event_id is not None else ""
        segs = [
            Segment(f"{mark} ", base + sev_style),
            Segment(f"{fmt.sim_time(e.t_s, self.start_hour)} ", base),
            Segment(f"{SEVERITY_GLYPH[e.severity]} {SEVERITY_WORD[e.severity]} ", base + sev_style),
            Segment(f"{fmt.clip(e.source, SOURCE_W):<{SOURCE_W}} ", base + Style(bold=True)),
            Segment(e.message, base + (self.get_component_rich_style("eventlog--acked") if acked else Style())),
            Segment(f"  {ident}", base + self.get_component_rich_style("eventlog--muted")),
        ]
        strip = Strip(segs).crop(0, width).extend_cell_length(width, base)
        if line == self.cursor:
            strip = strip.apply_style(self.get_component_rich_style("eventlog--cursor"))
        return strip


class EventsView(View):
    TITLE = "Events"
    KEYS = (
        ("↑↓ pgup/pgdn", "move over the log (newest first)"),
        ("a", "acknowledge the selected alarm"),
        ("A", "acknowledge every alarm"),
        ("/", "filter by severity, source or text"),
    )
    FILTERS = "events"

    def compose(self) -> ComposeResult:
        yield Static(id="events-legend", classes="legend")
        yield EventLog(id="events-log")
        yield Static(id="events-detail")

    @property
    def log(self) -> EventLog:
        return self.query_one("#events-log", EventLog)

    @property
    def primary(self) -> EventLog:
        return self.log

    def show(self, snap: Snapshot) -> None:
        super().show(snap)
        book = self.ctx.alarms
        key = (book.version, self.filter_text)
        if getattr(self, "_shown", None) == key:
            return
        self._shown = key
        entries = book.matching(self.filter_text)
        self.log.set_entries(entries, book.acked, self.ctx.start_hour)
        active = book.active()
        parts: list = [("alarm log ", "bold"), f"· {len(entries)} entries · "]
        parts.append((f"{active} unacknowledged", "bold $error") if active else ("no unacknowledged alarms", "$success"))
        if self.filter_text:
            parts.append((f" · filter: {self.filter_text}", "bold"))
        if self.size.width >= 100:
            parts.append(("   ✕ critical ▲ warning · info   ! alarm ✓ acknowledged", "$text-muted"))
        self.query_one("#events-legend", Static).update(Content.assemble(*parts))
        self._detail()

    def on_event_log_moved(self, _message) -> None:
        self._detail()

    def _detail(self) -> None:
        """The selected entry in full: log lines are cut at the screen's edge."""
        e = self.log.selected
        box = self.query_one("#events-detail", Static)
        if e is None:
            box.update("")
            return
        state = ""
        if e.event_id is not None and e.severity != "info":
            state = " · acknowledged" if e.event_id in self.ctx.alarms.acked else " · not acknowledged (a)"
        box.update(Content.assemble(
            (f"#{e.event_id} " if e.event_id is not None else "", "$text-muted"),
            (f"{fmt.sim_clock(e.t_s, self.ctx.start_hour)} {e.severity} {e.source}", "bold"),
            (state, "$text-muted"), f"\n{e.message}"))

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self._shown = None
        if self.snapshot is not None:
            self.show(self.snapshot)

    def refresh_log(self) -> None:
        self._shown = None
        if self.snapshot is not None:
            self.show(self.snapshot)

    def selected_event(self) -> LogEntry | None:
        return self.log.selected
