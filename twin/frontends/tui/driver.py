"""The one door between the TUI and the engine: commands in, snapshots out, off the UI thread.

`EngineDriver.step` is the whole protocol. It runs in a worker thread, holds the lock
for the factory (applying a command and advancing must never overlap), applies the
commands queued since the last step in the order they were given, advances the
simulation towards a target time within a wall-time budget, and returns one frozen
`Frame`. Nothing here knows about Textual, so tests and benchmarks drive it directly.

When a scenario plays, a `ScenarioPlayer` does the advancing (so its events fire at their
instants, in this same thread, under this same lock), and every applied command — the
operator's or the script's — is handed to ``on_applied`` at once, which journals it.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from twin.core.api import Command, Factory, Snapshot
from twin.core.errors import TwinError
from twin.frontends.playback import ScenarioPlayer, ScriptState

#: Ticks advanced between budget checks: small enough that "max" speed and catch-up
#: stay responsive on hyperscale (~8 ms a tick), large enough to cost nothing.
CHUNK_TICKS = 4


@dataclass(frozen=True)
class Outcome:
    """What became of one submitted command."""

    token: int
    command: Command
    ok: bool
    message: str
    t_s: float
    source: str = "operator"  # or "script": a scenario's event


@dataclass(frozen=True)
class Frame:
    """One step's result: the snapshot to show and the commands it applied."""

    snapshot: Snapshot
    outcomes: tuple[Outcome, ...]
    step_s: float  # wall seconds the step took (advance + snapshot)
    reached: bool  # the target time was reached within the budget
    script: ScriptState | None = None  # the scenario playing, if any
    halted: bool = False  # the scenario stopped in this step (ended, or aborted)


class EngineDriver:
    """Owns a `Factory`; every call into it goes through here, under one lock."""

    def __init__(
        self,
        factory: Factory,
        player: ScenarioPlayer | None = None,
        on_applied: Callable[[float, Command, str], None] | None = None,
    ):
        self.factory = factory
        self.lock = threading.Lock()
        self._pending: deque[tuple[int, Command]] = deque()
        self._tokens = itertools.count(1)
        self.player = player
        self.on_applied = on_applied
        self._script_outcomes: list[Outcome] = []
        if player is not None:
            player.apply_fn = self._apply_script
            player.on_event = self._script_event

    def start(self) -> None:
        """Scenario time 0 (after the warm-up): the script's first events."""
        if self.player is not None:
            with self.lock:
                self.player.start()

    def _apply(self, token: int, cmd: Command, source: str) -> Outcome:
        f = self.factory
        try:
            msg = f.apply(cmd)
        except TwinError as e:  # a bad command never stops the simulation
            return Outcome(token, cmd, False, str(e).splitlines()[0], f.now, source)
        except Exception as e:  # an engine bug: say so, and keep the control room running
            return Outcome(
                token,
                cmd,
                False,
                f"{cmd.text}: internal error in the engine "
                f"({type(e).__name__}: {e}); please report it",
                f.now,
                source,
            )
        if self.on_applied is not None:
            self.on_applied(f.now, cmd, source)  # journaled before anything else happens
        return Outcome(token, cmd, True, msg, f.now, source)

    def operator_source(self, token: int) -> str:
        """Whose a submitted command is, for the drill's score: the operator's (a class's
        server says ``inject`` for an instructor's inject)."""
        return "operator"

    def _script_event(self, t_rel: float, event) -> None:
        """Say in the event log that the script acts (the engine logs its commands as any other)."""
        what = "; ".join(c.text for c in event.commands)
        trigger = f" (when {event.when.text})" if event.when is not None else ""
        self.factory.note("info", "scenario", f"{what}{trigger} · scenario line {event.line}")

    def _apply_script(self, cmd: Command) -> tuple[bool, str]:
        out = self._apply(0, cmd, "script")
        self._script_outcomes.append(out)
        return out.ok, out.message if out.ok else f"error: {out.message}"

    def _advance(self, t: float) -> bool:
        """Advance to ``t``; True if a scenario stopped on the way (it ended or aborted)."""
        if self.player is not None:
            return self.player.advance_to(t)
        self.factory.advance_to(t)
        return False

    @property
    def now(self) -> float:
        return self.factory.now

    def swap_warning(self, target: str, gpu: str) -> str:
        """What swapping ``target`` to ``gpu`` would overload, asked before the swap ('' if nothing)."""
        with self.lock:
            return self.factory.swap_warning(target, gpu)

    def submit(self, command: Command) -> int:
        """Queue a command for the next step; returns a token to find its `Outcome` by."""
        token = next(self._tokens)
        self._pending.append((token, command))
        return token

    @property
    def has_pending(self) -> bool:
        return bool(self._pending)

    def step(self, until_s: float | None, budget_s: float | None = None) -> Frame:
        """Apply queued commands, advance towards ``until_s``, and snapshot.

        ``until_s`` ``None`` runs flat out for ``budget_s`` of wall time. With a budget the
        advance stops early when the machine cannot keep up (``reached`` is then False);
        without one it runs to the target, which is what deterministic tests want.
        """
        started = time.perf_counter()
        f = self.factory
        with self.lock:
            outcomes = list(self._script_outcomes)  # the script's first events (start)
            self._script_outcomes.clear()
            if (
                self._pending
            ):  # an operator's command lands on the next tick, as a recording writes it
                boundary = math.ceil(f.now / f.dt - 1e-9) * f.dt
                if boundary > f.now:
                    self._advance(boundary)
            while self._pending:
                token, cmd = self._pending.popleft()
                out = self._apply(token, cmd, "operator")
                outcomes.append(out)
                if self.player is not None:
                    src = self.operator_source(token)
                    self.player.note_operator(out.t_s, cmd, out.ok, out.message, src)
            reached, halted = True, False
            chunk = CHUNK_TICKS * f.dt
            if until_s is None:  # flat out: at least one chunk, then as many as the budget allows
                budget = 0.1 if budget_s is None else budget_s
                halted = self._advance(f.now + chunk)
                while not halted and time.perf_counter() - started < budget:
                    halted = self._advance(f.now + chunk)
            else:
                while f.now < until_s - 1e-9:
                    halted = self._advance(min(until_s, f.now + chunk))
                    if halted:
                        break
                    if budget_s is not None and time.perf_counter() - started > budget_s:
                        reached = f.now >= until_s - 1e-9
                        break
            outcomes += self._script_outcomes
            self._script_outcomes.clear()
            script = self.player.state() if self.player is not None else None
            snap = f.snapshot()
        return Frame(snap, tuple(outcomes), time.perf_counter() - started, reached, script, halted)
