"""The control room's drill commands: ``:hint``, ``:debrief [FILE]`` and the end of a drill.

A drill is a scenario with objectives and critical tasks (`twin.core.scenario.drill`); the
scenario player keeps its score (`twin.core.scenario.score`). Here the app asks the
player, under the driver's lock, for a hint or for the whole report, and shows the
debrief (`twin.frontends.debrief`) on its screen or writes it to a file.
"""

from __future__ import annotations

import re
from pathlib import Path

from twin.frontends import debrief
from twin.frontends.tui import fmt
from twin.frontends.tui.screens.debrief import DebriefScreen


class DrillActions:
    """Mixed into `TwinApp` (which provides player, driver, room, alarms, blind, readonly)."""

    @property
    def drill(self):
        """The local player's score keeper (None without a drill, or on a remote console)."""
        return getattr(getattr(self, "player", None), "drill", None)

    def drill_elsewhere(self, text: str) -> bool:
        """A console whose drill runs elsewhere (a class's server) sends ``text`` there and
        returns True; the local room has none."""
        return False

    def _no_drill(self, what: str) -> str:
        script = getattr(self.ctx, "script", None)
        elsewhere = script is not None and script.drill is not None
        if elsewhere and self.drill_elsewhere(what):
            self._close_command_line()
            return None
        msg = (
            f"{what}: the drill runs on the server; this console cannot ask it for that"
            if elsewhere
            else f"{what}: no drill is running (a drill is a scenario with objectives; "
            "try twin scenarios/drills/…)"
        )
        self.room.say(msg, "error")
        return msg

    def take_hint(self) -> str | None:
        """``:hint``: the next hint, for its points."""
        if self.drill is None:
            return self._no_drill("hint")
        if self.readonly:
            return self._refuse("hint")
        with self.driver.lock:
            t = self.player.t_rel()
            text = self.drill.take_hint(t)
            cost = self.drill.drill.hint_cost
            left = len(self.drill.drill.hints) - len(self.drill.hints)
            if text is not None:  # journaled: it costs points, so a replay takes it too
                self.session.hint(self.player.factory.now)
        if text is None:
            msg = "hint: no hints left" if not self.drill.finished else "hint: the drill is over"
            self.room.say(msg, "warn")
            return msg
        self.alarms.note(self._now(), "info", "drill", f"hint (−{cost:g}): {text}")
        self.room.say(f"hint (−{cost:g}, {left} left): {text}", "hint")
        self._close_command_line()
        self.request_frame()
        return None

    def debrief_text(self) -> str:
        """The debrief of the drill so far, as Markdown."""
        p = self.player
        with self.driver.lock:
            rep = self.drill.report(p.t_rel(), p.applied)
            events = list(p.factory.events)
        if getattr(self, "_reference_done", None) is not None:
            rep["reference_score"] = self._reference_done
        actions = [debrief.Action(a["t_s"], a["do"], a["source"], a["ok"]) for a in rep["actions"]]
        notes = [
            debrief.Note(e.t_s - p.t0, e.severity, e.source, e.message)
            for e in events
            if e.t_s >= p.t0
        ]
        return debrief.render(p.sc.name, rep, actions, notes)

    def open_debrief(self, path: str | None = None) -> str | None:
        """``:debrief [FILE]``: the debrief screen (and the file); at the end of a drill too."""
        if self.drill is None:
            return self._no_drill("debrief" + (f" {path}" if path else ""))
        if self.blind and not self.player.finished:
            msg = "debrief: it opens when the drill is over (this session is blind)"
            self.room.say(msg, "warn")
            return msg
        if path is not None and self.readonly:
            return self._refuse(f"debrief {path}")
        text = self.debrief_text()
        if path is not None:
            err = self._write_debrief(Path(path), text)
            if err:
                return err
        self._close_command_line()
        if not isinstance(self.screen, DebriefScreen):
            screen = DebriefScreen(text, lambda: self._export_default(screen.text))
            self.push_screen(screen)
            if self.drill.drill.reference and getattr(self, "live", True):
                self.run_worker(lambda: self._reference_score(screen), thread=True, group="drill")
        return None

    def reference_score(self) -> float:
        """The reference response's score on this drill and seed (headless, a few seconds)."""
        from twin.core.api import Runner

        p = self.player
        steps = tuple((s.at_s, s.command) for s in p.sc.drill.reference)
        return Runner(p.sc, self.catalog, seed=p.factory.seed, extra=steps).run().drill["score"]

    def _reference_score(self, screen: DebriefScreen) -> None:  # in a worker thread
        score = self.reference_score()
        self.call_from_thread(self.got_reference_score, screen, score)

    def got_reference_score(self, screen: DebriefScreen, score: float) -> None:
        """From now on the debrief (on screen and in files) says what the reference scores."""
        self._reference_done = score
        screen.show_text(self.debrief_text())

    def _export_default(self, text: str) -> str:
        name = re.sub(r"[^A-Za-z0-9_.-]+", "-", self.player.sc.name)
        path = Path(f"{name}-debrief.md")
        return self._write_debrief(path, text) or f"debrief written to {path}"

    def _write_debrief(self, path: Path, text: str) -> str | None:
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as e:
            msg = f"debrief: cannot write {path}: {e.strerror or e}"
            self.room.say(msg, "error")
            return msg
        self.alarms.note(self._now(), "info", "drill", f"debrief written to {path}")
        self.room.say(f"debrief written to {path}", "ok")
        return None

    def drill_over(self) -> None:
        """The drill has ended: say the score and open the debrief."""
        if self.drill is None:
            return
        score = self.drill.score(self.player.t_rel())
        self.room.say(
            f"drill over at {fmt.rel_time(self.player.t_rel())}: score {score:g} / 100 · "
            ":debrief FILE writes the debrief",
            "ok" if score >= 80 else "warn",
        )
        self.open_debrief()
