"""Start-up time of the commands that do not run the engine.

    python benchmarks/bench_startup.py [--runs 5]

Each command runs ``--runs`` times in a new process (``python -m twin ...``); the script
prints the median and the spread of the wall time, and whether the process imported
numba (the engine's compiler, ~0.25 s to import: only commands that step a factory
should pay for it). Goal: ``twin --help``, ``perf``, ``check``, ``summary`` never import
numba; before the lazy engine import (2026-12-01, shared 2-core machine) they all did,
and ``twin --help`` took 0.61–0.72 s against 0.40–0.48 s before numba was a dependency.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time

COMMANDS = [
    ["--help"],
    ["perf", "--gpu", "h100", "--model", "llama-3.3-70b"],
    ["check", "default"],
    ["summary", "default"],
]
#: whether numba got imported, printed by the child after the command returns
PROBE = (
    "import sys, runpy; sys.argv = ['twin'] + sys.argv[1:]\n"
    "try:\n    runpy.run_module('twin', run_name='__main__')\n"
    "except SystemExit:\n    pass\n"
    "print('NUMBA' if 'numba' in sys.modules else 'NO-NUMBA', file=sys.stderr)\n"
)


def _children_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def one(cmd: list[str]) -> tuple[float, float, bool]:
    t0, c0 = time.perf_counter(), _children_cpu()
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *cmd], capture_output=True, text=True, check=False
    )
    wall, cpu = time.perf_counter() - t0, _children_cpu() - c0
    return wall, cpu, "NO-NUMBA" not in out.stderr.splitlines()[-1:]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    print(f"a new process per run, {args.runs} runs each: wall time median (min–max), CPU median")
    for cmd in COMMANDS:
        runs = [one(cmd) for _ in range(args.runs)]
        walls = [w for w, _, _ in runs]
        cpu = statistics.median(c for _, c, _ in runs)
        numba = "imports numba" if any(n for _, _, n in runs) else "no numba"
        print(
            f"twin {' '.join(cmd):45} wall {statistics.median(walls):5.2f} s "
            f"({min(walls):.2f}–{max(walls):.2f})  CPU {cpu:5.2f} s  {numba}"
        )


if __name__ == "__main__":
    main()
