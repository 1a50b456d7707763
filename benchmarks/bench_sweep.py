"""Throughput of ``twin sweep``: a 32-run sweep on 1 and 2 workers, and the cost per run
against ``twin run``.

    python benchmarks/bench_sweep.py [--duration 2m] [--base default]

The plan: BASE for DURATION, routing (4 policies) × prefill share of the disaggregated
deployment (4 shares) × 2 seeds = 32 runs. For each worker count the sweep runs from
scratch (a fresh folder) through the CLI, Ray start-up and shut-down included; the
start-up alone is timed too. ``twin run`` is timed on four of the sweep's own scenario
files, as a process (what a shell loop over ``twin run`` pays per run) — and the engine
time of every run, as the sweep's workers measured it, gives the cost of the run itself.
Figures depend on the machine and on what else runs on it: the load average is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from twin.cli import main  # noqa: E402


def plan(folder: Path, base: str, duration: str) -> Path:
    doc = {
        "sweep": "bench",
        "base": base,
        "duration": duration,
        "seeds": [1, 2],
        "axes": [
            {
                "name": "routing",
                "set": "overrides.routing",
                "values": ["kv-aware", "least-loaded", "slo-aware", "round-robin"],
            },
            {
                "name": "prefill",
                "set": "overrides.deployments.r1-nvl.prefill_share",
                "values": [0.2, 0.3, 0.4, 0.5],
            },
        ],
    }
    path = folder / "bench.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def ray_startup() -> float:
    import ray

    t0 = time.perf_counter()
    ray.init(
        address="local",
        num_cpus=1,
        include_dashboard=False,
        logging_level="ERROR",
        log_to_driver=False,
    )
    ray.shutdown()
    return time.perf_counter() - t0


def main_() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", default="2m")
    ap.add_argument("--base", default="default")
    ap.add_argument("--workers", default="1,2")
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        p = plan(folder, args.base, args.duration)
        start = ray_startup()
        print(f"Ray start-up + shut-down alone: {start:.1f} s")
        engine, walls = {}, {}
        for w in (int(x) for x in args.workers.split(",")):
            out = folder / f"w{w}"
            t0 = time.perf_counter()
            code = main(["sweep", str(p), "--workers", str(w), "--out", str(out), "--quiet"])
            wall = time.perf_counter() - t0
            results = [json.loads(f.read_text()) for f in (out / "runs").glob("*.json")]
            ok = sum(r["status"] == "ok" for r in results)
            engine[w] = sum(r["wall_s"] for r in results) / len(results)
            walls[w] = wall
            print(
                f"{w} worker(s): 32 runs ({ok} ok, exit {code}) in {wall:.1f} s = "
                f"{32 / wall * 60:.1f} runs/min; without Ray start-up "
                f"{32 / max(wall - start, 1e-9) * 60:.1f} runs/min"
            )
        w = min(walls)
        per_run_engine = engine[w]
        scenarios = sorted((folder / f"w{w}" / "runs").glob("*.yaml"))[:4]
        t0 = time.perf_counter()
        for s in scenarios:
            subprocess.run(
                [sys.executable, "-m", "twin", "run", str(s), "--quiet"],
                check=False,
                capture_output=True,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
        twin_run = (time.perf_counter() - t0) / len(scenarios)
        print(f"twin run (a process, {len(scenarios)} of the runs): {twin_run:.2f} s per run")
        for w, e in engine.items():
            print(f"a run inside a sweep worker at {w} worker(s) (engine and report): {e:.2f} s")
        if 1 in walls:
            per_run = walls[1] / 32
            print(
                f"1 worker: {per_run:.2f} s per run, of which {per_run - per_run_engine:.2f} s is "
                f"the sweep's own (Ray start-up {start / 32:.2f} s of it, spread over 32 runs); "
                f"a twin run process pays {twin_run - per_run_engine:.2f} s over the run itself"
            )
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main_()
