"""Where a measurement's decode step goes: twin's pick for each public point, and what its
step would lose if each cost were free.

    python benchmarks/step_breakdown.py                  # every point, not the retired ones
    python benchmarks/step_breakdown.py mi355x h100-dsr1  # the points whose id contains any
    python benchmarks/step_breakdown.py --prefill 405b    # a prompt's chunk step instead
    python benchmarks/step_breakdown.py --pools           # the measured prefill pools

With ``--prefill`` each row is the step that carries one chunk of the point's prompt (its
first ``min(ISL, prefill_chunk_tokens)`` tokens, at the prompt's mean causal context): on
the prefill replica alone where twin disaggregates, riding on the decode batch where it
serves co-located. A prompt's cost is where a long-prompt point is won or lost.

For each point: the measured and predicted tokens/s per GPU, the split and batch twin
picks, its decode step (ms, at the batch's mean context) and, per cost, the milliseconds
the step would shed were that cost zero. The rooflines take the larger of memory and
compute, so the columns overlap where both bind and do not add up to the step:

* ``gaps`` — kernel launches and the gaps between them (``layer_overhead_us`` per kernel)
* ``step`` and ``seq`` — host work per step and per sequence
* ``coll α`` and ``coll β`` — collective latency and bytes (all-reduce, dispatch, combine)
* ``HBM`` — weights and KV cache streamed from memory
* ``FLOPs`` — GEMMs, attention and the softmax's exponentials

With ``--pools`` each row is a measured prefill pool (``prefill:`` in the measurements)
at its own split: the step ``predict_prefill_rate`` prices, one full chunk of prompts
(``max(prefill_chunk_tokens, ISL)`` tokens at the prompt's mean causal context).

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
    predict_prefill_rate,
    predicted_value,
    prefill_measurements,
)
from twin.core.catalog import load_catalog
from twin.core.serving import Replica, ServingError
from twin.core.serving.curves import full_prefill_chunk

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


def step_ms(r: Replica, batch: float, context: float, prompt: float = 0.0, pctx=None) -> float:
    return float(r.step(batch, context, prompt, pctx).t_s) * 1e3


def freed(
    r: Replica, batch: float, context: float, prompt: float = 0.0, pctx=None
) -> dict[str, float]:
    """Milliseconds the step sheds with each cost set free (one at a time)."""
    base = step_ms(r, batch, context, prompt, pctx)
    out = {}
    for name, attrs, eff in COSTS:
        free = object.__new__(Replica)
        free.__dict__.update(r.__dict__)
        free.__dict__.update(attrs)
        if eff:
            free.eff = dataclasses.replace(r.eff, **eff)
        out[name] = base - step_ms(free, batch, context, prompt, pctx)
    return out


def pick(m, cat):
    """twin's operating point for a measurement, the curve it lies on and its workload."""
    cs, w = measurement_curves(m, cat)
    p = operating_point(m, cs)
    split = p.parallelism.split(" + ", 1)[-1] if " + " in p.parallelism else p.parallelism
    for c in cs:
        if c.label == split and (c.prefill is not None) == (" + " in p.parallelism):
            return p, c, w
    raise LookupError(f"{m.id}: no curve labelled {p.parallelism}")


def pools(cat, argv: list[str]) -> None:
    """Each measured prefill pool's step at its own split, and what each cost is worth."""
    print(
        "| prefill pool | measured tok/s/GPU | twin | error | prompt tokens | step ms | "
        + " | ".join(name for name, _, _ in COSTS)
        + " |"
    )
    print("|---|---:|---:|---:|---:|---:|" + "---:|" * len(COSTS))
    for pm in prefill_measurements():
        if argv and not any(a in pm.id for a in argv):
            continue
        r = Replica(cat.gpu(pm.gpu), cat.model(pm.model), pm.precision, pm.parallelism, cat)
        chunk = full_prefill_chunk(pm.workload, cat)  # as predict_prefill_rate runs it
        args = (0.0, 0.0, chunk, pm.isl / 2)
        t = predict_prefill_rate(pm, cat)
        cells = freed(r, *args)
        print(
            f"| {pm.id} | {pm.tok_s_per_gpu:,.0f} | {t:,.0f} | {t / pm.tok_s_per_gpu - 1:+.0%} "
            f"| {chunk:,.0f} | {step_ms(r, *args):.1f} | "
            + " | ".join(f"{cells[name]:.1f}" for name, _, _ in COSTS)
            + " |"
        )


def main(argv: list[str]) -> None:
    cat = load_catalog()
    if "--pools" in argv:
        pools(cat, [a for a in argv if a != "--pools"])
        return
    prefill = "--prefill" in argv
    argv = [a for a in argv if a != "--prefill"]
    chunk_budget = float(cat.constants["prefill_chunk_tokens"])
    print(
        "| measurement | error | twin's split | batch | "
        + ("prompt tokens | prefill step ms | " if prefill else "step ms | ")
        + " | ".join(name for name, _, _ in COSTS)
        + " |"
    )
    print("|---|---:|---|---:|" + ("---:|" if prefill else "") + "---:|" + "---:|" * len(COSTS))
    for m in measurements():
        if m.role == "retired" or (argv and not any(a in m.id for a in argv)):
            continue
        try:
            p, c, w = pick(m, cat)
        except ServingError as e:
            print(f"| {m.id} | out of reach: {e} |")
            continue
        err = predicted_value(m, p) / m.value - 1
        # the batch of one decode replica (with data-parallel attention: of the whole group)
        b = float(p.batch)
        if prefill:  # one chunk of the prompt, alone on the prefill replica or on the batch
            r, run = (c.prefill, 0.0) if c.prefill is not None else (c.replica, b)
            chunk = min(float(w.isl), chunk_budget)
            args = (run, w.mean_context, chunk, w.isl / 2)
            lead = f"{chunk:,.0f} | "
        else:
            r, args, lead = c.replica, (b, w.mean_context), ""
        cells = freed(r, *args)
        print(
            f"| {m.id} | {err:+.0%} | {p.parallelism} | {p.batch:,} | {lead}"
            f"{step_ms(r, *args):.1f} | "
            + " | ".join(f"{cells[name]:.1f}" for name, _, _ in COSTS)
            + " |"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
