"""Print the README's calibration table: twin against each public measurement, then the
error by role and by regime (max throughput, < 40, 40–90, > 90 tok/s per user), then
twin's decode step against the measured steps of public runs (same split and batch), then
twin's prefill rate against measured prefill pools (same split and prompt length).

    python benchmarks/calibration_table.py
"""

import dataclasses
from statistics import median

from twin.core.calibration import (
    measurements,
    predict,
    predict_prefill_rate,
    predict_step_ms,
    predicted_value,
    prefill_measurements,
    step_measurements,
)
from twin.core.catalog import load_catalog
from twin.core.serving import ServingError

REGIMES = ("max throughput", "< 40", "40–90", "> 90")


def rows():
    cat = load_catalog()
    for m in measurements():
        try:
            p = predict(m, cat)
        except ServingError:  # the interactivity is beyond the model's reach
            yield m, None, 0.0
            continue
        yield m, p, predicted_value(m, p)


def main() -> None:
    print("| measurement | role | counts | measured tok/s/GPU | twin | error | twin's replica |")
    print("|---|---|---|---:|---:|---:|---|")
    errs: dict[tuple[str, str], list[float]] = {}
    priced = []  # (measurement, |error|) of every point not retired
    for m, p, v in rows():
        counts = "output" if m.counting == "output" else "input+output"
        err = v / m.value - 1
        print(
            f"| {m.label} ({m.origin}) | {m.role} | {counts} | {m.value:,.0f} | {v:,.0f} | {err:+.1%} | "
            + (f"{p.gpus} × {p.parallelism}, batch {p.batch} |" if p else "out of reach |")
        )
        if m.role != "retired":
            errs.setdefault((m.role, m.regime), []).append(abs(err))
            priced.append((m, abs(err)))
    print()
    print(
        "| regime | fit points | median \\|error\\| | worst | holdout points | median \\|error\\| | worst "
        "| beyond 20 % |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in (*REGIMES, "all"):
        cells = []
        for role in ("fit", "holdout"):
            e = [
                x
                for (ro, re), xs in errs.items()
                if ro == role and (r == "all" or re == r)
                for x in xs
            ]
            cells += [f"{len(e)}", f"{median(e):.0%}" if e else "–", f"{max(e):.0%}" if e else "–"]
        every = [x for (_, re), xs in errs.items() if r == "all" or re == r for x in xs]
        cells.append(f"{sum(x > 0.2 for x in every)} of {len(every)}")
        print(f"| {r} | " + " | ".join(cells) + " |")
    plain(priced)
    steps()
    prefill()


def plain(priced: list) -> None:
    """The same points with the run's own conditions dropped (its split, serving mode,
    scheduler steps, in-flight batching, TTFT limit, KV-cache precision): what a plain `twin perf --gpu --model --precision --isl
    --osl --tps-user` query answers, at twin's own best choice. ``priced``: each point and
    its |error| as the table priced it, kept where it gives no such condition."""
    cat = load_catalog()
    every, given = [], []
    for m, err in priced:
        bare = dataclasses.replace(
            m,
            parallelism=None,
            disagg=None,
            scheduler_steps=1,
            ttft_max_s=None,
            inflight_batching=None,
            kv_cache=None,
        )
        if bare != m:
            try:
                err = abs(predicted_value(bare, predict(bare, cat)) / m.value - 1)
            except ServingError:
                err = 1.0
            given.append(err)
        every.append(err)
    print()
    print(
        f"At twin's own choice of split and serving mode (a plain `twin perf` query: the "
        f"{len(given)} points whose run's split, serving mode, scheduler steps or TTFT limit "
        f"is given above priced without it): {sum(x > 0.2 for x in every)} of {len(every)} "
        f"beyond 20 %, median |error| {median(every):.0%}; of those {len(given)}: "
        f"{sum(x > 0.2 for x in given)} beyond 20 %, median {median(given):.0%}."
    )


def steps() -> None:
    """The decode steps of public runs against twin's step at the same split and batch."""
    cat = load_catalog()
    print()
    print("| measured decode step | measured TPOT | twin | error |")
    print("|---|---:|---:|---:|")
    errs = []
    for s in step_measurements():
        t = predict_step_ms(s, cat)
        errs.append(abs(t / s.tpot_ms - 1))
        print(f"| {s.label} | {s.tpot_ms:.1f} ms | {t:.1f} ms | {t / s.tpot_ms - 1:+.1%} |")
    if errs:
        print()
        print(f"{len(errs)} decode steps: median |error| {median(errs):.0%}, worst {max(errs):.0%}")


def prefill() -> None:
    """Measured prefill pools against twin's prefill rate at the same split and length."""
    cat = load_catalog()
    print()
    print("| measured prefill pool | role | measured prompt tok/s/GPU | twin | error |")
    print("|---|---|---:|---:|---:|")
    errs: dict[str, list[float]] = {}
    for p in prefill_measurements():
        t = predict_prefill_rate(p, cat)
        err = t / p.tok_s_per_gpu - 1
        errs.setdefault(p.role, []).append(abs(err))
        print(
            f"| {p.label} ({p.saturation}) | {p.role} | {p.tok_s_per_gpu:,.0f} | {t:,.0f} "
            f"| {err:+.1%} |"
        )
    every = [x for xs in errs.values() for x in xs]
    if every:
        by_role = ", ".join(
            f"{role} {len(xs)}: median {median(xs):.0%}" for role, xs in sorted(errs.items())
        )
        print()
        print(
            f"{len(every)} prefill pools: median |error| {median(every):.0%} ({by_role}), "
            f"{sum(x > 0.2 for x in every)} beyond 20 %, worst {max(every):.0%}"
        )


if __name__ == "__main__":
    main()
