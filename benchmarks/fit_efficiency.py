"""Fit the serving model's efficiency factors to the public measurements.

    python benchmarks/fit_efficiency.py            # fit every GPU family
    python benchmarks/fit_efficiency.py b200       # one GPU (and the GPUs that lean on it)
    python benchmarks/fit_efficiency.py --write    # and update the catalog in place

Only ``role: fit`` points are used; ``role: holdout`` points are never seen here (the
tests check them at a looser tolerance). Each GPU gets one set of factors shared by every
model and precision it serves — no per-point or per-model knobs. Factors and their
physical meaning (bounds in ``BOUNDS``):

* ``mem``: achieved fraction of HBM bandwidth when streaming weights and KV (0.5–0.92);
* ``comp``: achieved fraction of dense tensor peak in GEMMs (0.2–0.8);
* ``attn``: attention kernels' fraction of bf16 peak (0.1–0.8);
* ``net``: achieved fraction of link bandwidth in collectives (0.3–0.9);
* ``layer_overhead_us``: µs per kernel outside the rooflines — launch, tail and the gap to
  the next kernel, what CUDA/HIP graphs leave (1–10 µs; × kernels per layer);
* ``step_overhead_ms``: per-step scheduling and sampling on the host (0–5 ms);
* ``seq_overhead_us``: per-sequence bookkeeping per step (0–60 µs);
* ``fp4``: fp4 kernels' efficiency (GEMM rate and weight streaming) relative to fp8's on
  this vendor's software (0.4–1.6: below 1 where fp4 is new, above where it is the tuned path);
* ``moe``: MoE grouped GEMMs' weight-streaming rate relative to a dense GEMM's (0.3–1).

GPUs with few points of their own are fitted with a strong pull towards their
architecture sibling's factors (``FAMILY``: GB200/GB300 towards B200, MI355X towards
MI300X); GPUs with none inherit them outright (H100 from H200's Hopper fit) and say so in
``fitted_to``. The loss is the root-mean-square log error plus a steep penalty beyond
15 % on any point, plus a small pull towards typical values (``PRIOR``).
"""

from __future__ import annotations

import dataclasses
import math
import sys

from twin.core.calibration import measurements, predict, predicted_value
from twin.core.catalog import Efficiency, load_catalog
from twin.core.serving import ServingError

BOUNDS = {
    "mem": (0.50, 0.92),
    "comp": (0.20, 0.80),
    "attn": (0.10, 0.80),
    "net": (0.30, 0.90),
    "layer_overhead_us": (1.0, 10.0),
    "step_overhead_ms": (0.0, 5.0),
    "seq_overhead_us": (0.0, 60.0),
    "fp4": (0.40, 1.6),
    "moe": (0.30, 1.0),
}
PRIOR = {
    "mem": 0.78,
    "comp": 0.45,
    "attn": 0.45,
    "net": 0.6,
    "layer_overhead_us": 1.5,
    "step_overhead_ms": 0.5,
    "seq_overhead_us": 10.0,
    "fp4": 0.9,
    "moe": 0.8,
}
PRIOR_WEIGHT = 0.05
SIBLING_WEIGHT = 0.6
TOLERANCE = 0.15

#: fit order: a parent is fitted before the GPUs that lean on it
FAMILY = {"b200": None, "gb300": "b200", "mi300x": None, "mi355x": "mi300x", "h200": None}
#: GPUs that take another's factors: none of today's software measured on their own
#: (H100), or the same rack-scale software stack fitted jointly (GB200 with GB300; their
#: silicon differs in the catalog, not in the factors)
INHERIT = {
    "h100": ("h200", "same Hopper die and software stack as H200"),
    "gb200": ("gb300", "same NVL72 software stack, fitted jointly with GB300's points"),
}
#: factors no point of a family pins stay at their typical value (``PRIOR``): Hopper's
#: points are a compute-bound offline run and a fabric-bound two-node MoE — none is
#: bound by HBM bandwidth
HELD = {"h200": {"mem"}}
#: points of another GPU a fit also uses (same software, so the factors must serve both)
SHARED = {"h200": ["h100"], "gb300": ["gb200"]}


def loss(gpu, points, cat, eff: Efficiency, prior: dict, weight: float) -> float:
    g = dataclasses.replace(gpu, efficiency=eff, efficiency_overrides={})
    errs = []
    for m in points:
        try:
            gg = (
                g
                if m.gpu == gpu.id
                else dataclasses.replace(cat.gpu(m.gpu), efficiency=eff, efficiency_overrides={})
            )
            errs.append(math.log(predicted_value(m, predict(m, cat, gg)) / m.value))
        except ServingError:  # the point is out of reach: a large but finite miss
            errs.append(-2.5)
    rms = math.sqrt(sum(e * e for e in errs) / len(errs))
    worst = max(abs(e) for e in errs)
    pull = sum(((getattr(eff, n) - prior[n]) / (BOUNDS[n][1] - BOUNDS[n][0])) ** 2 for n in BOUNDS)
    return rms + 4 * max(0.0, worst - math.log1p(TOLERANCE)) + weight * pull


def fit(
    gpu,
    points,
    cat,
    start: Efficiency,
    prior: dict,
    weight: float,
    names: list[str],
    rounds: int = 60,
):
    """Coordinate descent inside the bounds, halving the step when nothing improves."""
    best, best_l = start, loss(gpu, points, cat, start, prior, weight)
    step = {n: (BOUNDS[n][1] - BOUNDS[n][0]) / 8 for n in names}
    for _ in range(rounds):
        improved = False
        for n in names:
            for sgn in (-1, 1):
                v = min(BOUNDS[n][1], max(BOUNDS[n][0], getattr(best, n) + sgn * step[n]))
                e = dataclasses.replace(best, **{n: v})
                lv = loss(gpu, points, cat, e, prior, weight)
                if lv < best_l - 1e-6:
                    best, best_l, improved = e, lv, True
                    break
        if not improved:
            step = {n: s / 2 for n, s in step.items()}
            if max(s / (BOUNDS[n][1] - BOUNDS[n][0]) for n, s in step.items()) < 2e-3:
                break
    return best, best_l


def _flow(e: Efficiency, fitted: list[str]) -> str:
    names = ", ".join(f'"{x}"' if " " in x or ":" in x else x for x in fitted)
    return (
        f"{{mem: {e.mem:.3f}, comp: {e.comp:.3f}, attn: {e.attn:.3f}, net: {e.net:.3f}, "
        f"layer_overhead_us: {e.layer_overhead_us:.2f}, step_overhead_ms: {e.step_overhead_ms:.2f}, "
        f"seq_overhead_us: {e.seq_overhead_us:.1f}, fp4: {e.fp4:.3f}, moe: {e.moe:.3f}, fitted_to: [{names}]}}"
    )


def write_catalog(lines_by_gpu: dict[str, str]) -> None:
    """Replace the ``efficiency:`` line of each fitted GPU (and drop stale overrides)."""
    import re
    from pathlib import Path

    from twin.core.catalog import DATA_DIR

    path = Path(DATA_DIR) / "gpus.yaml"
    out, gpu, skip = [], None, False
    for line in path.read_text(encoding="utf-8").split("\n"):
        m = re.match(r"^  ([a-z0-9-]+):$", line)
        if m:
            gpu = m.group(1)
        if skip and line.startswith("      "):
            continue
        skip = False
        if line.startswith("    efficiency_overrides:") and gpu in lines_by_gpu:
            skip = True
            continue
        if line.startswith("    efficiency:") and gpu in lines_by_gpu:
            line = "    efficiency: " + lines_by_gpu[gpu]
        out.append(line)
    path.write_text("\n".join(out), encoding="utf-8")
    print(f"wrote {path}")


def main(argv):
    write = "--write" in argv
    argv = [a for a in argv if a != "--write"]
    cat = load_catalog()
    pts = [m for m in measurements() if m.role == "fit"]
    order = [g for g in FAMILY if not argv or g in argv or FAMILY[g] in argv]
    fitted: dict[str, Efficiency] = {}
    fitted_names: dict[str, list[str]] = {}
    lines: dict[str, str] = {}
    for gid in order:
        gpu = cat.gpu(gid)
        mine = [m for m in pts if m.gpu == gid or m.gpu in SHARED.get(gid, [])]
        parent = FAMILY[gid]
        start = (
            (fitted.get(parent) or cat.gpu(parent).efficiency) if parent else Efficiency(**PRIOR)
        )
        start = dataclasses.replace(start, fitted_to=())
        parent_names = fitted_names.get(parent, list(BOUNDS)) if parent else []
        prior = (
            {n: getattr(start, n) if n in parent_names else PRIOR[n] for n in BOUNDS}
            if parent
            else PRIOR
        )
        # few points pin few factors: the fewer, the harder the pull towards typical values
        weight = SIBLING_WEIGHT if parent else PRIOR_WEIGHT * max(1.0, 8 / len(mine)) ** 2
        names = [
            n
            for n in BOUNDS
            if (n != "fp4" or any(m.precision == "fp4" for m in mine))
            and (n != "moe" or any(cat.model(m.model).is_moe for m in mine))
            and n not in HELD.get(gid, ())
        ]
        e, lv = fit(gpu, mine, cat, start, prior, weight, names)
        fitted_names[gid] = names
        fitted[gid] = e
        ids = [m.id for m in mine]
        if parent:
            ids = [f"pulled towards {parent}: same architecture and software stack"] + ids
        lines[gid] = _flow(e, ids)
        print(f"{gid}: loss {lv:.3f} over {len(mine)} points")
        print("    efficiency: " + lines[gid])
        for m in mine:
            gg = dataclasses.replace(cat.gpu(m.gpu), efficiency=e, efficiency_overrides={})
            v = predicted_value(m, predict(m, cat, gg))
            print(f"      {m.id:44} {m.value:9.0f} {v:9.0f} {v / m.value - 1:+7.1%}")
    for child, (parent, why) in INHERIT.items():
        if parent in fitted:
            src = [m.id for m in pts if m.gpu == parent or m.gpu in SHARED.get(parent, [])]
            lines[child] = _flow(fitted[parent], [f"inherited from {parent}: {why}"] + src)
    if write:
        write_catalog(lines)


if __name__ == "__main__":
    main(sys.argv[1:])
