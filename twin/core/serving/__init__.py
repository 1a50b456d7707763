"""The serving model: one model replica on one GPU generation, from first principles.

``replica`` (exported as ``StepModel``) holds the physics of one step (rooflines ÷ fitted efficiencies, plus the
fixed per-layer costs that rule high interactivity); ``curves`` the throughput–
interactivity curve of a co-located or disaggregated replica and the frontier over every
split. The factory engine precomputes step-time tables from ``Replica.step`` (the same class).
"""

from twin.core.serving.curves import (
    Curve,
    OperatingPoint,
    Round,
    at_interactivity,
    best_precision,
    best_prefill_replica,
    candidate_parallelisms,
    curve,
    curve_at,
    curves,
    default_precision,
    disagg_curve,
    frontier,
    j_per_tok,
    max_throughput,
    mixes_prefill,
    prefill_chunk_tokens,
    prefill_rate_per_gpu,
    recipe_placement,
    resample,
    schedule,
    step_token_budget,
    tok_s_per_mw,
    usd_per_mtok,
)
from twin.core.serving.replica import (
    MAX_BATCH,
    Parallelism,
    Replica,
    ServingError,
    StepCost,
    Workload,
    mtp_tokens_per_step,
    with_kv_cache,
)
from twin.core.serving.replica import Replica as StepModel

#: ``Replica`` and ``StepModel`` are one class: the factory engine tabulates the same step
#: function ``twin perf`` and the calibration use (one set of physics in both levels).

__all__ = [
    "MAX_BATCH",
    "Curve",
    "OperatingPoint",
    "Parallelism",
    "Replica",
    "Round",
    "ServingError",
    "StepCost",
    "StepModel",
    "Workload",
    "at_interactivity",
    "best_precision",
    "recipe_placement",
    "best_prefill_replica",
    "candidate_parallelisms",
    "curve",
    "curve_at",
    "curves",
    "default_precision",
    "disagg_curve",
    "frontier",
    "j_per_tok",
    "max_throughput",
    "mixes_prefill",
    "mtp_tokens_per_step",
    "prefill_chunk_tokens",
    "prefill_rate_per_gpu",
    "resample",
    "schedule",
    "step_token_budget",
    "tok_s_per_mw",
    "usd_per_mtok",
    "with_kv_cache",
]
