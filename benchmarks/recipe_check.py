"""Run the public recipes through twin's step physics and compare with the measurements.

    python benchmarks/recipe_check.py            # every recipe set with measured points
    python benchmarks/recipe_check.py --runs     # and each recipe run

`twin perf` searches every split, batch, MTP depth and prefill:decode ratio; a dashboard
curve is the frontier of a few recipes run at a few concurrencies, interpolated. Running
those recipes (``catalog/recipes.yaml``, from InferenceX's configs) through the same step
physics separates the two questions: is the step right (then twin-on-recipes meets the
measured curve), or is the search finding configurations no recipe runs?
"""

from __future__ import annotations

import sys

from twin.core.calibration import (
    measurements,
    predict,
    predicted_value,
    recipe_frontier_at,
    recipe_points,
    recipes,
)
from twin.core.catalog import load_catalog
from twin.core.serving import ServingError


def main(argv: list[str]) -> None:
    cat = load_catalog()
    sets: dict[tuple, list] = {}
    for rec in recipes():
        key = (rec["gpu"], rec["model"], rec["precision"], int(rec["isl"]), int(rec["osl"]))
        pts = recipe_points(rec, cat)
        sets.setdefault(key, []).extend(pts)
        if "--runs" in argv:
            for p in pts:
                print(
                    f"{' '.join(map(str, key))} {rec['stack']:6} "
                    f"P{rec['prefill_workers']}x{rec['prefill']['tp']} "
                    f"D{rec['decode_workers']}x{rec['decode']['tp']}"
                    f"{'dp' if rec['decode'].get('dp_attention') else ''} "
                    f"b{rec['max_batch']} mtp{rec['mtp']} conc {p.concurrency:6}: "
                    f"{p.tok_s_per_user:6.1f} tok/s/user {p.total_tok_s_per_gpu:8,.0f} tok/s/GPU"
                )
    print("| measurement | role | measured | twin perf | twin on the recipes |")
    print("|---|---|---:|---:|---:|")
    for m in measurements():
        key = (m.gpu, m.model, m.precision, m.isl, m.osl)
        if key not in sets or m.role == "retired" or m.tok_s_per_user is None:
            continue
        try:
            perf = predicted_value(m, predict(m, cat))
            perf_s = f"{perf:,.0f} ({perf / m.value - 1:+.0%})"
        except ServingError:
            perf_s = "out of reach"
        # a point measured without speculation (an Off column) lies on the runs without it
        runs = sets[key] if m.mtp else [p for p in sets[key] if not int(p.recipe["mtp"])]
        on = recipe_frontier_at(runs, m.tok_s_per_user) if runs else None
        on_s = "beyond the runs" if on is None else f"{on:,.0f} ({on / m.value - 1:+.0%})"
        print(f"| {m.label} | {m.role} | {m.value:,.0f} | {perf_s} | {on_s} |")


if __name__ == "__main__":
    main(sys.argv[1:])
