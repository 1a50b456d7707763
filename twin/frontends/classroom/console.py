"""The control room attached to a class: `TwinApp` with a `RemoteDriver` for an engine.

What differs from the local room: the clock is the server's (pause and speed go up as
commands, and only a role that may use them sees their keys); the class's own commands
(``:freeze``, ``:checkpoint``, ``:rewind``, ``:inject``, ``:hint``, ``:end`` …) are sent
as typed; what others do shows with their name; a trainee or observer sees the scenario
blind (its script and expectations never reach this console).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from twin.core.api import commands as C
from twin.core.api import load_catalog
from twin.frontends.classroom import roles
from twin.frontends.classroom.remote import RemoteDriver, RemoteOutcome, is_class_line, policy_of
from twin.frontends.tui import app as tui_app
from twin.frontends.tui.app import FrameReady, TwinApp
from twin.frontends.tui.clock import SimClock

_CLOCK_ACTIONS = frozenset({"toggle_pause", "faster", "slower"})
_OPERATOR_ACTIONS = frozenset({"fail", "repair", "drain", "swap"})


@dataclass(frozen=True)
class ScenarioInfo:
    """What a console knows of the scenario: its name and clock, never its script."""

    name: str
    description: str = ""
    warmup_s: float = 0.0
    duration_s: float = 0.0
    events: tuple = field(default=())
    expect: tuple = field(default=())


@dataclass(frozen=True)
class _T0:
    """What the room asks of a player: when the scenario started. The drill is the server's."""

    t0: float
    drill: None = None


class RemoteApp(TwinApp):
    """``twin attach``: the control room on a class's simulation."""

    CSS_PATH = str(Path(tui_app.__file__).with_name("app.tcss"))  # the room's own look

    def __init__(self, driver: RemoteDriver, **kwargs):
        w = driver.welcome
        super().__init__(
            driver.layout,
            catalog=load_catalog(w.get("catalog") or ()),
            seed=w.get("seed"),
            readonly=driver.role == "observer",
            paused=True,
            driver=driver,  # type: ignore[arg-type]
            **kwargs,
        )
        self.name_ = driver.name
        self.role = driver.role
        self.policy = policy_of(w)
        self.clock = SimClock(0.0, speed=driver.clock.get("speed", 1.0), paused=True)
        sc = w.get("scenario")
        if sc is not None:
            self.scenario = ScenarioInfo(  # type: ignore[assignment]
                sc["name"],
                w.get("scenario_description", "") if self.role == "instructor" else "",
                sc.get("warmup_s", 0.0),
                sc.get("duration_s", 0.0),
            )
            self.player = _T0(sc.get("t0", 0.0))  # type: ignore[assignment]
            self.ctx.scenario = self.scenario  # type: ignore[assignment]
        self.blind = self.ctx.blind = self.role != "instructor" and sc is not None
        self.ctx.history_from_s = w.get("history_from_s", 0.0)
        self.title = f"twin · class · {self.name_} ({self.role})"
        self._debrief_path: str | None = None

    # ---- what a role may see ----------------------------------------------------------------
    def may(self, kind: str) -> bool:
        return self.policy.refusal(self.role, kind) is None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in _CLOCK_ACTIONS and not self.may("clock"):
            return False  # the clock is the instructor's: its keys are hidden
        if action in _OPERATOR_ACTIONS and not self.may("operator"):
            return False
        return super().check_action(action, parameters)

    def complete(self, text: str) -> list[str]:
        """Tab: the commands this role may give — the class's own (``freeze``, ``inject
        [hidden] …``, ``rewind`` …) for the instructor, operator commands for a trainee."""
        return roles.complete(text, self.policy, self.role, super().complete)

    def help_commands(self) -> list[tuple[str, str]]:
        return roles.commands_for(self.policy, self.role)

    def _greet(self) -> None:
        who = f"attached to the class as {self.name_} ({self.role})"
        if self.scenario is not None:
            blind = " · what comes next is hidden" if self.blind else ""
            who += f" · scenario {self.scenario.name}{blind}"
        self.room.say(who, "info")

    def on_mount(self) -> None:  # Textual runs TwinApp.on_mount too
        if self.scenario is None:
            self.call_after_refresh(self._greet)

    # ---- commands go up ----------------------------------------------------------------------
    def _session(self, cmd: C.SessionCommand) -> str | None:
        if isinstance(cmd, C.Debrief):
            self._debrief_path = cmd.path
        if isinstance(cmd, C.Speed | C.Pause | C.Resume | C.Save | C.Hint | C.Debrief):
            if isinstance(cmd, C.Save) and self.role != "instructor":
                return self._refuse(cmd.text)
            self.driver.send_text(cmd.text)
            self.room.say(f"{cmd.text} …", "info")
            self._close_command_line()
            self.request_frame()
            return None
        return super()._session(cmd)

    # ---- frames come down --------------------------------------------------------------------
    def on_frame_ready(self, message: FrameReady) -> None:
        d = self.driver
        clock = d.clock
        if clock.get("paused", True) != self.clock.paused or clock.get("speed") != self.clock.speed:
            self.clock.set_speed(clock.get("speed"))
            if clock.get("paused", True):
                self.clock.pause()
            else:
                self.clock.resume()
        message.prevent_default()  # Textual would run TwinApp's handler again after this one
        TwinApp.on_frame_ready(self, message)
        said, debriefs = d.take_said()
        for text in debriefs:
            self._show_debrief(text)
        for s in said:
            if s.by:
                text = f"{s.by}: {s.text}"
                self.alarms.note(s.t_s if s.t_s is not None else self._now(), "info", s.by, s.text)
            else:
                text = s.text
            self.room.say(text, s.level)
        if d.closed is not None:
            self.exit(
                return_code=0 if "ended" in d.closed else 1, message=f"twin attach: {d.closed}"
            )

    def extra_line(self, text: str) -> bool:
        """A class command typed at the ':' line goes to the server as typed."""
        if not is_class_line(text):
            return False
        words = text.strip().removeprefix(":").split()
        if words[0].lower() == "debrief":
            self._debrief_path = words[1] if len(words) > 1 else None
        self.driver.send_text(" ".join(words))
        self.room.say(f"{' '.join(words)} …", "info")
        self._close_command_line()
        self.request_frame()
        return True

    def _quit_reasons(self) -> list[str]:
        return []  # leaving a class loses nothing: the server goes on, and the seat waits

    def drill_over(self) -> None:
        """The drill has ended: the server has its debrief."""
        st = self.ctx.script
        if st is not None and getattr(st, "drill", None) is not None:
            self.driver.send_text("debrief")

    def _show_debrief(self, text: str) -> None:
        from twin.frontends.tui.screens.debrief import DebriefScreen

        path, self._debrief_path = self._debrief_path, None
        if path is not None:
            self._write_debrief(Path(path), text)
        if not isinstance(self.screen, DebriefScreen):
            self.push_screen(DebriefScreen(text, lambda: self._export_default_named(text)))

    def _export_default_named(self, text: str) -> str:
        name = self.scenario.name if self.scenario is not None else "class"
        path = Path(f"{name}-debrief.md")
        return self._write_debrief(path, text) or f"debrief written to {path}"

    def _outcome(self, outcome) -> None:
        by = outcome.author if isinstance(outcome, RemoteOutcome) else ""
        if outcome.source == "script" or not by or by == self.name_:
            return super()._outcome(outcome)
        if outcome.ok:
            self.room.say(f"{by}: {outcome.command.text}: {outcome.message}", "info")
        else:
            self.room.say(f"{by}: {outcome.message}", "warn")

    def on_unmount(self) -> None:  # after TwinApp's
        self.driver.close()
