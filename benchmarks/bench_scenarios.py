"""Wall time of every shipped scenario, at full length.

    python benchmarks/bench_scenarios.py [--only NAME ...]

Each scenario in ``scenarios/`` runs to its end in its own process (as ``twin run``
would, headless, without writing a report) and the table gives its simulated time,
tick, wall time, speed (simulated seconds per wall second) and whether its
expectations held. The week of random faults dominates: it is seven simulated days.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "scenarios"


def shipped() -> list[Path]:
    """The scenario files of the library (layouts under scenarios/layouts are not runs)."""
    return sorted(p for p in SCENARIOS.glob("*.yaml"))


def child(path: str) -> None:
    from twin.core.scenario import Runner, load_scenario

    t0 = time.perf_counter()
    sc = load_scenario(path)
    runner = Runner(sc)
    load_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    out = runner.run()
    wall = time.perf_counter() - t1
    failed = [v.text for v in out.verdicts if v.status != "passed"]
    print(
        json.dumps(
            {
                "name": sc.name,
                "layout": sc.layout.name,
                "sim_s": sc.warmup_s + sc.duration_s,
                "tick_s": runner.factory.dt,
                "load_s": load_s,
                "wall_s": wall,
                "expectations": len(out.verdicts),
                "failed": failed,
                "status": "aborted" if out.aborted else ("passed" if out.passed else "failed"),
            }
        )
    )


def fmt_duration(s: float) -> str:
    if s >= 86400 and s % 86400 == 0:
        return f"{s / 86400:g}d"
    if s >= 3600:
        return f"{s / 3600:.4g}h"
    return f"{s / 60:.4g}m"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*", default=None, help="scenario names (file stems) to run")
    ap.add_argument("--child")
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return
    paths = [p for p in shipped() if args.only is None or p.stem in args.only]
    print(
        f"{'scenario':28} {'layout':16} {'simulated':>9} {'tick':>5} {'wall s':>8} {'× real time':>12} {'expect':>7}  status"
    )
    total = 0.0
    for p in paths:
        res = subprocess.run(
            [sys.executable, __file__, "--child", str(p)], capture_output=True, text=True, cwd=ROOT
        )
        if res.returncode != 0:
            print(
                f"{p.stem:28} crashed: {res.stderr.strip().splitlines()[-1] if res.stderr.strip() else res.returncode}"
            )
            continue
        r = json.loads(res.stdout.strip().splitlines()[-1])
        total += r["wall_s"]
        status = r["status"] + (
            f" ({len(r['failed'])} failed: {'; '.join(r['failed'])})" if r["failed"] else ""
        )
        print(
            f"{p.stem:28} {r['layout']:16} {fmt_duration(r['sim_s']):>9} {r['tick_s']:4g}s {r['wall_s']:8.1f} "
            f"{r['sim_s'] / r['wall_s']:11,.0f}× {r['expectations']:7}  {status}"
        )
    print(f"{'total':28} {'':16} {'':>9} {'':>5} {total:8.1f}")


if __name__ == "__main__":
    main()
