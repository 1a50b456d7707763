"""View 5, events: alarms grouped by root cause (or the whole log), newest first, with
acknowledgement, a critical-only switch, a `/` filter, and Enter to go to the component."""

from __future__ import annotations

from dataclasses import dataclass

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

from twin.core.api import Snapshot
from twin.frontends.tui import fmt
from twin.frontends.tui.alarms import AlarmGroup, group_alarms, racks_text
from twin.frontends.tui.model import SEVERITY_GLYPH, LogEntry
from twin.frontends.tui.widgets.view import View

SEVERITY_WORD = {"info": "info", "warning": "warn", "critical": "crit"}
SOURCE_W = 16


@dataclass(frozen=True)
class LogRow:
    """One line of the log: an entry, or a group of alarms with one cause (its root entry)."""

    entry: LogEntry
    group: AlarmGroup | None = None  # set on a group's own line
    depth: int = 0  # 1: an alarm shown under its opened group
    opened: bool = False

    @property
    def key(self) -> tuple[str, int]:
        return ("g" if self.group is not None else "e", self.entry.seq)


class EventLog(ScrollView, can_focus=True):
    """The log as a Line API list: only the lines on screen are drawn."""

    COMPONENT_CLASSES = {
        "eventlog--cursor",
        "eventlog--warning",
        "eventlog--critical",
        "eventlog--acked",
        "eventlog--muted",
    }

    BINDINGS = [
        Binding("up,k", "move(-1)", show=False),
        Binding("down,j", "move(1)", show=False),
        Binding("pageup", "move(-10)", show=False),
        Binding("pagedown", "move(10)", show=False),
        Binding("home,g", "move(-1000000)", show=False),
        Binding("end,G", "move(1000000)", show=False),
        Binding("right,l", "open(True)", show=False),
        Binding("left", "open(False)", show=False),
        Binding("enter", "jump", show=False),
    ]

    class Moved(Message):
        """The cursor moved to another entry."""

    class Toggled(Message):
        """The operator opened or closed a group."""

        def __init__(self, key: tuple[str, int], opened: bool):
            super().__init__()
            self.key, self.opened = key, opened

    class Jump(Message):
        """Enter: go to the component of the selected line."""

        def __init__(self, component: str):
            super().__init__()
            self.component = component

    def __init__(self, *, id: str | None = None):
        super().__init__(id=id)
        self.rows: list[LogRow] = []
        self.acked: set[int] = set()
        self.start_hour = 0.0
        self.cursor = 0

    @property
    def entries(self) -> list[LogEntry]:
        return [r.entry for r in self.rows]

    def set_entries(self, entries: list[LogEntry], acked: set[int], start_hour: float) -> None:
        self.set_rows([LogRow(e) for e in entries], acked, start_hour)

    def set_rows(self, rows: list[LogRow], acked: set[int], start_hour: float) -> None:
        keep = self.rows[self.cursor].key if self.rows and self.cursor > 0 else None
        self.rows, self.acked, self.start_hour = rows, set(acked), start_hour
        self.cursor = 0
        if keep is not None:  # stay on the line the operator was reading
            self.cursor = next((i for i, r in enumerate(rows) if r.key == keep), 0)
        self.virtual_size = Size(self.size.width, len(rows))
        self.refresh()

    @property
    def selected(self) -> LogEntry | None:
        return self.rows[self.cursor].entry if 0 <= self.cursor < len(self.rows) else None

    @property
    def selected_row(self) -> LogRow | None:
        return self.rows[self.cursor] if 0 <= self.cursor < len(self.rows) else None

    def action_move(self, delta: int) -> None:
        if not self.rows:
            return
        self.cursor = max(0, min(len(self.rows) - 1, self.cursor + delta))
        self.scroll_to_region(Region(0, self.cursor, 1, 1), animate=False, immediate=True)
        self.refresh()
        self.post_message(self.Moved())

    def action_open(self, opened: bool) -> None:
        row = self.selected_row
        if row is None:
            return
        if row.depth and not opened:  # ← on an alarm inside a group: back to the group, closed
            while self.cursor > 0 and self.rows[self.cursor].depth:
                self.cursor -= 1
            row = self.rows[self.cursor]
        if row.group is not None and row.opened != opened:
            self.post_message(self.Toggled(row.key, opened))

    def action_jump(self) -> None:
        row = self.selected_row
        if row is not None:
            self.post_message(
                self.Jump(row.group.key if row.group is not None else row.entry.source)
            )

    def on_click(self, event: Click) -> None:
        line = event.y + int(self.scroll_y)
        if 0 <= line < len(self.rows):
            self.focus()
            self.cursor = line
            self.refresh()
            self.post_message(self.Moved())

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        line = y + int(self.scroll_y)
        base = self.rich_style
        if line >= len(self.rows):
            if not self.rows and y == 0:
                return Strip(
                    [
                        Segment(
                            "no alarms match"
                            if self.parent and getattr(self.parent, "grouped", False)
                            else "no events match",
                            base + self.get_component_rich_style("eventlog--muted"),
                        )
                    ]
                ).extend_cell_length(width, base)
            return Strip.blank(width, base)
        row = self.rows[line]
        e = row.entry
        group = row.group
        muted = self.get_component_rich_style("eventlog--muted")
        if group is not None:
            unacked = group.unacked(self.acked)
            acked = unacked == 0
            severity = group.severity
        else:
            acked = e.event_id in self.acked
            severity = e.severity
        alarm = severity != "info" and e.event_id is not None
        sev_style = (
            self.get_component_rich_style(f"eventlog--{severity}")
            if severity != "info"
            else Style()
        )
        if acked and alarm:
            sev_style = self.get_component_rich_style("eventlog--acked")
        mark = "✓" if acked and alarm else ("!" if alarm else " ")
        if group is not None:
            mark = ("▾" if row.opened else "▸") if len(group.members) > 1 else mark
        ident = f"#{e.event_id}" if e.event_id is not None else ""
        segs = [Segment(f"{mark} ", base + sev_style)]
        if row.depth:
            segs.append(Segment("  └ ", base + muted))
        segs += [
            Segment(f"{fmt.sim_time(e.t_s, self.start_hour)} ", base),
            Segment(f"{SEVERITY_GLYPH[severity]} {SEVERITY_WORD[severity]} ", base + sev_style),
            Segment(f"{fmt.clip(e.source, SOURCE_W):<{SOURCE_W}} ", base + Style(bold=True)),
        ]
        if group is not None:
            n = len(group.alarms)
            racks = len(group.affected) if group.affected and group.key not in group.affected else 0
            count = f"[{n} alarm{'s' if n != 1 else ''}" + (
                f" · {racks} rack{'s' if racks != 1 else ''}" if racks else ""
            )
            segs += [
                Segment(f"{count}] ", base + Style(bold=True)),
                Segment(
                    e.message,
                    base + (self.get_component_rich_style("eventlog--acked") if acked else Style()),
                ),
            ]
        else:
            segs += [
                Segment(
                    e.message,
                    base + (self.get_component_rich_style("eventlog--acked") if acked else Style()),
                ),
                Segment(f"  {ident}", base + muted),
            ]
        strip = Strip(segs)
        if strip.cell_length > width:  # clipped: say so; the whole message is in the panel below
            strip = Strip([*strip.crop(0, max(width - 1, 0)), Segment("…", base + muted)])
        strip = strip.extend_cell_length(width, base)
        if line == self.cursor:
            strip = strip.apply_style(self.get_component_rich_style("eventlog--cursor"))
        return strip


class EventsView(View):
    TITLE = "Events"
    KEYS = (
        ("↑↓ j k pgup/pgdn", "move over the list (newest first)"),
        ("→ l / ←", "open a cause to see its alarms / close it"),
        ("Enter", "go to the component of the selected cause or alarm (floor, fabric or power)"),
        ("v", "alarms grouped by cause ↔ the whole log (commands and notes too)"),
        ("c", "critical alarms only ↔ every alarm"),
        ("a", "acknowledge the selected alarm (on a cause: all of its alarms)"),
        ("A", "acknowledge every alarm"),
        ("/", "filter by severity, source, rack or text"),
    )
    FILTERS = "events"

    BINDINGS = [
        Binding("c", "critical", "critical only", show=False),
        Binding("v", "grouped", "by cause / full log", show=False),
    ]

    def action_critical(self) -> None:
        on = self.toggle_critical()
        self.app.room.say(
            "critical alarms only (c shows every alarm)" if on else "every alarm", "info"
        )  # type: ignore[attr-defined]

    def action_grouped(self) -> None:
        on = self.toggle_grouped()
        self.app.room.say(
            "alarms grouped by cause (→ opens one, Enter goes to it)"
            if on  # type: ignore[attr-defined]
            else "the whole log: alarms, commands and notes, newest first",
            "info",
        )

    def __init__(self, ctx, *, id: str | None = None):
        super().__init__(ctx, id=id)
        self.grouped = True
        self.critical_only = False
        self.opened: set[tuple[str, int]] = set()
        self._groups: dict[tuple[str, int], AlarmGroup] = {}

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
        key = (
            book.version,
            self.filter_text,
            self.grouped,
            self.critical_only,
            frozenset(self.opened),
        )
        if getattr(self, "_shown", None) == key:
            return
        self._shown = key
        rows = self._group_rows() if self.grouped else self._log_rows()
        self.log.set_rows(rows, book.acked, self.ctx.start_hour)
        active = book.active()
        if self.grouped:
            n = sum(1 for r in rows if r.group is not None)
            parts: list = [("alarms by cause ", "bold"), f"· {n} cause{'s' if n != 1 else ''} · "]
        else:
            parts = [("alarm log ", "bold"), f"· {len(rows)} entries · "]
        parts.append(
            (f"{active} unacknowledged", "bold $error")
            if active
            else ("no unacknowledged alarms", "$success")
        )
        if self.critical_only:
            parts.append((" · critical only", "bold reverse"))
        if self.filter_text:
            parts.append((f" · filter: {self.filter_text}", "bold"))
        if self.app.size.width >= 100:  # the hint line says the same at 80 columns
            parts.append(
                (
                    f"   v {'full log' if self.grouped else 'by cause'} · c "
                    f"{'all' if self.critical_only else 'critical only'} · Enter go to",
                    "$text-muted",
                )
            )
        self.query_one("#events-legend", Static).update(Content.assemble(*parts))
        self._detail()

    def _log_rows(self) -> list[LogRow]:
        entries = self.ctx.alarms.matching(self.filter_text)
        if self.critical_only:
            entries = [e for e in entries if e.severity == "critical"]
        return [LogRow(e) for e in entries]

    def _group_rows(self) -> list[LogRow]:
        groups = group_alarms(self.ctx.alarms.entries, self.ctx.topology, self.critical_only)
        q = self.filter_text.strip().lower()
        rows: list[LogRow] = []
        self._groups = {}
        for g in groups:
            if q and not _group_matches(g, q):
                continue
            key = ("g", g.root.seq)
            self._groups[key] = g
            opened = key in self.opened
            rows.append(LogRow(g.root, g, 0, opened))
            if opened:
                rows += [
                    LogRow(m, None, 1)
                    for m in reversed(g.members)
                    if m is not g.root and (not self.critical_only or m.severity == "critical")
                ]
        return rows

    def on_event_log_moved(self, _message) -> None:
        self._detail()

    def on_event_log_toggled(self, message: EventLog.Toggled) -> None:
        (self.opened.add if message.opened else self.opened.discard)(message.key)
        self.refresh_log()

    def on_event_log_jump(self, message: EventLog.Jump) -> None:
        self.app.goto(message.component)  # type: ignore[attr-defined]

    def toggle_grouped(self) -> bool:
        self.grouped = not self.grouped
        self.refresh_log()
        return self.grouped

    def toggle_critical(self) -> bool:
        self.critical_only = not self.critical_only
        self.refresh_log()
        return self.critical_only

    def _detail(self) -> None:
        """The selected line in full: log lines are cut at the screen's edge."""
        row = self.log.selected_row
        box = self.query_one("#events-detail", Static)
        if row is None:
            box.update("")
            return
        e, g = row.entry, row.group
        acked = self.ctx.alarms.acked
        if g is not None:
            n, unacked = len(g.alarms), g.unacked(acked)
            kinds = " · ".join(f"{k} {what}" for what, k in g.kinds()[:5])
            parts: list = [
                (f"{fmt.sim_clock(e.t_s, self.ctx.start_hour)} {g.severity} {g.key}", "bold"),
                (f" · {n} alarm{'s' if n != 1 else ''}, {unacked} not acknowledged", "$text-muted"),
                f"\n{e.message}",
            ]
            if g.affected:
                topo = self.ctx.topology
                parts.append(f"\nracks hit: {racks_text(topo, g.affected)}")
                served: dict[str, int] = {}
                for r in g.affected:
                    for d in topo.rack_deployments[topo.rack_index[r]]:
                        served[d] = served.get(d, 0) + 1
                if served:
                    parts.append(
                        " · serving "
                        + ", ".join(
                            f"{d} ({n} rack{'s' if n != 1 else ''})" for d, n in served.items()
                        )
                    )
            if kinds:
                parts.append(("\nthen: ", "$text-muted"))
                parts.append(kinds)
            parts.append(
                (
                    f"\nEnter goes to {g.key} · → lists its alarms · a acknowledges them all",
                    "$text-muted",
                )
            )
            box.update(Content.assemble(*parts))
            return
        state = ""
        if e.event_id is not None and e.severity != "info":
            state = " · acknowledged" if e.event_id in acked else " · not acknowledged (a)"
        box.update(
            Content.assemble(
                (f"#{e.event_id} " if e.event_id is not None else "", "$text-muted"),
                (f"{fmt.sim_clock(e.t_s, self.ctx.start_hour)} {e.severity} {e.source}", "bold"),
                (state, "$text-muted"),
                f"\n{e.message}",
                (
                    f"\nEnter goes to {e.source}"
                    if self.ctx.topology.kind(e.source) != "component"
                    else "",
                    "$text-muted",
                ),
            )
        )

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

    def selected_alarms(self) -> list[int]:
        """The alarm ids `a` acknowledges: the selected alarm, or every alarm of the selected cause."""
        row = self.log.selected_row
        if row is None:
            return []
        if row.group is not None:
            return [e.event_id for e in row.group.alarms if e.event_id is not None]
        e = row.entry
        return [e.event_id] if e.event_id is not None and e.severity != "info" else []


def _group_matches(g: AlarmGroup, q: str) -> bool:
    if q in g.severity or q in g.key.lower() or any(q in r for r in g.affected):
        return True
    return any(q in m.message.lower() or q in m.source.lower() for m in g.members)
