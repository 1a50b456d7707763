"""Where a measurement's decode step goes: twin's pick for each public point, and what its
step would lose if each cost were free.

    python benchmarks/step_breakdown.py                  # every point, not the retired ones
    python benchmarks/step_breakdown.py mi355x h100-dsr1  # the points whose id contains any

For each point: the measured and predicted tokens/s per GPU, the split and batch twin
picks, its decode step (ms, at the batch's mean context) and, per cost, the milliseconds
the step would shed were that cost zero. The rooflines take the larger of memory and
compute, so the columns overlap where both bind and do not add up to the step:

* ``gaps`` — kernel launches and the gaps between them (``layer_overhead_us`` per kernel)
* ``step`` and ``seq`` — host work per step and per sequence
* ``coll α`` and ``coll β`` — collective latency and bytes (all-reduce, dispatch, combine)
* ``HBM`` — weights and KV cache streamed from memory
* ``FLOPs`` — GEMMs, attention and the softmax's exponentials

A point missed by tens of per cent at a few requests per replica is decided by the fixed
columns; one missed at hundreds by HBM and FLOPs.
"""

from __future__ import annotations

import dataclasses
import math
import sys

from twin.core.calibration import (
    measurement_curves,
    measurements,
    operating_point,
    predicted_value,
)
from twin.core.catalog import load_catalog
from twin.core.serving import Replica, ServingError

#: the costs a column frees: (label, replica attributes set to a free value, efficiency fields)
COSTS = (
    ("gaps", {}, {"layer_overhead_us": 0.0}),
    ("step", {}, {"step_overhead_ms": 0.0}),
    ("seq", {}, {"seq_overhead_us": 0.0}),
    ("coll α", {"coll_latency_s": 0.0, "a2a_latency_s": 0.0, "p2p_latency_s": 0.0}, {}),
    ("coll β", {"inv_link_bw": 0.0, "inv_p2p_bw": 0.0}, {}),
    ("HBM", {"hbm_bytes_s": math.inf}, {}),
    (
        "FLOPs",
        {
            "flops_s": math.inf,
            "dense_flops_s": math.inf,
            "attn_flops_s": math.inf,
            "prefill_attn_flops_s": math.inf,
            "exp_s": math.inf,
        },
        {},
    ),
)


def step_ms(r: Replica, batch: float, context: float) -> float:
    return float(r.step(batch, context).t_s) * 1e3


def freed(r: Replica, batch: float, context: float) -> dict[str, float]:
    """Milliseconds the step sheds with each cost set free (one at a time)."""
    base = step_ms(r, batch, context)
    out = {}
    for name, attrs, eff in COSTS:
        free = object.__new__(Replica)
        free.__dict__.update(r.__dict__)
        free.__dict__.update(attrs)
        if eff:
            free.eff = dataclasses.replace(r.eff, **eff)
        out[name] = base - step_ms(free, batch, context)
    return out


def pick(m, cat):
    """twin's operating point for a measurement and the curve it lies on."""
    cs, w = measurement_curves(m, cat)
    p = operating_point(m, cs)
    split = p.parallelism.split(" + ", 1)[-1] if " + " in p.parallelism else p.parallelism
    for c in cs:
        if c.label == split and (c.prefill is not None) == (" + " in p.parallelism):
            return p, c.replica, w
    raise LookupError(f"{m.id}: no curve labelled {p.parallelism}")


def main(argv: list[str]) -> None:
    cat = load_catalog()
    print(
        "| measurement | error | twin's split | batch | step ms | "
        + " | ".join(name for name, _, _ in COSTS)
        + " |"
    )
    print("|---|---:|---|---:|---:|" + "---:|" * len(COSTS))
    for m in measurements():
        if m.role == "retired" or (argv and not any(a in m.id for a in argv)):
            continue
        try:
            p, r, w = pick(m, cat)
        except ServingError as e:
            print(f"| {m.id} | out of reach: {e} |")
            continue
        err = predicted_value(m, p) / m.value - 1
        # the batch of one decode replica (with data-parallel attention: of the whole group)
        b = float(p.batch)
        cells = freed(r, b, w.mean_context)
        print(
            f"| {m.id} | {err:+.0%} | {p.parallelism} | {p.batch:,} | "
            f"{step_ms(r, b, w.mean_context):.1f} | "
            + " | ".join(f"{cells[name]:.1f}" for name, _, _ in COSTS)
            + " |"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
