"""The control room's actions on the selection, its confirmations, and where keys lead.

A mixin of `TwinApp` (which owns the clock, the driver and the screens): the keys that
act on the selected component (fail, repair, drain, swap) and ask first when many racks
would go, the same questions for commands typed on the `:` line, `q`'s question, the
baseline, and `Enter` on an alarm taking the operator to its component.
"""

from __future__ import annotations

from twin.core.api import RACK_DRAINED
from twin.core.api import commands as C
from twin.core.units import format_duration
from twin.frontends.tui import fmt
from twin.frontends.tui.model import CONFIRM_KINDS
from twin.frontends.tui.screens.choose_gpu import ChooseGpuScreen
from twin.frontends.tui.screens.confirm import ConfirmScreen
from twin.frontends.tui.screens.control_room import ControlRoom
from twin.frontends.tui.widgets.events import EventsView
from twin.frontends.tui.widgets.floor import FloorView


class RoomActions:
    """Mixed into `TwinApp`; every method relies on its attributes (room, ctx, catalog …)."""

    #: The view that shows each kind of component (its index), for Enter on an alarm.
    _VIEW_OF_KIND = {
        "rack": 0,
        "row": 0,
        "group": 0,
        "leaf": 1,
        "spine": 1,
        "link": 1,
        "pdu": 2,
        "feed": 2,
        "loop": 2,
        "deployment": 3,
    }

    def _question(self, cmd: C.Command) -> tuple[str, str] | None:
        """What to ask before a command that takes many racks out, as the keys ask (None: just run it)."""
        target = getattr(cmd, "target", "")
        kind = self.ctx.topology.kind(target)
        n = self.ctx.topology.racks_behind(target)
        racks = f"{n} rack{'s' if n != 1 else ''}"
        if isinstance(cmd, C.Swap):
            downtime = format_duration(float(self.catalog.constants.get("swap_downtime_s", 3600)))
            warn = self._swap_warning(cmd)
            return (
                f"Swap {kind} {target} to {cmd.gpu}?",
                f"{racks} go down for {downtime} while their servers are replaced."
                + (f"\n⚠ {warn}" if warn else "")
                + f"\n:{cmd.text}",
            )
        if kind not in CONFIRM_KINDS or not isinstance(cmd, C.Fail | C.Drain | C.Undrain):
            return None
        verb = cmd.verb.capitalize()
        return f"{verb} {kind} {target}?", f"{self._effect(cmd.verb, racks, kind)}\n:{cmd.text}"

    @staticmethod
    def _effect(verb: str, racks: str, kind: str = "") -> str:
        if verb == "fail" and kind == "loop":
            return (
                f"Its {racks} lose cooling: their GPUs heat up, throttle within minutes and shut down "
                "if it is not repaired in time."
            )
        if verb == "fail" and kind == "spine":
            return "Every leaf loses its uplinks to it; traffic crosses the spines left (less bandwidth)."
        if verb == "fail" and kind in ("row", "group"):
            return f"{racks} go down until repaired."
        return {
            "fail": f"Every rack it carries alone goes down until it is repaired ({racks} behind it; "
            "A/B-fed racks keep their other feed).",
            "drain": f"{racks} stop taking new requests; running ones finish.",
            "undrain": f"{racks} take requests again.",
        }.get(verb, f"{racks} affected.")

    def action_baseline(self) -> None:
        snap = self.snapshot
        if snap is None:
            return
        strip = self.room.gauges
        strip.baseline = dict(snap.gauges)
        self._baseline_at = fmt.sim_time(snap.t_s, self.ctx.start_hour)
        self.room.say(
            f"baseline marked at {self._baseline_at}: every gauge shows Δ, its change since · "
            "b moves it · B clears it",
            "ok",
        )
        self.room.show(snap, self.header_state())

    def action_clear_baseline(self) -> None:
        self.room.gauges.baseline = None
        self._baseline_at = None
        self.room.say("baseline cleared", "info")
        if self.snapshot is not None:
            self.room.show(self.snapshot, self.header_state())

    def action_back(self) -> None:
        if self._from_alarm:
            self._from_alarm = False
            self.room.switch(4)

    def _selection(self, verb: str) -> str | None:
        target = self.room.view.selection()
        if target is None:
            self.room.say(
                f"{verb}: nothing selected here — select a rack or row (1), a switch (2) "
                "or a feed, PDU or loop (3)",
                "warn",
            )
        return target

    def _act(self, cmd: C.Command, question: str) -> None:
        """Run a command on the selection, asking first if it touches many racks."""
        if self.readonly:
            self._refuse(cmd.text)
            return
        target = getattr(cmd, "target", "")
        kind = self.ctx.topology.kind(target)
        if kind in CONFIRM_KINDS:
            n = self.ctx.topology.racks_behind(target)
            effect = self._effect(cmd.verb, f"{n} rack{'s' if n != 1 else ''}", kind)
            self.push_screen(
                ConfirmScreen(question, f"{effect}\n:{cmd.text}"),
                lambda yes: (
                    self.run_command(cmd)
                    if yes
                    else self.room.say(f"{cmd.text}: cancelled", "info")
                ),
            )
        else:
            self.run_command(cmd)

    def action_fail(self) -> None:
        target = self._selection("fail")
        if target:
            self._act(C.Fail(target), f"Fail {self.ctx.topology.kind(target)} {target}?")

    def action_repair(self) -> None:
        target = self._selection("repair")
        if target:
            if self.readonly:
                self._refuse(f"repair {target}")
                return
            self.run_command(C.Repair(target))

    def action_drain(self) -> None:
        target = self._selection("drain")
        if not target:
            return
        racks = self.layout.racks_of(target) if target in self.layout.ids else ()
        if not racks:
            self.room.say(f"drain: {target} holds no racks", "warn")
            return
        drained = self._all_drained(racks)
        cmd = C.Undrain(target) if drained else C.Drain(target)
        self._act(
            cmd, f"{'Undrain' if drained else 'Drain'} {self.ctx.topology.kind(target)} {target}?"
        )

    def _all_drained(self, racks) -> bool:
        snap = self.snapshot
        if snap is None:
            return False
        idx = self.ctx.topology.rack_index
        return all(int(snap.racks.state[idx[r]]) == RACK_DRAINED for r in racks)

    def action_swap(self) -> None:
        target = self._selection("swap")
        if not target:
            return
        kind = self.ctx.topology.kind(target)
        if kind not in ("rack", "row", "group"):
            self.room.say(
                f"swap: {target} is a {kind}; select a rack or a row on the floor (1)", "warn"
            )
            return
        if self.readonly:
            self._refuse(f"swap {target}")
            return
        snap = self.snapshot
        current = (
            snap.racks.gpu[self.ctx.topology.rack_index[target]]
            if snap and kind == "rack"
            else None
        )
        gpus = sorted(((g.id, g.name) for g in self.catalog.gpus.values()), key=lambda x: x[0])
        downtime = format_duration(float(self.catalog.constants.get("swap_downtime_s", 3600)))
        n = self.ctx.topology.racks_behind(target)

        def chosen(gpu: str | None) -> None:
            if not gpu:
                self.room.say(f"swap {target}: cancelled", "info")
                return
            cmd = C.Swap(target, gpu)
            if not self._swap_warning(cmd):
                self.run_command(cmd)
                return
            # the new racks would overload their power: say so and ask again
            self.push_screen(
                ConfirmScreen(*self._question(cmd)),
                lambda yes: (
                    self.run_command(cmd)
                    if yes
                    else self.room.say(f"{cmd.text}: cancelled", "info")
                ),
            )

        self.push_screen(ChooseGpuScreen(target, n, gpus, current, downtime), chosen)

    def _swap_warning(self, cmd: C.Swap) -> str:
        """The engine's warning for this swap (PDUs or racks over their rating), without the
        'warning: ' it starts with; '' when all is well or the driver cannot say (remote)."""
        ask = getattr(self.driver, "swap_warning", None)
        warn = ask(cmd.target, cmd.gpu) if ask is not None else ""
        return warn.removeprefix("warning: ")

    def action_heat(self) -> None:
        if self.room.current != 0:
            self.room.switch(0)
        mode = self.room.query_one(FloorView).cycle_heat()
        self.room.say(f"floor heat: {mode}", "info")

    def action_ack(self) -> None:
        view = self.room.view
        if not isinstance(view, EventsView):
            self.room.say(
                "a acknowledges the selected alarm in the events view (5); A acknowledges all",
                "warn",
            )
            return
        ids = view.selected_alarms()
        if not ids:
            self.room.say(
                "select an alarm (a warning or critical event) or a cause to acknowledge", "warn"
            )
            return
        if len(ids) == 1:
            self._ack(str(ids[0]))
            return
        n = self.alarms.ack_many(ids)
        self.room.say(
            f"{n} alarm{'s' if n != 1 else ''} of {view.log.selected_row.group.key} acknowledged",
            "ok",
        )
        self._refresh_header()
        self._refresh_events()

    def goto(self, component: str) -> bool:
        """Show ``component`` selected in its view (a rack on the floor, a PDU in power …)."""
        kind = self.ctx.topology.kind(component)
        index = self._VIEW_OF_KIND.get(kind)
        if kind == "link":  # a link is shown by the leaf it hangs from
            component = next((lk for lk in self.layout.fabric.links if lk.id == component), None)
            component = component.a if component is not None else ""
        if index is None or not component:
            self.room.say(
                f"{component or 'that'} is not a component on the floor, fabric or power views",
                "warn",
            )
            return False
        self.room.switch(index)
        if not self.room.view.select_component(component):
            self.room.say(
                f"{component}: not shown in the {self.room.view.TITLE.lower()} view", "warn"
            )
            return False
        self.room.say(f"{kind} {component} · Esc or 5 goes back to the alarms", "info")
        self._from_alarm = True
        return True

    def action_ack_all(self) -> None:
        self._ack(None)

    async def action_quit(self) -> None:
        """q: quit, asking first if that loses something — commands not saved, a drill still
        running, a recording being made (ctrl+q never asks)."""
        reasons = self._quit_reasons()
        if reasons and isinstance(self.screen, ControlRoom):
            keys = "y quits; n stays" + (
                " — then :save FILE writes the session as a replayable scenario."
                if self.unsaved
                else "."
            )
            self.push_screen(
                ConfirmScreen(
                    f"Quit {reasons[0]}?" if len(reasons) == 1 else "Quit?",
                    keys if len(reasons) == 1 else "".join(f"· {r}\n" for r in reasons) + keys,
                ),
                lambda yes: self.exit() if yes else self.room.say("not quitting", "info"),
            )
            return
        self.exit()

    def _quit_reasons(self) -> list[str]:
        out = []
        n = self.unsaved
        if n:
            out.append(f"with {n} command{'s' if n != 1 else ''} not saved")
        st = self.ctx.script
        if self.scenario is not None and (st is None or st.status == "running"):
            at = fmt.rel_time(st.t_s) if st is not None else "T+00:00"
            out.append(f"the drill {self.scenario.name} at {at}, still running")
        if self.session.recording is not None:
            out.append(f"ending the recording to {self.session.recording}")
        return out
