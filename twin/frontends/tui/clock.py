"""The simulated clock the TUI drives the engine by: wall time × speed.

Textual timers skip late ticks, so counting ticks would let simulated time drift from
the wall clock. Instead the clock keeps an anchor — (wall time, simulated time) — and
reads ``sim = anchor_sim + (wall - anchor_wall) × speed``. Every change of rate (a new
speed, pause, resume) first rebases the anchor on the current reading, as Trio's
``MockClock`` does, so a change never makes simulated time jump.
"""

from __future__ import annotations

import time
from collections.abc import Callable

#: The speeds +/− step through; ``None`` is "as fast as the machine allows".
SPEEDS: tuple[float | None, ...] = (1.0, 10.0, 60.0, 600.0, None)


class ManualWall:
    """A wall clock that only moves when told to: for tests and screenshots."""

    def __init__(self, t: float = 0.0):
        self.t = float(t)

    def __call__(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


class SimClock:
    """Simulated seconds from the wall clock; ``speed`` ``None`` means run flat out."""

    def __init__(
        self,
        sim_s: float = 0.0,
        speed: float | None = 1.0,
        paused: bool = False,
        wall: Callable[[], float] = time.monotonic,
    ):
        self._wall = wall
        self._anchor_wall = wall()
        self._anchor_sim = float(sim_s)
        self._speed = speed
        self._paused = paused

    # ---- reading
    @property
    def speed(self) -> float | None:
        return self._speed

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def flat_out(self) -> bool:
        """Running at "max": the engine sets the pace, not the wall clock."""
        return self._speed is None and not self._paused

    def target(self) -> float | None:
        """Where simulated time should be now; ``None`` at max speed (advance as far as budget allows)."""
        if self._paused:
            return self._anchor_sim
        if self._speed is None:
            return None
        return self._anchor_sim + (self._wall() - self._anchor_wall) * self._speed

    # ---- changing (each rebases first)
    def _rebase(self) -> None:
        now = self.target()
        self._anchor_sim = self._anchor_sim if now is None else now
        self._anchor_wall = self._wall()

    def set_speed(self, speed: float | None) -> None:
        if speed is not None and not speed > 0:
            raise ValueError(f"speed must be above 0, got {speed!r}")
        self._rebase()
        self._speed = speed

    def pause(self) -> None:
        self._rebase()
        self._paused = True

    def resume(self) -> None:
        self._rebase()
        self._paused = False

    def sync(self, sim_s: float) -> None:
        """Re-anchor on where the engine really is (it fell behind, or runs flat out).

        Dropping the debt keeps a slow machine from chasing a target it can never reach;
        the header then shows the rate actually achieved.
        """
        self._anchor_sim = float(sim_s)
        self._anchor_wall = self._wall()

    def faster(self) -> None:
        self.set_speed(step_speed(self._speed, +1))

    def slower(self) -> None:
        self.set_speed(step_speed(self._speed, -1))


def step_speed(speed: float | None, direction: int) -> float | None:
    """The next preset above (``+1``) or below (``-1``) ``speed``; a custom speed snaps to a preset."""
    order = [s if s is not None else float("inf") for s in SPEEDS]
    cur = float("inf") if speed is None else speed
    if direction > 0:
        nxt = next((s for s in order if s > cur), order[-1])
    else:
        nxt = next((s for s in reversed(order) if s < cur), order[0])
    return None if nxt == float("inf") else nxt


def speed_label(speed: float | None) -> str:
    """'1×', '60×', '0.5×', 'max'."""
    if speed is None:
        return "max"
    return f"{speed:g}×"
