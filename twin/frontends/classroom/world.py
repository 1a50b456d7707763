"""One copy of the simulation a class runs: factory, scenario, clock, journal, checkpoints.

A class has one `World` (everyone on the same factory) or, with ``--per-trainee``, one per
trainee on the same seed. The world knows who did what: every command it applies is
journaled with its author, and every event it adds to the log is remembered as the
author's, or as hidden from trainees (a scripted event, an instructor's hidden inject) —
trainees see the symptoms, never the cause. A checkpoint is the engine's exact one plus
that bookkeeping, so a rewind continues exactly from it; the journal keeps the abandoned
branch as comments, so the file replays (``twin run``) the branch that was kept.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import NamedTuple

from twin.core.api import Factory, Session
from twin.core.api import commands as C
from twin.core.errors import TwinError
from twin.core.units import format_duration
from twin.frontends.classroom.journal import ClassSession
from twin.frontends.playback import ScenarioPlayer
from twin.frontends.tui.clock import SimClock
from twin.frontends.tui.driver import EngineDriver, Frame

#: Automatic checkpoints kept (the oldest go first); named ones are kept until the end.
AUTO_KEPT = 12
#: How the engine names a commanded fault's cause; a class names the person instead.
OPERATOR = " (operator)"


@dataclass
class Checkpoint:
    name: str
    t_s: float  # simulated time (absolute)
    data: bytes
    entries: int  # journal entries before it
    hidden: frozenset[int]
    authors: dict[int, str]
    hidden_applied: frozenset[tuple[float, str]]
    auto: bool = False
    causes: dict[int, tuple[str, str | None]] = field(default_factory=dict)


@dataclass
class Note:
    """A session event every console is told of (the clock frozen, a rewind …)."""

    t_s: float
    text: str
    by: str
    severity: str = "info"
    instructor_only: bool = False


class ClassDriver(EngineDriver):
    """The engine driver, plus who submitted each command and what trainees may not see."""

    def __init__(self, factory: Factory, player: ScenarioPlayer | None, session: ClassSession):
        super().__init__(factory, player, on_applied=self._journal)
        self.session = session
        self._meta: dict[int, Meta] = {}  # token: author, inject, msg id
        self._author = "script"
        self._inject: str | None = None
        self.hidden: set[int] = set()  # event ids trainees never see
        self.authors: dict[int, str] = {}  # event id: who caused it
        # (scenario time, text) of hidden injects
        self.hidden_applied: set[tuple[float, str]] = set()
        self.outcome_meta: dict[int, Meta] = {}
        # event id: who a symptom names in place of the engine's "(operator)", as
        # (to the instructor, to trainees: None names no one)
        self.causes: dict[int, tuple[str, str | None]] = {}

    def submit_as(
        self, cmd: C.Command, author: str, inject: str | None = None, msg_id: int | None = None
    ) -> int:
        """Queue ``cmd`` as ``author``'s; ``inject`` (``shown`` or ``hidden``): an
        instructor's inject, part of the exercise (never scored as the trainee's)."""
        token = self.submit(cmd)
        self._meta[token] = Meta(author, inject, msg_id)
        return token

    def operator_source(self, token: int) -> str:
        meta = self.outcome_meta.get(token)
        return "inject" if meta is not None and meta.inject else "operator"

    def _apply(self, token: int, cmd: C.Command, source: str):
        f = self.factory
        before = f.events[-1].id if f.events else 0
        if source == "script":
            self._author, self._inject = "script", None
        else:
            meta = self._meta.pop(token, Meta("operator", None, None))
            self._author, self._inject = meta.author, meta.inject
            self.outcome_meta[token] = meta
        hidden = source == "script" or self._inject == "hidden"
        out = super()._apply(token, cmd, source)
        for e in f.events_after(before):  # the command's own line; its effects are symptoms
            if e.source == "operator":
                self.authors[e.id] = self._author
                if hidden:
                    self.hidden.add(e.id)
            elif OPERATOR in e.message:
                self.causes[e.id] = self._cause()
        if self._inject == "hidden" and self.player is not None:
            self.hidden_applied.add((out.t_s - self.player.t0, cmd.text))
        return out

    def _cause(self) -> tuple[str, str | None]:
        if self._author == "script":
            return "script", None
        if self._inject is not None:
            return f"instructor {self._author}", (
                None if self._inject == "hidden" else f"instructor {self._author}"
            )
        return self._author, self._author

    def shown(self, e, blind: bool):
        """Event ``e`` as a console sees it: a command's line names its author (hidden
        injects marked so), a symptom names who caused it — never "operator", and to a
        trainee no one for the script's or a hidden inject's."""
        author = self.authors.get(e.id)
        if e.source == "operator" and author is not None:
            hidden = " (hidden)" if e.id in self.hidden and author != "script" else ""
            return dataclasses.replace(e, source=author + hidden)
        cause = self.causes.get(e.id)
        if cause is not None:
            who = cause[1] if blind else cause[0]
            text = e.message.replace(OPERATOR, f" ({who})" if who else "", 1)
            return dataclasses.replace(e, message=text)
        return e

    def _journal(self, t_abs: float, cmd: C.Command, source: str) -> None:
        self.session.record(t_abs, cmd, source, self._author, self._inject)


class Meta(NamedTuple):
    author: str
    inject: str | None  # None, "shown" or "hidden"
    msg_id: int | None


@dataclass
class World:
    """One simulation: what ``twin serve`` steps, checkpoints and rewinds."""

    name: str
    sim: Session  # the factory and the scenario player on it
    session: ClassSession
    clock: SimClock
    driver: ClassDriver = field(init=False)
    checkpoints: dict[str, Checkpoint] = field(default_factory=dict)
    last_frame: Frame | None = None
    notes: list[Note] = field(default_factory=list)  # since the last frame
    last_auto_s: float = 0.0
    ended: bool = False

    def __post_init__(self) -> None:
        self.driver = ClassDriver(self.factory, self.player, self.session)
        if self.player is not None:
            self.driver.start()
        self.last_auto_s = self.factory.now

    @property
    def factory(self) -> Factory:
        return self.sim.factory

    @property
    def player(self) -> ScenarioPlayer | None:
        return self.sim.player  # type: ignore[return-value]

    @property
    def t0(self) -> float:
        return self.player.t0 if self.player is not None else 0.0

    def step(self, budget_s: float | None, every_s: float | None = None) -> Frame:
        """One frame towards the clock's target; with ``every_s``, a checkpoint each time the
        simulation passes a multiple of it (the frame stops there, so it is exact)."""
        target = self.clock.target()
        if self.driver.has_pending:  # a command: show its effect now, catch the clock up after
            target = self.factory.now
        boundary = None
        if every_s:
            boundary = self.last_auto_s + every_s
            if target is not None and target < boundary - 1e-9:
                boundary = None
            else:
                target = boundary
        frame = self.driver.step(target, budget_s)
        if boundary is not None and self.factory.now >= boundary - 1e-9:
            cp = self.checkpoint(None, auto=True)
            self.note(
                f"checkpoint {cp.name} at {self.rel(cp.t_s)} (every {format_duration(every_s)})",
                "server",
            )
        t = frame.snapshot.t_s
        if self.clock.flat_out or not frame.reached:
            self.clock.sync(t)
        if frame.halted:  # the scenario ended or aborted: freeze on that instant
            self.clock.pause()
            self.clock.sync(t)
        self.last_frame = frame
        return frame

    def note(self, text: str, by: str, severity: str = "info", instructor_only: bool = False):
        t = self.factory.now
        self.notes.append(Note(t, text, by, severity, instructor_only))
        self.session.comment(f"{self.rel(t)} {by}: {text}")

    def rel(self, t_abs: float) -> str:
        t = t_abs - self.t0
        return ("T+" if self.player is not None else "") + format_duration(max(t, 0.0))

    # ---- checkpoints ---------------------------------------------------------------------
    def checkpoint(self, name: str | None, auto: bool = False) -> Checkpoint:
        d = self.driver
        with d.lock:
            n = len(self.checkpoints) + 1
            while name is None or (name in self.checkpoints and auto):
                name = f"cp{n}"
                n += 1
            cp = Checkpoint(
                name,
                self.factory.now,
                self.sim.checkpoint(),
                len(self.session.entries),
                frozenset(d.hidden),
                dict(d.authors),
                frozenset(d.hidden_applied),
                auto,
                dict(d.causes),
            )
        self.checkpoints[name] = cp
        autos = [c for c in self.checkpoints.values() if c.auto]
        for old in autos[:-AUTO_KEPT]:
            del self.checkpoints[old.name]
        if auto:
            self.last_auto_s = cp.t_s
        return cp

    def rewind(self, name: str, by: str) -> Checkpoint:
        cp = self.checkpoints.get(name)
        if cp is None:
            have = ", ".join(self.checkpoints) or "none yet (:checkpoint takes one)"
            raise TwinError(f"rewind: no checkpoint {name!r}; checkpoints: {have}")
        d = self.driver
        with d.lock:
            self.sim.restore(cp.data)
            d._pending.clear()
            d._script_outcomes.clear()
            d.hidden = set(cp.hidden)
            d.authors = dict(cp.authors)
            d.hidden_applied = set(cp.hidden_applied)
            d.causes = dict(cp.causes)
            self.session.branch(cp.entries, f"rewind to {cp.name} ({self.rel(cp.t_s)}) by {by}")
        self.clock.pause()
        self.clock.sync(cp.t_s)
        self.last_auto_s = cp.t_s
        return cp

    def checkpoint_list(self) -> str:
        if not self.checkpoints:
            return "no checkpoints yet (:checkpoint [NAME] takes one)"
        return " · ".join(f"{c.name} {self.rel(c.t_s)}" for c in self.checkpoints.values())

    def close(self) -> None:
        with self.driver.lock:
            self.session.close(self.factory.now)


def make_world(
    name: str, sim: Session, session: ClassSession, speed: float | None, paused: bool
) -> World:
    clock = SimClock(sim.factory.now, speed=speed, paused=paused, wall=time.monotonic)
    return World(name, sim, session, clock)


def blind_script(st, hidden_applied: set[tuple[float, str]]):
    """A scenario's state as a trainee may see it: what they did, nothing of the script."""
    if st is None:
        return None
    applied = tuple(
        a
        for a in st.applied
        if a.source in ("operator", "inject") and (a.t_s, a.text) not in hidden_applied
    )
    return dataclasses.replace(
        st, applied=applied, applied_total=len(applied), upcoming=(), verdicts=()
    )
