"""How long the serving model takes: one operating point, and a full frontier.

    python benchmarks/bench_perf.py

Goal (issue 8): ``twin perf --curve`` — the full frontier over every split, co-located and
disaggregated, with 0–3 MTP drafts — in < 0.5 s. Prints the median of several runs for a
dense model on an 8-GPU board and MoE models on HGX and on an NVL72 domain (the widest
search: EP up to 48), and the ``--vs`` comparison. Times are CPU seconds of this process
(``time.process_time``): on a shared machine wall time measures the neighbours' load.
"""

from __future__ import annotations

import statistics
import time

from twin.core import serving
from twin.core.catalog import load_catalog

CASES = [
    ("h100", "llama-3.3-70b", "fp8"),
    ("b200", "deepseek-r1", "fp8"),
    ("gb300", "deepseek-r1", "fp4"),
]


def timed(fn, runs=7):
    out = []
    for _ in range(runs):
        t0 = time.process_time()
        fn()
        out.append(time.process_time() - t0)
    return statistics.median(out)


def main() -> None:
    cat = load_catalog()
    w = serving.Workload(1024, 1024)
    print(f"{'case':36} {'point (ms)':>11} {'curve (ms)':>11} {'configs':>8} {'goal':>6}")
    for g, m, p in CASES:
        gpu, model = cat.gpu(g), cat.model(m)
        par = serving.candidate_parallelisms(gpu, model, p, cat)[0]

        def point(gpu=gpu, model=model, p=p, par=par):
            serving.max_throughput(serving.curves(gpu, model, p, w, par, cat))

        def full(gpu=gpu, model=model, p=p):
            serving.frontier(serving.curves(gpu, model, p, w, None, cat, disagg=None))

        n = 2 * len(serving.candidate_parallelisms(gpu, model, p, cat, wide=True))
        t_point, t_curve = timed(point), timed(full, runs=5)
        ok = "ok" if t_curve < 0.5 else "SLOW"
        print(
            f"{g + ' ' + m + ' ' + p:36} {t_point * 1e3:11.1f} {t_curve * 1e3:11.1f} {n:8d} {ok:>6}"
        )
    from twin.frontends.perf_vs import LEVELS, compare

    t_vs = timed(
        lambda: compare(
            cat,
            cat.gpu("gb300"),
            cat.gpu("h200"),
            cat.model("deepseek-r1"),
            "fp4",
            "fp8",
            w,
            LEVELS,
        ),
        runs=3,
    )
    print(
        f"{'--vs gb300 h200 deepseek-r1 (8 levels)':36} {'':11} {t_vs * 1e3:11.1f} {'':8} {'ok' if t_vs < 0.5 else 'SLOW':>6}"
    )


if __name__ == "__main__":
    main()
