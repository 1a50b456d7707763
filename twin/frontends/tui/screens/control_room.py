"""The main screen: header, gauge strip, view tabs, the five views, and the message line.

It applies one snapshot per frame in one batch and adapts to the terminal: gauges grow
big digits when there is room, detail panels move beside the grids on wide terminals, and
below 80×24 it says so instead of drawing a broken screen.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Static

from twin.core.api import Snapshot
from twin.frontends.tui.widgets.command_bar import CommandBar, CommandLine, MessageBar
from twin.frontends.tui.widgets.events import EventsView
from twin.frontends.tui.widgets.fabric import FabricView
from twin.frontends.tui.widgets.floor import FloorView
from twin.frontends.tui.widgets.gauges import GaugeStrip
from twin.frontends.tui.widgets.header import HeaderBar, HeaderState, TabBar
from twin.frontends.tui.widgets.objectives import DrillPanel
from twin.frontends.tui.widgets.power import PowerView
from twin.frontends.tui.widgets.serving import ServingView
from twin.frontends.tui.widgets.timeline import TimelineView
from twin.frontends.tui.widgets.view import View, ViewContext

MIN_W, MIN_H = 80, 24
#: From these sizes on, panels go side by side and gauges draw big digits.
WIDE_W, TALL_H = 140, 40

VIEW_CLASSES = (FloorView, FabricView, PowerView, ServingView, EventsView)
VIEW_IDS = ("floor", "fabric", "power", "serving", "events")
#: View 6, when a scenario plays.
TIMELINE_CLASS, TIMELINE_ID = TimelineView, "timeline"

#: The keys of each view, for the idle message line.
VIEW_HINTS = {
    "floor": "Enter drill · f fail · r repair · d drain · s swap · h heat · / filter · b baseline",
    "fabric": "←↑↓→ switch · f fail · r repair · : degrade LINK 50%",
    "power": "←↑↓→ feed/PDU/loop · f fail · r repair · d drain · : cap 80%",
    "serving": "o sort · :route POLICY · :scale DEPLOYMENT N · :surge 2 10m · :cap 80%",
    "events": "↑↓ jk select · → open a cause · Enter go to it · c critical only · v full log · a ack · / filter",
    "timeline": "↑↓ scroll · tab other list · : act on top of the script · space pause",
}


class ControlRoom(Screen):
    #: The control room's keys: its actions are the app's (``app.``), live only while
    #: this screen is on top (a dialog or help has its own keys).
    BINDINGS = [
        Binding("1", "app.view(0)", "floor"),
        Binding("2", "app.view(1)", "fabric"),
        Binding("3", "app.view(2)", "power & cooling"),
        Binding("4", "app.view(3)", "serving"),
        Binding("5", "app.view(4)", "events"),
        Binding("6", "app.view(5)", "scenario timeline (twin SCENARIO.yaml)"),
        Binding("colon", "app.command_line", "command line (:fail pdu-3, :route kv-aware …)"),
        Binding("slash", "app.filter", "filter (floor and events)"),
        Binding("space,p", "app.toggle_pause", "pause / resume the clock"),
        Binding("plus,equals_sign", "app.faster", "faster (1× 10× 60× 600× max)"),
        Binding("minus", "app.slower", "slower"),
        Binding("f", "app.fail", "fail the selection"),
        Binding("r", "app.repair", "repair the selection"),
        Binding("d", "app.drain", "drain / undrain the selection"),
        Binding("s", "app.swap", "swap the selection's GPUs (asks which)"),
        Binding("h", "app.heat", "floor heat: state / utilisation / temperature"),
        Binding(
            "b",
            "app.baseline",
            "mark a baseline: every gauge shows its change since (b again moves it)",
        ),
        Binding("B", "app.clear_baseline", "clear the baseline"),
        Binding("a", "app.ack", "acknowledge the selected alarm (events)"),
        Binding("A", "app.ack_all", "acknowledge every alarm"),
        Binding("question_mark,f1", "app.help", "help for this view"),
        Binding(
            "escape",
            "app.back",
            "back: out of a drill-down, or to the alarms after Enter on one",
            show=False,
        ),
    ]

    def __init__(self, ctx: ViewContext, complete, timeline: bool = False):
        super().__init__(id="control-room")
        self.ctx = ctx
        self._complete = complete
        self.current = 0
        self.snapshot: Snapshot | None = None
        self.view_classes = VIEW_CLASSES + ((TIMELINE_CLASS,) if timeline else ())
        self.view_ids = VIEW_IDS + ((TIMELINE_ID,) if timeline else ())

    def compose(self) -> ComposeResult:
        yield HeaderBar(id="header")
        yield GaugeStrip(id="gauges")
        yield TabBar(id="tabs")
        with ContentSwitcher(initial=self.view_ids[0], id="views"):
            for cls, vid in zip(self.view_classes, self.view_ids, strict=True):
                yield cls(self.ctx, id=vid)
        yield DrillPanel(id="drill")
        yield MessageBar(id="message")
        yield CommandLine(self._complete, id="command-line")
        yield Static(id="too-small")

    def on_mount(self) -> None:
        self.query_one("#gauges", GaugeStrip).history_from_s = self.ctx.history_from_s
        self.query_one("#command-line", CommandLine).display = False
        self.query_one("#drill", DrillPanel).display = False
        self._tabs()
        self.say_hint()
        self.view.primary.focus()

    def on_resize(self) -> None:
        self._tabs()
        w, h = self.size
        self.set_class(w < MIN_W or h < MIN_H, "-too-small")
        self.query_one("#too-small", Static).update(
            f"terminal too small\n\ntwin needs at least {MIN_W}×{MIN_H}; this one is {w}×{h}\n"
            "make the window larger (or the font smaller)\n\nq quits"
        )
        self.set_class(w >= WIDE_W, "-wide")
        self.set_class(h >= TALL_H, "-tall")

    # ---- views --------------------------------------------------------------------------------
    @property
    def views(self) -> list[View]:
        return [self.query_one(f"#{vid}", View) for vid in self.view_ids]

    @property
    def view(self) -> View:
        return self.query_one(f"#{self.view_ids[self.current]}", View)

    def switch(self, index: int) -> None:
        self.current = index
        self.query_one("#views", ContentSwitcher).current = self.view_ids[index]
        if self.snapshot is not None:
            self.view.show(self.snapshot)
        self.set_focus(self.view.primary)
        self._tabs()
        self.say_hint()

    def _tabs(self) -> None:
        self.query_one("#tabs", TabBar).show([c.TITLE for c in self.view_classes], self.current)

    # ---- frames -------------------------------------------------------------------------------
    def show(self, snap: Snapshot, header: HeaderState) -> None:
        """Apply one frame: header, gauges and the view on screen (the others catch up when shown)."""
        self.snapshot = snap
        self.query_one("#header", HeaderBar).show(header)
        self.query_one("#gauges", GaugeStrip).show(snap)
        script = self.ctx.script
        self.query_one("#drill", DrillPanel).show(script.drill if script is not None else None)
        self.view.show(snap)

    def show_header(self, header: HeaderState) -> None:
        self.query_one("#header", HeaderBar).show(header)

    @property
    def gauges(self) -> GaugeStrip:
        return self.query_one("#gauges", GaugeStrip)

    # ---- the bottom line ----------------------------------------------------------------------
    @property
    def message(self) -> MessageBar:
        return self.query_one("#message", MessageBar)

    @property
    def command_bar(self) -> CommandBar:
        return self.query_one("#command", CommandBar)

    def say(self, text: str, kind: str = "info") -> None:
        self.message.say(text, kind)

    def say_hint(self) -> None:
        self.message.say(VIEW_HINTS[self.view_ids[self.current]], "hint")


#: The app's actions the room's keys run (off while the command line is open: keys are typed).
ROOM_ACTIONS = frozenset(
    b.action.removeprefix("app.").split("(")[0]
    for b in ControlRoom.BINDINGS  # type: ignore[union-attr]
)
