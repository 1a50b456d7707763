"""Pending discrete happenings as plain records, processed by the tick.

A repair crew arriving, a surge ending, a swap finishing, the next random fault of a
kind: each is a ``Pending`` record — the absolute tick it is due (an integer, so a
checkpoint restores it exactly), its kind, its target, the order it was scheduled in,
and a few scalar arguments. The factory runs every record due at a tick before that
tick's flow, in (tick, order) order. Records, not generator processes, so the whole
schedule can be copied, written to a checkpoint and read back.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field


@dataclass(order=True, frozen=True)
class Pending:
    tick: int  # absolute tick it is due (time = tick × dt)
    seq: int  # insertion order: ties at one tick run in the order they were scheduled
    kind: str = field(compare=False)  # a key of the factory's handler table
    target: str = field(compare=False)
    args: tuple = field(compare=False, default=())  # JSON scalars


class Schedule:
    """A priority queue of ``Pending`` records."""

    def __init__(self) -> None:
        self.heap: list[Pending] = []
        self.seq = 0

    def at(self, tick: int, kind: str, target: str = "", *args) -> Pending:
        rec = Pending(int(tick), self.seq, kind, target, tuple(args))
        self.seq += 1
        heapq.heappush(self.heap, rec)
        return rec

    def pop_due(self, tick: int) -> Pending | None:
        """The next record due at or before ``tick``, removed; None when there is none."""
        if self.heap and self.heap[0].tick <= tick:
            return heapq.heappop(self.heap)
        return None

    def drop(self, kind: str) -> None:
        """Forget every pending record of a kind."""
        self.heap = [r for r in self.heap if r.kind != kind]
        heapq.heapify(self.heap)

    def __len__(self) -> int:
        return len(self.heap)

    # ---- plain data for checkpoints ------------------------------------------------------------
    def to_data(self) -> dict:
        return {
            "seq": self.seq,
            "records": [[r.tick, r.seq, r.kind, r.target, list(r.args)] for r in sorted(self.heap)],
        }

    @classmethod
    def from_data(cls, data: dict) -> Schedule:
        s = cls()
        s.seq = int(data["seq"])
        s.heap = [
            Pending(int(t), int(q), str(k), str(tg), tuple(a)) for t, q, k, tg, a in data["records"]
        ]
        heapq.heapify(s.heap)
        return s


def due_tick(t_s: float, dt: float) -> int:
    """The first tick at or after simulated time ``t_s``."""
    return int(math.ceil(t_s / dt - 1e-9))
