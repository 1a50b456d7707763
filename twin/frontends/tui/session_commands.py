"""The session's side of commands: a line or a value in, carried out or queued, said back.

Mixed into `TwinApp`. Session commands (speed, pause, ack, save, hint, debrief) are
carried out here; factory commands are queued for the driver and their outcomes said on
the message line and noted in the log; a read-only session refuses what would change
anything.
"""

from __future__ import annotations

from pathlib import Path

from twin.core.api import commands as C
from twin.core.errors import TwinError
from twin.frontends.tui import fmt
from twin.frontends.tui.clock import speed_label
from twin.frontends.tui.widgets.events import EventsView


class SessionCommands:
    """Mixed into `TwinApp`; relies on its room, driver, clock, session and alarms."""

    def run_line(self, text: str) -> str | None:
        """Run one command line; returns an error to show inline, or None if it was accepted."""
        try:
            cmd = C.parse_command(text)
        except C.CommandError as e:
            self.room.say(str(e), "error")
            return str(e)
        return self.run_command(cmd)

    def run_command(self, cmd: C.Command | C.SessionCommand, from_line: bool = False) -> str | None:
        if isinstance(cmd, C.SessionCommand):
            return self._session(cmd)
        if self.readonly:
            return self._refuse(cmd.text)
        token = self.driver.submit(cmd)
        if from_line:
            self._line_token = token
        self.room.say(f"{cmd.text} …", "info")
        self.request_frame()
        return None

    def _refuse(self, what: str) -> str:
        msg = f"read-only session: '{what}' refused (navigation, filters and acknowledgements still work)"
        self.room.say(msg, "error")
        self.alarms.note(self._now(), "info", "operator", f"refused (read-only): {what}")
        return msg

    def _now(self) -> float:
        return self.snapshot.t_s if self.snapshot is not None else self.driver.now

    def _outcome(self, outcome) -> None:
        if outcome.source == "script":
            at = fmt.rel_time(outcome.t_s - self.player.t0) if self.player else ""
            if outcome.ok:
                self.room.say(f"▸ {at} scenario: {outcome.command.text}: {outcome.message}", "info")
            else:
                self.room.say(f"▸ {at} scenario: {outcome.message}", "error")
                self.alarms.note(outcome.t_s, "info", "scenario", f"refused: {outcome.message}")
            return
        if outcome.ok:
            self.room.say(f"{outcome.command.text}: {outcome.message}", "ok")
        else:
            self.room.say(outcome.message, "error")
            self.alarms.note(outcome.t_s, "info", "operator", f"refused: {outcome.message}")
        if outcome.token == self._line_token:
            self._line_token = None
            if outcome.ok:
                self._close_command_line()
            elif self.room.command_bar.parent.display:  # stays open to be fixed
                self.room.command_bar.refused()

    def _session(self, cmd: C.SessionCommand) -> str | None:
        if (
            isinstance(cmd, C.Speed | C.Pause | C.Resume | C.Save) and self.readonly
        ):  # read-only writes nothing
            return self._refuse(cmd.text)
        if isinstance(cmd, C.Speed):
            old = speed_label(self.clock.speed)
            self.clock.set_speed(cmd.factor)
            self._note(f"speed {old} → {speed_label(cmd.factor)}")
        elif isinstance(cmd, C.Pause):
            self.clock.pause()
            self._note("clock paused")
        elif isinstance(cmd, C.Resume):
            self.clock.resume()
            self._note(f"clock resumed at {speed_label(self.clock.speed)}")
        elif isinstance(cmd, C.Ack):
            return self._ack(cmd.event)
        elif isinstance(cmd, C.Save):
            return self._save(cmd.path, cmd.force)
        elif isinstance(cmd, C.Hint):
            return self.take_hint()
        elif isinstance(cmd, C.Debrief):
            return self.open_debrief(cmd.path)
        self._close_command_line()
        self.request_frame()
        return None

    def _save(self, path: str, force: bool = False) -> str | None:
        """The session's commands so far as a scenario file that replays them (same seed, same times)."""
        rec = self.session.recording
        if rec is not None and Path(path).resolve() == rec.resolve():
            msg = f"save: {path} is the file this session is recording to (--record); it is kept up to date already"
            self.room.say(msg, "error")
            return msg
        try:
            with self.driver.lock:  # the commands and the time they end at, as one
                written = self.session.save(path, self.driver.now, force)
        except TwinError as e:
            self.room.say(str(e), "error")
            return str(e)
        n = len(self.session.entries)
        self._note(
            f"saved {n} command{'s' if n != 1 else ''} to {written} (replay: twin run {written})"
        )
        self._close_command_line()
        return None

    @property
    def unsaved(self) -> int:
        """Operator commands in no file yet (quitting asks first when there are any; none
        while recording, where each is written as it is applied)."""
        return self.session.unsaved

    def _note(self, text: str) -> None:
        self.alarms.note(self._now(), "info", "session", text)
        self.room.say(text, "ok")
        self._refresh_header()
        self._refresh_events()

    def _ack(self, event: str | None) -> str | None:
        if event is None:
            n = self.alarms.ack(None)
            self.room.say(f"{n} alarm{'s' if n != 1 else ''} acknowledged", "ok")
        else:
            try:
                n = self.alarms.ack(int(event.lstrip("#")))
            except (KeyError, ValueError):
                msg = f"ack: no alarm #{event} in the log (alarms are the warnings and criticals of the events view)"
                self.room.say(msg, "error")
                return msg
            self.room.say(
                f"alarm #{event} acknowledged" if n else f"alarm #{event} was already acknowledged",
                "ok",
            )
        self._close_command_line()
        self._refresh_header()
        self._refresh_events()
        return None

    def _refresh_events(self) -> None:
        events = self.room.query_one(EventsView)
        if events.display:
            events.refresh_log()

    def open_command_line(self, text: str = "") -> None:
        if self.screen is not self.room:
            self.pop_screen()
        self.room.command_bar.open(":", text)
        self.room.say("Tab completes · → takes the suggestion · Enter runs · Esc closes", "hint")

    def _close_command_line(self) -> None:
        bar = self.room.command_bar
        if bar.parent.display:
            bar.parent.display = False
            bar.mode = ":"  # so clearing the text below is not read as a new filter
            bar.value = ""
            self.room.set_focus(self.room.view.primary)
