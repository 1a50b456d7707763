"""The control room app: keys and commands in, one snapshot per frame out.

The app runs no simulation logic. A timer (a few frames a second) asks `SimClock` where
simulated time should be, and a worker thread asks `EngineDriver` to get there and
snapshot; the frame comes back as a message and is applied in one batch. Commands from
the `:` line, the selection keys and the palette become command values: session ones
(speed, pause, ack, save) are carried out here, factory ones are queued for the driver,
which applies them in order at the start of the next step — at once, not at the next
timer tick.

Given a scenario, the app plays it: the driver's `ScenarioPlayer` fires its events at
their simulated times as the clock passes them, and view 6 (the timeline) shows what has
happened, what comes next (not with ``blind``) and how each expectation stands. Every
command applied, the operator's and the script's, goes to a `SessionLog`, which with
``record`` journals it to disk the moment it is applied.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from textual import on
from textual.app import App
from textual.binding import Binding
from textual.message import Message

from twin.core.api import (
    Catalog,
    Factory,
    Layout,
    Scenario,
    load_catalog,
    load_layout,
    open_scenario,
)
from twin.core.api import commands as C
from twin.core.units import format_duration
from twin.frontends.playback import ScenarioPlayer, ScriptState
from twin.frontends.recording import SessionLog, scenario_overrides
from twin.frontends.tui import fmt
from twin.frontends.tui.actions import RoomActions
from twin.frontends.tui.clock import SimClock, step_speed
from twin.frontends.tui.drill_actions import DrillActions
from twin.frontends.tui.driver import EngineDriver, Frame
from twin.frontends.tui.model import AlarmBook, Topology
from twin.frontends.tui.palette import TwinCommands
from twin.frontends.tui.screens.confirm import ConfirmScreen
from twin.frontends.tui.screens.control_room import ROOM_ACTIONS, ControlRoom
from twin.frontends.tui.screens.help import HelpScreen, help_content
from twin.frontends.tui.session_commands import SessionCommands
from twin.frontends.tui.widgets.command_bar import CommandBar
from twin.frontends.tui.widgets.header import HeaderState
from twin.frontends.tui.widgets.view import ViewContext

#: Frames per second at which the screen follows the simulation.
FPS = 5.0
#: Wall seconds a step may spend catching up before the frame is shown anyway.
STEP_BUDGET_S = 0.15


class FrameReady(Message):
    def __init__(self, frame: Frame, seq: int):
        super().__init__()
        self.frame, self.seq = frame, seq


@dataclass
class _Rate:
    """The simulated-time rate actually achieved, smoothed over recent frames."""

    wall: float = 0.0
    sim: float = 0.0
    rate: float | None = None

    def update(self, wall: float, sim: float) -> None:
        if self.wall and wall > self.wall:
            r = (sim - self.sim) / (wall - self.wall)
            self.rate = r if self.rate is None else 0.7 * self.rate + 0.3 * r
        self.wall, self.sim = wall, sim


class TwinApp(SessionCommands, DrillActions, RoomActions, App[None]):
    """`twin [LAYOUT]`: the live control room."""

    CSS_PATH = "app.tcss"
    TITLE = "twin"
    COMMANDS = App.COMMANDS | {TwinCommands}
    ENABLE_COMMAND_PALETTE = True

    #: The app's own keys; the control room's are the room's (`ControlRoom.BINDINGS`).
    BINDINGS = [Binding("q", "quit", "quit")]

    def __init__(
        self,
        layout: Layout | str = "default",
        *,
        catalog: Catalog | None = None,
        seed: int | None = None,
        speed: float | None = 1.0,
        readonly: bool = False,
        faults: bool = False,
        wall: Callable[[], float] = time.monotonic,
        fps: float = FPS,
        live: bool = True,
        step_budget_s: float | None = STEP_BUDGET_S,
        warm_up_s: float = 0.0,
        paused: bool = False,
        scenario: Scenario | ScenarioPlayer | None = None,
        blind: bool = False,
        record: str | Path | None = None,
        warm_up_progress: Callable[[float, float], None] | None = None,
        force: bool = False,
        driver: EngineDriver | None = None,
    ):
        """``scenario`` plays a scenario (a `ScenarioPlayer` whose warm-up may already have
        run); ``blind`` hides its upcoming events; ``record`` journals every command applied
        to that file as it is applied (a scenario file that replays the session).
        ``warm_up_s`` runs a layout that long before the first frame, so the room opens on a
        factory at steady state (``warm_up_progress(done_s, total_s)`` follows it); the
        gauges' sparklines start after it. ``driver`` is an engine elsewhere (``twin
        attach``'s `RemoteDriver`): then nothing is built or run here."""
        super().__init__()
        self.catalog = catalog or load_catalog()
        if driver is None:
            factory, player = self._open(layout, scenario, seed)
            seed, start_hour = factory.seed, factory.start_hour
        else:  # the engine is elsewhere (twin attach: the class's server); layout is its
            self.layout, factory, player, start_hour = layout, None, None, driver.start_hour
        self.scenario = player.sc if player is not None else None
        self.player = player
        self.blind = blind and player is not None
        sc = self.scenario
        self.session = SessionLog(
            self.layout,
            seed,
            sc.tick_s if sc else self.layout.tick_s,
            t0=player.t0 if player else 0.0,
            warmup_s=sc.warmup_s if sc else 0.0,
            overrides=scenario_overrides(sc.file) if sc else None,
            scenario=sc.name if sc else None,
            record=record,
            scenario_file=sc.file if sc else None,
            force=force,
        )
        if factory is not None:
            driver = EngineDriver(factory, player, on_applied=self.session.record)
        self.driver = driver
        if factory is not None:
            self._start(factory, faults, warm_up_s, warm_up_progress)
        self.wall = wall
        self.clock = SimClock(self.driver.now, speed=speed, paused=paused, wall=wall)
        self.readonly = readonly
        self.fps = fps
        self.live = live
        self.step_budget_s = step_budget_s
        k = self.catalog.constants
        self.ctx = ViewContext(
            topology=Topology.of(self.layout),
            catalog=self.catalog,
            start_hour=start_hour,
            ambient_c=self.layout.site.ambient_c,
            throttle_c=float(k.get("gpu_throttle_c", 90.0)),
            alarms=AlarmBook(),
            scenario=self.scenario,
            blind=self.blind,
            history_from_s=0.6 * (warm_up_s if player is None else player.sc.warmup_s),
        )
        self.alarms = self.ctx.alarms
        self.snapshot = None
        self._in_flight = False
        self._again = False
        self._waiters: list[tuple[int, asyncio.Event]] = []
        self._started = 0  # frames started (their sequence numbers)
        self._rate = _Rate()
        self._lagging = False
        self._line_token: int | None = None  # the command line waits for this outcome
        self._script_status = "running"
        self._from_alarm = False  # Enter on an alarm brought the operator here: Esc goes back
        self._baseline_at: str | None = None  # the baseline's time, when one is marked

    def _open(self, layout: Layout | str, scenario, seed: int | None):
        """The factory (and the scenario's player) this room runs."""
        player: ScenarioPlayer | None = None
        if scenario is not None:
            if isinstance(scenario, ScenarioPlayer):
                player = scenario
            else:
                player = open_scenario(scenario, self.catalog, seed, ScenarioPlayer).player
            self.layout = player.sc.layout
            player.warm_up()
            return player.factory, player
        self.layout = layout if isinstance(layout, Layout) else load_layout(layout, self.catalog)
        return Factory(self.layout, self.catalog, seed=seed, faults=False), None

    def _start(self, factory, faults: bool, warm_up_s: float, progress) -> None:
        if faults and self.player is None:  # as a command, so a recording replays it
            self.driver.submit(C.Faults(True))
            self.driver.step(factory.now)
        if self.player is not None:
            self.driver.start()
        elif warm_up_s > 0:
            step = max(warm_up_s / 50, 1.0)
            while factory.now < warm_up_s - 1e-9:
                factory.advance_to(min(factory.now + step, warm_up_s))
                if progress is not None:
                    progress(factory.now, warm_up_s)

    @property
    def recorded(self) -> list[tuple[float, str]]:
        """(time as a recording writes it, command) of every command applied this session."""
        return [(t, text) for t, text, _ in self.session.entries]

    # ---- set-up -------------------------------------------------------------------------------
    @property
    def view_titles(self) -> list[str]:
        return [c.TITLE for c in self.room.view_classes]

    @property
    def room(self) -> ControlRoom:
        return self.get_screen("room")  # type: ignore[return-value]

    def on_mount(self) -> None:
        self.install_screen(
            ControlRoom(self.ctx, self.complete, timeline=self.scenario is not None), name="room"
        )
        self.push_screen("room")
        if self.scenario is not None:
            self.call_after_refresh(self._greet)
        self.request_frame()
        if self.live:
            self.set_interval(1.0 / self.fps, self.request_frame, name="frames")

    def _greet(self) -> None:
        sc = self.scenario
        warm = f" after a {format_duration(sc.warmup_s)} warm-up" if sc.warmup_s else ""
        if self.blind:  # a trainee learns nothing of what is coming or how they are graded
            self.room.say(
                f"scenario {sc.name} (blind): T+00:00 is now{warm} · what comes next is hidden",
                "info",
            )
            return
        n, m = len(sc.events), len(sc.expect)
        self.room.say(
            f"scenario {sc.name}: {n} event{'s' if n != 1 else ''}, {m} expectation{'s' if m != 1 else ''}; "
            f"T+00:00 is now{warm} · 6 shows the timeline",
            "info",
        )

    def complete(self, text: str) -> list[str]:
        topo = self.ctx.topology
        return C.complete(
            text,
            topo.ids,
            gpus=list(self.catalog.gpus),
            deployments=topo.deployments,
            workloads=topo.workloads,
        )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # while the command line is open, keys are typed, never run
        return not (action in ROOM_ACTIONS and self.room.command_bar.parent.display)

    def key_bindings(self) -> list[Binding]:
        """Every key of the control room and the app, in help order."""
        return [*ControlRoom.BINDINGS, *self.BINDINGS]  # type: ignore[list-item]

    # ---- frames -------------------------------------------------------------------------------
    def request_frame(self) -> None:
        """Start a step towards the clock's target, unless one is running (then one more after it)."""
        if self._in_flight:
            self._again = True
            return
        self._in_flight = True
        self._started += 1
        target = self.clock.target()
        self.run_worker(
            partial(self._step, target, self._started),
            thread=True,
            group="engine",
            name="engine step",
            exit_on_error=True,
        )

    def _step(self, target: float | None, seq: int) -> None:  # in a worker thread
        self.post_message(FrameReady(self.driver.step(target, self.step_budget_s), seq))

    async def frame(self) -> None:
        """Run a frame that starts from now to completion (tests and screenshots drive the app
        with this: a frame already under way was aimed at an older target, so it does not count)."""
        done = asyncio.Event()
        self._waiters.append((self._started + 1, done))
        self.request_frame()
        await done.wait()

    def on_frame_ready(self, message: FrameReady) -> None:
        frame = message.frame
        snap = frame.snapshot
        self._in_flight = False
        self._track_rate(frame)
        self.alarms.merge(snap.events)
        if frame.script is not None:
            self.ctx.script = frame.script
        for outcome in frame.outcomes:
            self._outcome(outcome)
        self.snapshot = snap
        if frame.script is not None and frame.script.status != self._script_status:
            self._script_stopped(frame.script, snap.t_s)
        with self.batch_update():
            self.room.show(snap, self.header_state())
        for need, event in self._waiters:
            if need <= message.seq:
                event.set()
        self._waiters = [(need, event) for need, event in self._waiters if not event.is_set()]
        if self._again or self.driver.has_pending:
            self._again = False
            self.request_frame()

    def _track_rate(self, frame: Frame) -> None:
        t = frame.snapshot.t_s
        if self.clock.flat_out:
            self.clock.sync(t)
        elif not frame.reached:
            self.clock.sync(t)  # drop the debt; show the rate kept instead
        self._lagging = not frame.reached
        self._rate.update(self.wall(), t)

    def header_state(self) -> HeaderState:
        snap = self.snapshot
        achieved = None
        if (self.clock.flat_out or self._lagging) and not self.clock.paused:
            achieved = self._rate.rate
        return HeaderState(
            factory=self.layout.site.name,
            t_s=snap.t_s if snap else 0.0,
            start_hour=self.ctx.start_hour,
            speed=self.clock.speed,
            paused=self.clock.paused,
            achieved=achieved,
            routing=snap.routing if snap else "",
            alarms=self.alarms.active(),
            worst=self.alarms.worst_active(),
            faults=len(snap.active_faults) if snap else 0,
            readonly=self.readonly,
            random_faults=bool(snap and snap.faults_enabled),
            scenario=self._scenario_clock(),
            recording=self.session.recording is not None,
            baseline=self._baseline_at,
        )

    def _scenario_clock(self) -> str | None:
        """'T+06:12/30m' (or with 'ended' / 'aborted') for the header."""
        st = self.ctx.script
        if st is None:
            return None
        clock = f"{fmt.rel_time(st.t_s)}/{format_duration(st.duration_s)}"
        return clock if st.status == "running" else f"{clock} {st.status}"

    def _script_stopped(self, st: ScriptState, t_s: float) -> None:
        """The scenario ended or aborted: pause on that instant and say how it went."""
        self._script_status = st.status
        self.clock.pause()
        self.clock.sync(t_s)  # after pausing, so no wall time slips in between
        c = st.counts
        held = f"{c['held']} of {len(st.verdicts)} expectations held"
        if st.status == "aborted":
            text = f"scenario aborted: {st.aborted} · paused; space runs on without the script"
            self.alarms.note(t_s, "info", "scenario", text)  # the engine logged the alarm itself
            self.room.say(text, "error")
        else:
            failed = f", {c['failed']} failed" if c["failed"] else ""
            text = (
                f"scenario over at {fmt.rel_time(st.t_s)}: {held}{failed} · paused; space runs on"
            )
            self.alarms.note(t_s, "info", "scenario", text)
            self.room.say(text, "ok" if not c["failed"] else "warn")
        self._refresh_header()
        self._refresh_events()
        self.drill_over()

    def _refresh_header(self) -> None:
        if self.snapshot is not None:
            self.room.show_header(self.header_state())

    def close_recording(self, timeout: float = -1) -> None:
        """End the --record file with the session's end time (on quit; idempotent).

        Every command is on disk already; this adds the session's length. ``timeout`` (s)
        bounds the wait for the engine thread (a signal handler must not block for ever).
        """
        if not self.driver.lock.acquire(timeout=timeout):
            return
        try:
            self.session.close(self.driver.now)
        finally:
            self.driver.lock.release()

    def on_unmount(self) -> None:
        self.close_recording()

    # ---- the command line ---------------------------------------------------------------------
    @on(CommandBar.Submitted, "#command")
    def _submitted(self, event: CommandBar.Submitted) -> None:
        bar = self.room.command_bar
        text = event.value.strip()
        if bar.mode == "/":
            self._close_command_line()
            self.room.view.set_filter(text)
            self.room.say(f"filter: {text}" if text else "filter cleared", "info")
            return
        if not text:
            self._close_command_line()
            return
        if self.extra_line(text):  # a class's own commands (twin attach)
            return
        try:
            cmd = C.parse_command(text)
        except C.CommandError as e:
            self.room.say(str(e), "error")  # stays open with the line, to fix it
            bar.refused()
            return
        asked = self._question(cmd)
        if asked is None or self.readonly:
            self.run_command(cmd, from_line=True)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.run_command(cmd, from_line=True)
            else:  # the line stays open with the command, to change or drop it
                self.room.say(f"{cmd.text}: cancelled", "info")
                bar.refused()

        self.push_screen(ConfirmScreen(*asked), answered)

    def extra_line(self, text: str) -> bool:
        """A command line this room handles itself before the control room's grammar (True if
        it did); the local room has none."""
        return False

    @on(CommandBar.Changed, "#command")
    def _changed(self, event: CommandBar.Changed) -> None:
        bar = self.room.command_bar
        if bar.mode == "/" and bar.parent.display:
            self.room.view.set_filter(event.value)

    @on(CommandBar.Closed)
    def _closed(self) -> None:
        bar = self.room.command_bar
        if bar.mode == "/":  # Esc on a filter clears it
            self.room.view.set_filter("")
        self._line_token = None
        self._close_command_line()
        self.room.say_hint()

    @on(CommandBar.Hint)
    def _hint(self, event: CommandBar.Hint) -> None:
        self.room.say(event.text, "hint")

    # ---- actions ------------------------------------------------------------------------------
    def action_view(self, index: int) -> None:
        if self.screen is not self.room:
            self.pop_screen()
        self._close_command_line()
        self._from_alarm = False
        if index >= len(self.room.view_classes):
            self.room.say(
                "6 is the scenario timeline: start twin with a scenario file (twin SCENARIO.yaml)",
                "warn",
            )
            return
        self.room.switch(index)

    def action_command_line(self) -> None:
        self.open_command_line()

    def action_filter(self) -> None:
        view = self.room.view
        if not view.FILTERS:
            self.room.say(
                f"no filter in the {view.TITLE.lower()} view (floor and events have one)", "warn"
            )
            return
        self.room.command_bar.open("/", view.filter_text)
        self.room.say(
            f"filter {view.FILTERS}: type to narrow · Enter keeps it · Esc clears it", "hint"
        )

    def action_toggle_pause(self) -> None:
        self.run_command(C.Resume() if self.clock.paused else C.Pause())

    def action_faster(self) -> None:
        self.run_command(C.Speed(step_speed(self.clock.speed, +1)))

    def action_slower(self) -> None:
        self.run_command(C.Speed(step_speed(self.clock.speed, -1)))

    def action_help(self) -> None:
        view = self.room.view
        keys = []
        for b in self.key_bindings():
            keys.append((_key_label(b.key), b.description))
        keys += [
            ("ctrl+p", "command palette: every command, fuzzy search"),
            ("ctrl+q", "quit"),
            ("Esc", "close the command line, a filter, a dialog or this help"),
        ]
        content = help_content(view.TITLE, view.KEYS, keys, self.readonly, self.help_commands())
        self.push_screen(HelpScreen(content))

    def help_commands(self) -> list[tuple[str, str]] | None:
        """The ``:`` commands help lists (None: all of the control room's)."""
        return None


_KEY_NAMES = {
    "colon": ":",
    "slash": "/",
    "space": "space",
    "plus": "+",
    "equals_sign": "=",
    "minus": "-",
    "question_mark": "?",
    "f1": "F1",
}


def _key_label(keys: str) -> str:
    return " ".join(_KEY_NAMES.get(k, k) for k in keys.split(","))
