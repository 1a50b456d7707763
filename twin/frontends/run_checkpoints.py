"""``twin run … --checkpoint AT=FILE``: a run saved exactly, for ``twin resume`` to continue.

A run's checkpoint file is the engine's checkpoint (``Factory.checkpoint``) with the run's
context inside it: what was run (target, catalog, seed, duration, faults, tick), the
report's recording so far and, for a scenario, its player (events fired, expectation
accumulators). ``twin resume`` rebuilds the same factory from that description, restores
it and goes on, so it writes exactly the report the uninterrupted run writes.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import sys
from dataclasses import dataclass
from pathlib import Path

from twin.core.api import Factory, Recorder
from twin.core.errors import TwinError
from twin.core.units import format_duration, parse_duration_s


@dataclass(frozen=True)
class CheckpointAt:
    at_s: float  # simulated time from the run's start (after any warm-up)
    path: Path


def parse_checkpoints(
    values: list[str] | None, duration_s: float | None = None
) -> list[CheckpointAt]:
    """``AT=FILE`` options, checked: a duration, a writable folder, inside the run."""
    out = []
    for v in values or []:
        at, sep, file = v.partition("=")
        if not sep or not at or not file:
            raise TwinError(
                f"run: --checkpoint {v!r}: expected AT=FILE, e.g. --checkpoint 30m=drill.ckpt"
            )
        try:
            t = parse_duration_s(at)
        except ValueError as e:
            raise TwinError(f"run: --checkpoint {v!r}: {e}") from None
        path = Path(file)
        if not path.parent.exists():
            raise TwinError(f"run: --checkpoint {v!r}: folder {path.parent} does not exist")
        if duration_s is not None and not 0 <= t < duration_s:
            raise TwinError(
                f"run: --checkpoint {v!r}: {at} is not inside the run (0s to {format_duration(duration_s)})"
            )
        out.append(CheckpointAt(t, path))
    return sorted(out, key=lambda c: c.at_s)


def file_digest(target: str) -> str | None:
    p = Path(target)
    return hashlib.sha256(p.read_bytes()).hexdigest()[:16] if p.is_file() else None


def run_context(args: argparse.Namespace, kind: str, **more) -> dict:
    """What ``twin resume`` needs to rebuild this run."""
    target = args.target
    if Path(target).is_file():
        target = str(Path(target).resolve())
    return {
        "kind": kind,
        "target": target,
        "digest": file_digest(args.target),
        "catalog": list(args.catalog or []),
        "seed": args.seed,
        **more,
    }


def write(factory: Factory, context: dict, cp: CheckpointAt) -> None:
    data = factory.checkpoint(context)
    try:
        cp.path.write_bytes(data)
    except OSError as e:
        raise TwinError(f"run: cannot write {cp.path}: {e.strerror or e}") from None
    print(
        f"checkpoint at {format_duration(context['at_s'])}: {cp.path} ({len(data) / 1e6:.1f} MB)",
        file=sys.stderr,
    )


def advance_layout(
    rec: Recorder, duration: float, checkpoints: list[CheckpointAt], context: dict, advance
) -> None:
    """Run a layout, stopping to write each checkpoint at the first sample at or after its
    time (so the recording, and the report, are exactly the uninterrupted run's)."""
    for cp in checkpoints:
        at = min(duration, math.ceil(cp.at_s / rec.every_s - 1e-9) * rec.every_s)
        advance(rec, at)
        write(
            rec.factory,
            {**context, "at_s": rec.factory.now - rec.start_s, "recorder": rec.state()},
            cp,
        )
    advance(rec, duration)


def scenario_hooks(checkpoints: list[CheckpointAt], context: dict):
    """``Runner.run(at=...)`` hooks writing each checkpoint with the player's state."""

    def hook(cp: CheckpointAt):
        def write_it(runner, rec) -> None:
            write(
                runner.factory,
                {
                    **context,
                    "at_s": runner.player.t_rel(),
                    "player": runner.player.state(),
                    "recorder": rec.state(),
                },
                cp,
            )

        return write_it

    return tuple((cp.at_s, hook(cp)) for cp in checkpoints)
