"""Engine speed and memory for every shipped layout, against an earlier engine.

    python benchmarks/bench_engine.py [--sim-s 3600] [--before DIR]

Each layout runs in its own process (so peak memory is its own) for a stretch of
simulated time after a warm-up, and prints simulated seconds per CPU second (the machine
is shared; wall-clock speed, in brackets, drops when other work runs) and the peak
resident memory. Goals (issue 3): default ≥ 1,000× real time; hyperscale ≥ 100× real
time and < 2 GB, on this 2-core machine. Also the size and time of one exact checkpoint
(``Factory.checkpoint()``; goal on default: < 5 MB and < 50 ms): a process's first, which
pays one-time costs, then the median of three more.

``--before DIR``: a checkout of an earlier engine (e.g. ``git archive bb9a3a7 | tar -x
-C DIR``, the compiled engine at the start of session 5); each layout then runs in both,
one after the other, so both see the same machine load, and the table shows the ratio.
Issue 9's goals per CPU second: default ≥ 6,500× and hyperscale ≥ 1,700× real time,
ten times the numpy engine (``NUMPY``: this script's figures for it on this machine,
idle, before the compiled kernels). The kernels (numba) are compiled on first use and
cached in ``__pycache__``: "first tick" is the CPU time a new process spends importing
the engine, building ``default`` and running its first tick, cold (empty numba cache,
so it compiles) and warm (cache filled) — what ``twin run`` and each test worker pay once.
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
NUMPY = {"default": 416.0, "hopper-hall": 652.0, "blackwell-ultra": 577.0, "hyperscale": 145.0}


def child(name: str, sim_s: float) -> None:
    c0 = time.process_time()
    from twin.core.engine import Factory  # numba comes with the first tick
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
    again = []  # the first checkpoint of a process pays one-time costs; then the usual one
    for _ in range(3):
        t3 = time.perf_counter()
        f.checkpoint()
        again.append((time.perf_counter() - t3) * 1e3)
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
                "ck_again_ms": sorted(again)[1],
                "tick_ms": cpu / (sim_s / f.dt) * 1e3,
                "dt": f.dt,
                "replicas": len(f.rep_dep),
                "racks": len(f.rack_ids),
                "peak_mb": rss_mb,
            }
        )
    )


def run_child(name: str, sim_s: float, env: dict | None = None, path: str | None = None) -> dict:
    env = dict(env or os.environ)
    if path:
        env["PYTHONPATH"] = path
    out = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--child", name, "--sim-s", str(sim_s)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=path or None,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def first_tick_cold() -> float:
    """The first tick of ``default`` in a process whose numba cache is empty."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}
        return run_child("default", 1.0, env)["first_tick_s"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument(
        "--sim-s",
        type=float,
        default=3600.0,
        help="simulated seconds each layout runs after its 60 s warm-up (default 3600: an "
        "hour, 0.3-0.4 s of CPU per layout; 600 s runs take 0.05-0.07 s and move with the "
        "machine's load; the whole script takes 1-3 min either way, most of it the cold "
        "compile's ~40 s of CPU)",
    )
    ap.add_argument("--before", metavar="DIR", help="a checkout of an earlier engine")
    ap.add_argument("--repeat", type=int, default=2, help="runs per layout; the fastest counts")
    ap.add_argument("--child")
    args = ap.parse_args()
    if args.child:
        child(args.child, args.sim_s)
        return
    print("speed = simulated seconds per second of this process's CPU time (wall in brackets)")
    cold = first_tick_cold()
    for path in ([args.before] if args.before else []) + [None]:
        run_child("default", 1.0, path=path)  # fill each engine's numba cache first

    def best(name: str, path: str | None) -> dict:
        runs = [run_child(name, args.sim_s, path=path) for _ in range(max(1, args.repeat))]
        return max(runs, key=lambda r: r["cpu_speed"])

    print(
        f"{'layout':16} {'replicas':>8} {'CPU ms/tick':>11} {'× real time':>12} {'(wall)':>8} "
        f"{'before':>7} {'ratio':>6} {'numpy':>6} {'ratio':>6} {'peak MB':>8} {'before':>7} "
        f"{'checkpoint (first/then)':>24} {'goal':>13}"
    )
    warm = warm_before = None
    for name in ("default", "hopper-hall", "blackwell-ultra", "hyperscale"):
        b = best(name, args.before) if args.before else None
        r = best(name, None)
        warm = r["first_tick_s"] if warm is None else warm
        if b is not None and warm_before is None:
            warm_before = b["first_tick_s"]
        goal = GOALS.get(name)
        verdict = (
            ""
            if goal is None
            else (f"≥{goal:,.0f}× " + ("ok" if r["cpu_speed"] >= goal else "MISSED"))
        )
        if name == "hyperscale":
            verdict += ", <2 GB " + ("ok" if r["peak_mb"] < 2048 else "MISSED")
        bs = f"{b['cpu_speed']:6,.0f}× {r['cpu_speed'] / b['cpu_speed']:5.2f}×" if b else " " * 14
        bm = f"{b['peak_mb']:7,.0f}" if b else " " * 7
        print(
            f"{name:16} {r['replicas']:8,} {r['tick_ms']:11.3f} {r['cpu_speed']:11,.0f}× "
            f"({r['speed']:,.0f}×) {bs} {NUMPY[name]:5,.0f}× {r['cpu_speed'] / NUMPY[name]:5.1f}× "
            f"{r['peak_mb']:8,.0f} {bm} {r['ck_mb']:6.1f} MB {r['ck_ms']:4.0f}/{r['ck_again_ms']:.0f} ms {verdict:>13}"
        )
    print(
        f"import + build + first tick of default in a new process, CPU: cold {cold:.1f} s "
        f"(compiles, empty numba cache), warm {warm:.2f} s (cached)"
        + (f", before: warm {warm_before:.2f} s" if warm_before is not None else "")
    )


if __name__ == "__main__":
    main()
