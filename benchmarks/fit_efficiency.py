"""Fit the serving model's efficiency factors to the public measurements.

    python benchmarks/fit_efficiency.py            # fit every software stack
    python benchmarks/fit_efficiency.py blackwell  # one stack
    python benchmarks/fit_efficiency.py --write    # and update the catalog in place
    python benchmarks/fit_efficiency.py --evals 150 cdna4  # a shorter search
    python benchmarks/fit_efficiency.py --only block_fp8_prefill hopper  # one factor, rest held

Only ``role: fit`` points are used (the frontier measurements, and the measured prefill
pools, ``prefill:``, each priced at its own split and prompt length by
``predict_prefill_rate``: one log-error term each, like any other point); ``role: holdout`` points are never seen here (the
tests check them at a looser tolerance). The factors describe a *software stack on an
architecture*, not a SKU: GPUs that run the same stack share one set, fitted jointly over
all their points (``STACKS``: B200, B300, GB200 and GB300 are one Blackwell CUDA stack; H100 and
H200 one Hopper stack; MI300X and MI325X one CDNA3 stack), so a rack-scale SKU cannot buy
a fit with a per-step overhead its board sibling does not pay — what differs between them
is silicon, in the catalog.
A stack with few points of its own is pulled towards a related stack's factors
(``PULL``: MI355X towards MI300X). No per-point, per-model or per-precision knobs.

Each factor has a physical meaning and bounds (``twin.core.calibration.FACTORS``); a
fitted value at a bound is printed as a warning. The loss is the mean absolute log
error plus a penalty beyond 15 % on any point, plus a small pull towards typical values.
Factors no point of a stack pins stay at their typical value (``HELD``).
"""

from __future__ import annotations

import dataclasses
import math
import sys

from twin.core.calibration import (
    FACTORS,
    PrefillMeasurement,
    at_bound,
    fastest_stack_pools,
    measurements,
    predict,
    predict_prefill_rate,
    predicted_value,
    prefill_measurements,
)
from twin.core.catalog import Efficiency, load_catalog
from twin.core.serving import ServingError

BOUNDS = {f.name: (f.low, f.high) for f in FACTORS}
PRIOR = {f.name: f.typical for f in FACTORS}
PRIOR_WEIGHT = 0.05
PULL_WEIGHT = 0.6
TOLERANCE = 0.15

#: GPUs running one software stack: one set of factors, fitted over all their points
STACKS = {
    "blackwell": ("b200", "b300", "gb200", "gb300"),
    "hopper": ("h200", "h100"),
    # MI325X is MI300X's CDNA3 die with more and faster HBM3E: the same ROCm stack, so it
    # takes MI300X's factors (it has no fitted point of its own; its MLPerf results are held out)
    "cdna3": ("mi300x", "mi325x"),
    "cdna4": ("mi355x",),
}
#: a stack with few points leans on a related one (fitted first)
PULL = {"cdna4": "cdna3"}
#: factors a stack's points cannot pin, held at their typical value: Hopper's points are a
#: compute-bound offline run and fabric-bound two-node MoE runs, none bound by HBM
#: bandwidth; its only DeepSeek points are fp8, so the block-scaled path is the reference
#: (DeepGEMM was written for Hopper) and cannot be told apart from the other factors
#: ROCm's block-scale kernels are its tuned path (``block_fp8`` above 1), and MI355X's
#: measured prefill pools are bound by its attention (at its floor), not by its GEMMs: the
#: AMD stacks' prefill GEMMs run at their decode rate (``block_fp8_prefill`` held at 1)
#: CDNA3 has no measured prefill pool: its prompt attention is held at its decode rate
#: (``attn_prefill`` unset, 0), its co-located points cannot tell the two kernels apart
HELD = {
    "hopper": {"mem", "block_fp8"},
    "cdna3": {"block_fp8", "block_fp8_prefill", "attn_prefill"},
    "cdna4": {"block_fp8_prefill"},
}
#: the value a held factor takes where it is not its typical one (0: unset, as another)
HELD_AT = {"block_fp8_prefill": 1.0, "attn_prefill": 0.0}
#: the catalog's GPUs whose factors a stack's fit writes
WHY = {
    "blackwell": "one Blackwell CUDA stack (B200, B300, GB200, GB300), fitted jointly",
    "hopper": "one Hopper CUDA stack (H100, H200), fitted jointly",
    "cdna3": "ROCm on CDNA3",  # MI325X's factors are the same (fitted on MI300X's points)
    "cdna4": "ROCm on CDNA4, pulled towards the MI300X fit",
}


def _errors(points, cat, eff: Efficiency) -> list[float]:
    errs = []
    for m in points:
        g = dataclasses.replace(cat.gpu(m.gpu), efficiency=eff, efficiency_overrides={})
        try:
            if isinstance(m, PrefillMeasurement):  # a measured prefill pool
                errs.append(math.log(predict_prefill_rate(m, cat, g) / m.value))
                continue
            errs.append(math.log(predicted_value(m, predict(m, cat, g)) / m.value))
        except ServingError:  # the point is out of reach: a large but finite miss
            errs.append(-2.5)
    return errs


def loss(points, cat, eff: Efficiency, prior: dict, weight: float) -> float:
    errs = _errors(points, cat, eff)
    # mean absolute log error (not RMS): a point no shared physics reconciles with its
    # siblings (GB300 fp8, 2-3x below what the same stack does on GB200 fp8) pulls the
    # stack's factors no harder than any other point
    mean_abs = sum(abs(e) for e in errs) / len(errs)
    # a mean (not worst-case) penalty past the tolerance: no single outlier steers the fit
    excess = sum(max(0.0, abs(e) - math.log1p(TOLERANCE)) for e in errs) / len(errs)
    pull = sum(((getattr(eff, n) - prior[n]) / (BOUNDS[n][1] - BOUNDS[n][0])) ** 2 for n in BOUNDS)
    return mean_abs + excess + weight * pull


def fit(points, cat, start: Efficiency, prior: dict, weight: float, names, evals: int = 320):
    """Nelder–Mead over the factors scaled to [0, 1] inside their bounds (clipped): the
    loss is a frontier, a maximum over splits, so it has kinks a gradient would trip on."""

    def to_eff(x):
        vals = {
            n: BOUNDS[n][0] + min(1.0, max(0.0, v)) * (BOUNDS[n][1] - BOUNDS[n][0])
            for n, v in zip(names, x, strict=True)
        }
        return dataclasses.replace(start, **vals)

    def f(x):
        return loss(points, cat, to_eff(x), prior, weight)

    x0 = [(getattr(start, n) - BOUNDS[n][0]) / (BOUNDS[n][1] - BOUNDS[n][0]) for n in names]
    simplex = [x0] + [
        [v + (0.15 if j == i else 0.0) * (1 if v < 0.5 else -1) for j, v in enumerate(x0)]
        for i in range(len(names))
    ]
    scored = sorted(((f(x), x) for x in simplex), key=lambda t: t[0])
    used = len(scored)
    while used < evals:
        scored.sort(key=lambda t: t[0])
        (fb, _), (fw, xw) = scored[0], scored[-1]
        fsw = scored[-2][0]
        c = [sum(x[i] for _, x in scored[:-1]) / (len(scored) - 1) for i in range(len(names))]
        xr = [c[i] + (c[i] - xw[i]) for i in range(len(names))]
        fr = f(xr)
        used += 1
        if fr < fb:
            xe = [c[i] + 2 * (c[i] - xw[i]) for i in range(len(names))]
            fe = f(xe)
            used += 1
            scored[-1] = (fe, xe) if fe < fr else (fr, xr)
        elif fr < fsw:
            scored[-1] = (fr, xr)
        else:
            xc = [c[i] + 0.5 * (xw[i] - c[i]) for i in range(len(names))]
            fc = f(xc)
            used += 1
            if fc < fw:
                scored[-1] = (fc, xc)
            else:  # shrink towards the best
                xb = scored[0][1]
                scored = [scored[0]] + [
                    (f(y), y)
                    for y in (
                        [xb[i] + 0.5 * (x[i] - xb[i]) for i in range(len(names))]
                        for _, x in scored[1:]
                    )
                ]
                used += len(scored) - 1
        print(
            f"    {used} evaluations: loss {min(s for s, _ in scored):.4f}",
            file=sys.stderr,
            flush=True,
        )
    best = min(scored, key=lambda t: t[0])
    return to_eff(best[1]), best[0]


def _flow(e: Efficiency, fitted: list[str], names_fitted=("fp4_moe",)) -> str:
    """The catalog's flow mapping for ``e``; ``fp4_moe`` only where the stack fitted it."""
    names = ", ".join(f'"{x}"' if " " in x or ":" in x or "," in x else x for x in fitted)
    return (
        f"{{mem: {e.mem:.3f}, comp: {e.comp:.3f}, attn: {e.attn:.3f}, "
        + (f"attn_prefill: {e.attn_prefill:.3f}, " if e.attn_prefill else "")
        + f"net: {e.net:.3f}, "
        f"layer_overhead_us: {e.layer_overhead_us:.2f}, step_overhead_ms: {e.step_overhead_ms:.2f}, "
        f"seq_overhead_us: {e.seq_overhead_us:.1f}, fp4: {e.fp4:.3f}, "
        + ("" if "fp4_moe" not in names_fitted else f"fp4_moe: {e.fp4_moe:.3f}, ")
        + f"moe: {e.moe:.3f}, "
        f"block_fp8: {e.block_fp8:.3f}, "
        + (
            f"block_fp8_prefill: {e.block_fp8_prefill:.3f}, "
            if e.block_fp8_prefill != 1.0 or "block_fp8_prefill" in names_fitted
            else ""
        )
        + f"fitted_to: [{names}]}}"
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
    evals = 320
    if "--evals" in argv:  # a shorter search (a refit from factors already near the optimum)
        i = argv.index("--evals")
        evals = int(argv[i + 1])
        argv = argv[:i] + argv[i + 2 :]
    only = None
    if "--only" in argv:  # fit these factors alone, the others held at the catalog's values
        i = argv.index("--only")
        only = set(argv[i + 1].split(","))
        argv = argv[:i] + argv[i + 2 :]
    argv = [a for a in argv if a != "--write"]
    cat = load_catalog()
    pools = fastest_stack_pools(prefill_measurements())
    pts = [m for m in (*measurements(), *pools) if m.role == "fit"]
    order = [s for s in STACKS if not argv or s in argv]
    fitted: dict[str, Efficiency] = {}
    lines: dict[str, str] = {}
    for stack in order:
        gpus = STACKS[stack]
        mine = [m for m in pts if m.gpu in gpus]
        parent = PULL.get(stack)
        current = cat.gpu(gpus[0]).efficiency
        if current.fp4_moe is None:  # not yet told apart: the MoE path starts at the dense one
            current = dataclasses.replace(current, fp4_moe=current.fp4)
        if not current.attn_prefill:  # not yet told apart: prompt attention starts at decode's
            lo, hi = BOUNDS["attn_prefill"]
            current = dataclasses.replace(
                current, attn_prefill=min(hi, max(lo, current.prefill_attn))
            )
        if parent:
            ref = fitted.get(parent) or cat.gpu(STACKS[parent][0]).efficiency
            prior = {n: getattr(ref, n) for n in BOUNDS}
            prior["attn_prefill"] = ref.prefill_attn  # unset: as its decode's
            # comp is the GEMMs' share of peak at the clock each board holds under them
            # (``gemm_clock``): the child leans on the share of boost-clock peak its parent
            # reaches, not on a share of a lower clock's
            lo, hi = BOUNDS["comp"]
            clocks = cat.gpu(STACKS[parent][0]).gemm_clock / cat.gpu(gpus[0]).gemm_clock
            prior["comp"] = min(hi, max(lo, ref.comp * clocks))
            prior["fp4"] = PRIOR["fp4"]  # the parent has no fp4 to lean on
            prior["fp4_moe"] = PRIOR["fp4_moe"]
            weight = PULL_WEIGHT
        else:
            prior, weight = PRIOR, PRIOR_WEIGHT * max(1.0, 8 / len(mine)) ** 2
        held = HELD.get(stack, set())
        start = dataclasses.replace(
            current,
            fitted_to=(),
            **{n: HELD_AT.get(n, PRIOR[n]) for n in held if n in BOUNDS},
        )
        models = {cat.model(m.model) for m in mine}

        def moe(m):
            return cat.model(m.model).is_moe

        names = [
            n
            for n in BOUNDS
            if n not in held
            and (n != "fp4" or any(m.precision == "fp4" and not moe(m) for m in mine))
            and (n != "fp4_moe" or any(m.precision == "fp4" and moe(m) for m in mine))
            and (n != "moe" or any(x.is_moe for x in models))
            and (
                n not in ("block_fp8", "block_fp8_prefill")
                or any(m.precision == "fp8" and cat.model(m.model).fp8_block_size for m in mine)
            )
        ]
        fitted_names = names  # what the catalog line records as fitted
        if only is not None:
            names = [n for n in names if n in only]
            start = dataclasses.replace(current, fitted_to=())
        print(f"{stack}: fitting {', '.join(names)} over {len(mine)} points", flush=True)
        e, lv = fit(mine, cat, start, prior, weight, names, evals)
        fitted[stack] = e
        ids = [f"{WHY[stack]}"] + [m.id for m in mine]
        for g in gpus:
            lines[g] = _flow(e, ids, fitted_names)
        print(f"{stack}: loss {lv:.3f}")
        print("    efficiency: " + lines[gpus[0]])
        bound = [n for n in at_bound(e) if n in names]
        if bound:
            print(f"    WARNING: at a bound: {', '.join(bound)} (physics missing there)")
        for m, err in zip(mine, _errors(mine, cat, e), strict=True):
            print(f"      {m.id:52} {m.value:9.0f} {math.exp(err) - 1:+7.1%}")
    if write:
        write_catalog(lines)


if __name__ == "__main__":
    main(sys.argv[1:])
