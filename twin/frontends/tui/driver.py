"""The one door between the TUI and the engine: commands in, snapshots out, off the UI thread.

`EngineDriver.step` is the whole protocol. It runs in a worker thread, holds the lock
for the factory (applying a command and advancing must never overlap), applies the
commands queued since the last step in the order they were given, advances the
simulation towards a target time within a wall-time budget, and returns one frozen
`Frame`. Nothing here knows about Textual, so tests and benchmarks drive it directly.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from dataclasses import dataclass

from twin.core.commands import Command
from twin.core.engine import Factory, Snapshot
from twin.core.errors import TwinError

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


@dataclass(frozen=True)
class Frame:
    """One step's result: the snapshot to show and the commands it applied."""

    snapshot: Snapshot
    outcomes: tuple[Outcome, ...]
    step_s: float  # wall seconds the step took (advance + snapshot)
    reached: bool  # the target time was reached within the budget


class EngineDriver:
    """Owns a `Factory`; every call into it goes through here, under one lock."""

    def __init__(self, factory: Factory):
        self.factory = factory
        self.lock = threading.Lock()
        self._pending: deque[tuple[int, Command]] = deque()
        self._tokens = itertools.count(1)

    @property
    def now(self) -> float:
        return self.factory.now

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
            outcomes = []
            while self._pending:
                token, cmd = self._pending.popleft()
                try:
                    msg = f.apply(cmd)
                    outcomes.append(Outcome(token, cmd, True, msg, f.now))
                except TwinError as e:  # a bad command never stops the simulation
                    outcomes.append(Outcome(token, cmd, False, str(e).splitlines()[0], f.now))
                except Exception as e:  # an engine bug: say so, and keep the control room running
                    outcomes.append(Outcome(token, cmd, False, f"{cmd.text}: internal error in the engine "
                                            f"({type(e).__name__}: {e}); please report it", f.now))
            reached = True
            chunk = CHUNK_TICKS * f.dt
            if until_s is None:  # flat out: at least one chunk, then as many as the budget allows
                budget = 0.1 if budget_s is None else budget_s
                f.advance_to(f.now + chunk)
                while time.perf_counter() - started < budget:
                    f.advance_to(f.now + chunk)
            else:
                while f.now < until_s - 1e-9:
                    f.advance_to(min(until_s, f.now + chunk))
                    if budget_s is not None and time.perf_counter() - started > budget_s:
                        reached = f.now >= until_s - 1e-9
                        break
            snap = f.snapshot()
        return Frame(snap, tuple(outcomes), time.perf_counter() - started, reached)
