"""Engine speed and memory for every shipped layout.

    python benchmarks/bench_engine.py [--sim-s 600]

Each layout runs in its own process (so peak memory is its own) for a stretch of
simulated time after a warm-up, and prints simulated seconds per wall second and the
peak resident memory. Goals (issue 3): default ≥ 1,000× real time; hyperscale ≥ 100×
real time and < 2 GB, on this 2-core machine. Also the size and time of one exact
checkpoint (``Factory.checkpoint()``; goal on default: < 5 MB and < 50 ms).

Issue 9's goals per CPU second: default ≥ 6,500× and hyperscale ≥ 1,700× real time. The
"before" column is this script's figures for the engine before its compiled kernel
(numpy only), measured on this machine at the start of the speed session; the ratio
is after/before. The kernel (``engine/kernel.py``, numba) is compiled on first use and
cached in ``__pycache__``: "first tick" is the CPU time a new process spends importing
the engine (numba with it), building ``default`` and running its first tick, cold (empty
numba cache, so it compiles) and warm (cache filled) — what ``twin run`` and each test
worker pay once.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

GOALS = {"default": 6500.0, "hyperscale": 1700.0}
#: × real time per CPU second before the compiled kernel (numpy engine, 600 s runs,
#: this script, 2026-12-01 20:42 UTC, machine idle).
BEFORE = {"default": 416.0, "hopper-hall": 652.0, "blackwell-ultra": 577.0, "hyperscale": 145.0}


def child(name: str, sim_s: float) -> None:
    c0 = time.process_time()
    from twin.core.engine import Factory  # imports numba
    from twin.core.layout import load_layout

    t0 = time.perf_counter()
    f = Factory(load_layout(name))
    build = time.perf_counter() - t0
    f.advance_to(f.dt)  # the first tick loads (or compiles) the kernels
    first = time.process_time() - c0
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
                "first_tick_s": first,
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


def run_child(name: str, sim_s: float, env: dict | None = None) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", name, "--sim-s", str(sim_s)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def first_tick_cold() -> float:
    """The first tick of ``default`` in a process whose numba cache is empty."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        return run_child("default", 1.0, env)["first_tick_s"]


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
    cold = first_tick_cold()
    print(
        f"{'layout':16} {'racks':>6} {'replicas':>9} {'tick':>5} {'CPU ms/tick':>12} "
        f"{'× real time':>12} {'(wall)':>8} {'before':>7} {'ratio':>6} {'peak MB':>8} "
        f"{'checkpoint':>15} {'goal':>13}"
    )
    warm = None
    for name in ("default", "hopper-hall", "blackwell-ultra", "hyperscale"):
        r = run_child(name, args.sim_s)
        warm = r["first_tick_s"] if warm is None else warm
        goal = GOALS.get(name)
        verdict = (
            ""
            if goal is None
            else (f"≥{goal:,.0f}× " + ("ok" if r["cpu_speed"] >= goal else "MISSED"))
        )
        if name == "hyperscale":
            verdict += ", <2 GB " + ("ok" if r["peak_mb"] < 2048 else "MISSED")
        before = BEFORE[name]
        print(
            f"{name:16} {r['racks']:6,} {r['replicas']:9,} {r['dt']:4.1f}s {r['tick_ms']:12.2f} "
            f"{r['cpu_speed']:11,.0f}× ({r['speed']:,.0f}×) {before:6,.0f}× "
            f"{r['cpu_speed'] / before:5.1f}× {r['peak_mb']:8,.0f} {r['ck_mb']:6.1f} MB "
            f"{r['ck_ms']:4.0f} ms {verdict:>13}"
        )
    print(
        f"import + build + first tick of default in a new process, CPU: cold {cold:.1f} s "
        f"(compiles, empty numba cache), warm {warm:.2f} s (cached)"
    )


if __name__ == "__main__":
    main()
