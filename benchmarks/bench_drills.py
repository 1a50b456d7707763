"""Drills: wall time of each shipped drill played headless (nobody at the console, and the
reference response), and what the scoring costs (the same drill without its drill keys).

    python benchmarks/bench_drills.py

Prints one line per drill; no assertions (see tests/test_drills.py for the scores).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

from twin.core.scenario import Runner, load_scenario

ROOT = Path(__file__).resolve().parent.parent


def timed(sc, extra=()) -> tuple[float, object]:
    t = time.perf_counter()
    out = Runner(sc, extra=extra).run()
    return time.perf_counter() - t, out


def main() -> None:
    print(f"{'drill':28} {'simulated':>9} {'nothing':>16} {'reference':>16} {'unscored':>9}")
    for path in sorted((ROOT / "scenarios" / "drills").glob("*.yaml")):
        sc = load_scenario(path)
        steps = tuple((s.at_s, s.command) for s in sc.drill.reference)
        t_none, none = timed(sc)
        t_ref, ref = timed(sc, steps)
        t_bare, _ = timed(dataclasses.replace(sc, drill=None))
        sim = sc.warmup_s + sc.duration_s
        print(
            f"{path.stem:28} {sim / 60:7.0f} m "
            f"{t_none:6.2f} s ({none.drill['score']:5.1f}) "
            f"{t_ref:6.2f} s ({ref.drill['score']:5.1f}) {t_bare:7.2f} s"
        )


if __name__ == "__main__":
    main()
