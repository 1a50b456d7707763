"""Engine speed and memory for every shipped layout.

    python benchmarks/bench_engine.py [--sim-s 600]

Each layout runs in its own process (so peak memory is its own) for a stretch of
simulated time after a warm-up, and prints simulated seconds per wall second and the
peak resident memory. Goals (issue 3): default ≥ 1,000× real time; hyperscale ≥ 100×
real time and < 2 GB, on this 2-core machine. Also the size and time of one exact
checkpoint (``Factory.checkpoint()``; goal on default: < 5 MB and < 50 ms).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

GOALS = {"default": 1000.0, "hyperscale": 100.0}


def child(name: str, sim_s: float) -> None:
    from twin.core.engine import Factory
    from twin.core.layout import load_layout

    t0 = time.perf_counter()
    f = Factory(load_layout(name))
    build = time.perf_counter() - t0
    f.advance_to(60.0)  # warm-up: queues and batches reach their level
    t1, c1 = time.perf_counter(), time.process_time()
    f.advance_to(60.0 + sim_s)
    wall, cpu = time.perf_counter() - t1, time.process_time() - c1
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    t2 = time.perf_counter()
    blob = f.checkpoint()
    ck_ms = (time.perf_counter() - t2) * 1e3
    print(
        json.dumps(
            {
                "layout": name,
                "build_s": build,
                "speed": sim_s / wall,
                "cpu_speed": sim_s / cpu,
                "ck_mb": len(blob) / 1e6,
                "ck_ms": ck_ms,
                "tick_ms": cpu / (sim_s / f.dt) * 1e3,
                "dt": f.dt,
                "replicas": len(f.rep_dep),
                "racks": len(f.rack_ids),
                "peak_mb": rss_mb,
            }
        )
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sim-s", type=float, default=600.0)
    ap.add_argument("--child")
    args = ap.parse_args()
    if args.child:
        child(args.child, args.sim_s)
        return
    print("speed = simulated seconds per second of this process's CPU time (the machine is shared;")
    print("wall-clock speed, in brackets, drops when other work runs)")
    print(
        f"{'layout':16} {'racks':>6} {'replicas':>9} {'tick':>5} {'CPU ms/tick':>12} {'× real time':>12} {'(wall)':>8} {'peak MB':>8} {'checkpoint':>15} {'goal':>12}"
    )
    for name in ("default", "hopper-hall", "blackwell-ultra", "hyperscale"):
        out = subprocess.run(
            [sys.executable, __file__, "--child", name, "--sim-s", str(args.sim_s)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        r = json.loads(out.strip().splitlines()[-1])
        goal = GOALS.get(name)
        verdict = (
            ""
            if goal is None
            else (f"≥{goal:,.0f}× " + ("ok" if r["cpu_speed"] >= goal else "MISSED"))
        )
        if name == "hyperscale":
            verdict += ", <2 GB " + ("ok" if r["peak_mb"] < 2048 else "MISSED")
        print(
            f"{name:16} {r['racks']:6,} {r['replicas']:9,} {r['dt']:4.1f}s {r['tick_ms']:12.2f} {r['cpu_speed']:11,.0f}× "
            f"({r['speed']:,.0f}×) {r['peak_mb']:8,.0f} {r['ck_mb']:6.1f} MB {r['ck_ms']:4.0f} ms {verdict:>12}"
        )


if __name__ == "__main__":
    main()
