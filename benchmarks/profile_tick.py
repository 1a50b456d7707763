"""Where a tick's CPU time goes: each stage of ``Factory._tick``, split into the compiled
kernels it calls and the Python/numpy glue around them.

    python benchmarks/profile_tick.py [--sim-s 200] [--layouts default,hyperscale]
                                      [--cprofile N]

Each layout runs in this process after a 60 s warm-up. The stages are read from
``Factory._tick`` (``self._stage(k)`` calls) and the kernels are every compiled function
a module of ``twin.core.engine`` calls from Python (numba dispatchers in its globals);
each is wrapped with a CPU timer, which adds ~1 µs per call (so the total is a little
above ``bench_engine.py``'s). ``--cprofile N`` also prints cProfile's N most expensive
functions by their own CPU time. To profile an earlier engine, run this script with
``PYTHONPATH`` pointing at its checkout.
"""

from __future__ import annotations

import argparse
import cProfile
import inspect
import pstats
import re
import sys
import time
from collections import defaultdict

#: The stage running now, and each stage's CPU time inside kernels (of the layout profiled).
STAGE = ["(between stages)"]
KERNELS: dict[str, float] = defaultdict(float)


def _wrap_kernels() -> None:
    """Put a timer around every compiled kernel the engine's modules call from Python."""
    from numba.core.registry import CPUDispatcher

    for name, mod in list(sys.modules.items()):
        if mod is None or not name.startswith("twin.core.engine"):
            continue
        for attr, fn in list(vars(mod).items()):
            if isinstance(fn, CPUDispatcher):

                def timed(*a, _fn=fn):
                    t = time.process_time()
                    try:
                        return _fn(*a)
                    finally:
                        KERNELS[STAGE[0]] += time.process_time() - t

                setattr(mod, attr, timed)


def profile(name: str, sim_s: float, top: int) -> None:
    from twin.core.engine import Factory
    from twin.core.layout import load_layout

    f = Factory(load_layout(name))
    f.advance_to(60.0)  # warm-up; the kernels are loaded by now
    stages = re.findall(r"self\.(_\w+)\(", inspect.getsource(type(f)._tick))
    stage, kern, total = STAGE, KERNELS, defaultdict(float)
    kern.clear()
    _wrap_kernels()  # once: a kernel wrapped already is not a dispatcher any more
    for s in stages:
        orig = getattr(f, s)

        def timed(*a, _o=orig, _s=s):
            stage[0] = _s
            t = time.process_time()
            try:
                return _o(*a)
            finally:
                total[_s] += time.process_time() - t
                stage[0] = "(between stages)"

        setattr(f, s, timed)
    c = time.process_time()
    f.advance_to(60.0 + sim_s)
    cpu = time.process_time() - c
    n = sim_s / f.dt
    total["(between stages)"] = cpu - sum(total.values())
    k_all = sum(kern.values())
    print(
        f"\n{name}: {len(f.rep_dep):,} replicas, {cpu / n * 1e3:.3f} ms CPU per tick "
        f"({sim_s / cpu:,.0f}× real time, timers included): kernels {k_all / n * 1e3:.3f} ms "
        f"({k_all / cpu:.0%}), glue {(cpu - k_all) / n * 1e3:.3f} ms"
    )
    print(f"  {'stage':18} {'ms/tick':>8} {'kernels':>8} {'glue':>8}")
    for s in [*stages, "(between stages)"]:
        t, kt = total[s], kern[s]
        print(f"  {s:18} {t / n * 1e3:8.3f} {kt / n * 1e3:8.3f} {(t - kt) / n * 1e3:8.3f}")
    if top:
        pr = cProfile.Profile(time.process_time)
        pr.enable()
        f.advance_to(60.0 + 2 * sim_s)
        pr.disable()
        pstats.Stats(pr).sort_stats("tottime").print_stats(top)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sim-s", type=float, default=200.0)
    ap.add_argument("--layouts", default="default,hyperscale")
    ap.add_argument("--cprofile", type=int, default=0, metavar="N")
    args = ap.parse_args()
    for name in args.layouts.split(","):
        profile(name, args.sim_s, args.cprofile)


if __name__ == "__main__":
    main()
