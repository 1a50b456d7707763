"""Public measurements and what the serving model says of them.

The measurements live in ``catalog/data/measurements.yaml``; the fit script
(``benchmarks/fit_efficiency.py``), the tests and the README table all read them here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from twin.core import serving
from twin.core.catalog import GPU, Catalog, load_catalog
from twin.core.errors import InputError, Problem
from twin.core.serving.curves import tokens_per_step
from twin.core.yamlsrc import load_file

MEASUREMENTS_FILE = Path(__file__).parent / "catalog" / "measurements.yaml"
RECIPES_FILE = Path(__file__).parent / "catalog" / "recipes.yaml"


@dataclass(frozen=True)
class Factor:
    """One fitted efficiency factor: what it means physically and where it may lie.

    A fitted value at (within 2 % of the range of) a bound is a warning sign: the
    physics misses something and the factor absorbs it. ``at_bound`` names those."""

    name: str
    low: float
    high: float
    typical: float  # the pull of the fit where few points pin the factor
    meaning: str


FACTORS = (
    Factor("mem", 0.50, 0.92, 0.78, "achieved fraction of HBM bandwidth streaming weights and KV"),
    Factor("comp", 0.20, 0.80, 0.45, "achieved fraction of dense tensor peak in GEMMs"),
    Factor(
        "attn",
        0.05,
        0.80,
        0.40,
        "decode attention's fraction of its tensor peak (absorbed MLA over the latent cache: "
        "FlashMLA, AITER's MLA decode, TensorRT-LLM's XQA; paged attention)",
    ),
    Factor(
        "attn_prefill",
        0.10,
        0.85,
        0.45,
        "prompt attention's fraction of its tensor peak: causal MHA over the decompressed K/V "
        "(FlashAttention-3 reaches 75 % of H100's BF16 peak and ~60 % of its FP8 peak forward; "
        "cuDNN/TensorRT-LLM context FMHA, CK/AITER FMHA forward on ROCm)",
    ),
    Factor("net", 0.30, 0.90, 0.60, "achieved fraction of link bandwidth in collectives"),
    Factor(
        "layer_overhead_us",
        1.0,
        10.0,
        2.5,
        "µs per kernel outside the rooflines (launch, tail, gap to the next kernel)",
    ),
    Factor("step_overhead_ms", 0.0, 4.0, 1.0, "host scheduling and sampling per step"),
    Factor("seq_overhead_us", 0.0, 40.0, 10.0, "host bookkeeping per sequence per step"),
    Factor("fp4", 0.40, 1.60, 1.0, "speed of the dense fp4 GEMM path relative to per-tensor fp8"),
    Factor(
        "fp4_moe",
        0.40,
        1.60,
        1.0,
        "speed of the fp4 grouped-GEMM (MoE expert) path relative to per-tensor fp8",
    ),
    Factor("moe", 0.30, 1.00, 0.80, "MoE grouped GEMMs' weight streaming relative to dense GEMMs'"),
    Factor(
        "block_fp8_prefill",
        0.20,
        1.00,
        0.60,
        "a prompt's GEMMs where the experts run block-scaled fp8, relative to the path's decode "
        "rate (per-group activation quantisation, FP32 promotion, token permutation: costs a "
        "compute-bound prefill pays in full)",
    ),
    Factor(
        "block_fp8",
        0.20,
        1.60,
        1.0,
        "speed of the block-scaled fp8 path (DeepSeek's weights) relative to per-tensor fp8 on "
        "the same stack: below 1 where its scales cost, above 1 where a stack's DeepSeek "
        "kernels are its tuned path and its per-tensor fp8 GEMMs are not",
    ),
)
FACTOR = {f.name: f for f in FACTORS}


def at_bound(eff, margin: float = 0.02) -> list[str]:
    """The factors of ``eff`` that sit at a bound (a sign of missing physics)."""
    out = []
    for f in FACTORS:
        v, span = getattr(eff, f.name), f.high - f.low
        if v is None:  # an optional factor the stack does not set
            continue
        if not v and f.low > 0:  # a zero its range excludes: unset, it falls back to another
            continue
        if (v - f.low) <= margin * span or (f.high - v) <= margin * span:
            out.append(f.name)
    return out


@dataclass(frozen=True)
class Measurement:
    id: str
    gpu: str
    model: str
    precision: str
    isl: int
    osl: int
    tok_s_per_user: float | None
    value: float
    counting: str  # "output" (MLPerf) or "total" (InferenceX: input + output)
    role: str  # "fit", "holdout" (never fitted, checked looser) or "retired" (kept for the record)
    source: str
    mtp: bool = True  # speculative decoding allowed (MLPerf v5.1 closed: no)
    disagg: bool | None = None  # None: co-located or disaggregated, whichever is best
    ttft_max_s: float | None = None  # the scenario's TTFT limit
    osl_cv: float = 0.0  # spread of the output lengths (coefficient of variation)
    scheduler_steps: int = 1  # the submission's vLLM num_scheduler_steps (its config file)
    #: the run's own split where its configuration is public ({tp, pp, dp_attention,
    #: tp_experts}, one replica): the point is priced at it, not at twin's best split
    parallelism: dict | None = None
    #: the precision of the run's KV cache where its launch leaves it at the stack's
    #: default instead of the fp8 cache twin prices (SGLang's ``--kv-cache-dtype auto``:
    #: the model's BF16); None: the catalog's ``kv_bytes`` for the point's precision
    kv_cache: str | None = None
    #: the run's stack runs TensorRT-LLM's in-flight batching (its config's
    #: ``use_inflight_batching``): prompts ride on decode steps, a token budget per
    #: attention-DP rank (None: the catalog's rule for the model's public recipes)
    inflight_batching: bool | None = None

    @property
    def split(self) -> serving.Parallelism | None:
        """The run's own split, or None (twin's best)."""
        d = self.parallelism
        if not d:
            return None
        return serving.Parallelism(
            int(d["tp"]),
            int(d.get("pp", 1)),
            dp_attention=bool(d.get("dp_attention", False)),
            tp_experts=bool(d.get("tp_experts", False)),
        )

    @property
    def source_kind(self) -> str:
        return (
            "MLPerf v6.1"
            if "v6.1" in self.source
            else "MLPerf v6.0"
            if "v6.0" in self.source
            else "MLPerf v5.1"
            if "v5.1" in self.source
            else "MLPerf v4.1"
            if "v4.1" in self.source
            else "TensorRT-LLM"
            if "TensorRT-LLM blog" in self.source
            else "InferenceX"
        )

    @property
    def origin(self) -> str:
        """Where the figure comes from, with the MLPerf submitter when the source names its
        results folder (two submissions of one GPU and model read apart)."""
        found = re.search(r"\b(?:closed|open)/([A-Za-z0-9_.-]+)/", self.source)
        return f"{self.source_kind}, {found.group(1)}" if found else self.source_kind

    @property
    def regime(self) -> str:
        """Max throughput, < 40, 40–90 or > 90 tok/s per user."""
        u = self.tok_s_per_user
        return (
            "max throughput" if u is None else "< 40" if u < 40 else "40–90" if u <= 90 else "> 90"
        )

    @property
    def label(self) -> str:
        at = f"{self.tok_s_per_user:g} tok/s/user" if self.tok_s_per_user else "max throughput"
        # a model with a multi-token-prediction head measured without speculative decoding
        # says so (MLPerf closed, InferenceX's MTP-off runs)
        drafts = load_catalog().model(self.model).mtp_drafts
        spec = "" if self.mtp or not drafts else ", no MTP"
        return f"{self.gpu} {self.model} {self.precision} {self.isl}/{self.osl} @ {at}{spec}"


#: what a measurement's ``parallelism:`` may say, and the type of each
_SPLIT = {"tp": int, "pp": int, "dp_attention": bool, "tp_experts": bool}


def _split_problem(m: dict) -> str | None:
    """What is wrong with a measurement's ``parallelism:`` (None: nothing, or no split)."""
    d = m.get("parallelism")
    if d is None:
        return None
    keys = ", ".join(_SPLIT)
    if not isinstance(d, dict) or "tp" not in d:
        return f"{m.get('id')}: parallelism must be a mapping with tp (keys: {keys})"
    for k, v in d.items():
        want = _SPLIT.get(k)
        if want is None:
            return f"{m.get('id')}: parallelism has no key {k!r} (keys: {keys})"
        if want is bool and not isinstance(v, bool):
            return f"{m.get('id')}: parallelism {k} must be true or false, not {v!r}"
        if want is int and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            return f"{m.get('id')}: parallelism {k} must be a whole number of GPUs >= 1, not {v!r}"
    return None


def _kv_cache_problem(m: dict, kinds) -> str | None:
    """What is wrong with a measurement's ``kv_cache:`` (None: nothing, or none given);
    ``kinds``: the catalog's KV-cache precisions (``kv_bytes``)."""
    kv = m.get("kv_cache")
    if kv is None or (isinstance(kv, str) and kv in kinds):
        return None
    return f"{m.get('id')}: kv_cache must be one of {', '.join(kinds)}, not {kv!r}"


def _ifb_problem(m: dict) -> str | None:
    """What is wrong with a measurement's ``inflight_batching:`` (None: nothing, or unset)."""
    v = m.get("inflight_batching")
    if v is None or isinstance(v, bool):
        return None
    return f"{m.get('id')}: inflight_batching must be true or false, not {v!r}"


def measurements(path: Path = MEASUREMENTS_FILE) -> list[Measurement]:
    doc = load_file(path)
    problems = []
    kinds = load_catalog().constants["kv_bytes"]
    for i, m in enumerate(doc["measurements"]):
        for key, msg in (
            ("parallelism", _split_problem(m)),
            ("inflight_batching", _ifb_problem(m)),
            ("kv_cache", _kv_cache_problem(m, kinds)),
        ):
            if msg:
                line = m.line_of(key) if hasattr(m, "line_of") else 0
                problems.append(Problem(str(path), line or doc["measurements"].line_of(i), msg))
    if problems:
        raise InputError(problems)
    fields = Measurement.__dataclass_fields__
    return [Measurement(**{k: m[k] for k in fields if k in m}) for m in doc["measurements"]]


class _MeasuredSplit:
    """A measurement of one replica at a stated split (``tp``, ``dp_attention``,
    ``tp_experts``): its parallelism as the serving model takes it."""

    tp: int
    dp_attention: bool
    tp_experts: bool

    @property
    def parallelism(self) -> serving.Parallelism:
        return serving.Parallelism(
            self.tp, dp_attention=self.dp_attention, tp_experts=self.tp_experts
        )


@dataclass(frozen=True)
class StepMeasurement(_MeasuredSplit):
    """One decode step of a public run: a replica's split, its mean running batch and
    context, and the measured mean time per output token (no speculation)."""

    id: str
    gpu: str
    model: str
    precision: str
    tp: int
    dp_attention: bool
    tp_experts: bool
    running: float
    context: float
    tpot_ms: float
    source: str

    @property
    def label(self) -> str:
        split = self.parallelism.label(True)
        # with data-parallel attention every GPU runs its own share of the batch
        share = f" ({self.running / self.tp:,.1f}/GPU)" if self.dp_attention else ""
        return (
            f"{self.gpu} {self.model} {self.precision} {split}, {self.running:,.0f} running"
            f"{share}, context {self.context:,.0f}"
        )


def step_measurements() -> list[StepMeasurement]:
    doc = load_file(MEASUREMENTS_FILE)
    fields = StepMeasurement.__dataclass_fields__
    return [StepMeasurement(**{k: s[k] for k in fields if k in s}) for s in doc.get("steps", [])]


def predict_step_ms(s: StepMeasurement, catalog: Catalog | None = None) -> float:
    """The model's decode step for a measured one: the same split, batch and context."""
    catalog = catalog or load_catalog()
    r = serving.Replica(
        catalog.gpu(s.gpu), catalog.model(s.model), s.precision, s.parallelism, catalog
    )
    return float(r.step(s.running, s.context).t_s) * 1e3


@dataclass(frozen=True)
class PrefillMeasurement(_MeasuredSplit):
    """A prefill pool's measured capacity: prompt tokens per second per GPU of workers
    that only prefill, at a known split and prompt length (no speculation: a prefill
    worker computes each prompt token once, whatever its decode side drafts)."""

    id: str
    gpu: str
    model: str
    precision: str
    isl: int
    tp: int
    dp_attention: bool
    tp_experts: bool
    tok_s_per_gpu: float
    framework: str  # the serving stack that ran the pool (dynamo-trt, dynamo-sglang, ...)
    role: str  # "fit" or "holdout" (never fitted)
    #: how the figure shows capacity: ``plateau`` (runs at several decode-to-prefill
    #: ratios reach the same rate), ``queue`` (the rate held while prompts queued in
    #: front of the pool) or ``reported`` (a publication's own prefill-only figure)
    saturation: str
    source: str

    @property
    def value(self) -> float:
        """The measured figure, under the name the frontier measurements use."""
        return self.tok_s_per_gpu

    @property
    def workload(self) -> serving.Workload:
        """The pool's prompts (a prefill-only step does not depend on the output length)."""
        return serving.Workload(self.isl, 1024)

    @property
    def label(self) -> str:
        return (
            f"{self.gpu} {self.model} {self.precision} {self.framework} "
            f"{self.parallelism.label(True)} prefill, {self.isl:,}-token prompts"
        )


#: what a prefill measurement says, and the type of each
_PREFILL = {
    "id": str,
    "gpu": str,
    "model": str,
    "precision": str,
    "isl": int,
    "tp": int,
    "dp_attention": bool,
    "tp_experts": bool,
    "tok_s_per_gpu": float,
    "framework": str,
    "role": ("fit", "holdout"),
    "saturation": ("plateau", "queue", "reported"),
    "source": str,
}


def _prefill_problems(p, catalog: Catalog) -> list[tuple[str, str]]:
    """What is wrong with one prefill measurement: (key, message) pairs."""
    if not isinstance(p, dict):
        return [("", "a prefill measurement must be a mapping of " + ", ".join(_PREFILL))]
    name = p.get("id", "prefill measurement")
    out = []
    for k in p:
        if k not in _PREFILL:
            out.append((k, f"{name}: no key {k!r} (keys: {', '.join(_PREFILL)})"))
    for k, want in _PREFILL.items():
        v = p.get(k)
        if k not in p:
            out.append(("", f"{name}: {k} is missing"))
        elif isinstance(want, tuple):
            if v not in want:
                out.append((k, f"{name}: {k} must be one of {', '.join(want)}, not {v!r}"))
        elif want is bool:
            if not isinstance(v, bool):
                out.append((k, f"{name}: {k} must be true or false, not {v!r}"))
        elif want is int:
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                out.append((k, f"{name}: {k} must be a whole number >= 1, not {v!r}"))
        elif want is float:
            if isinstance(v, bool) or not isinstance(v, int | float) or not v > 0:
                out.append((k, f"{name}: {k} must be a positive number, not {v!r}"))
        elif not isinstance(v, str) or not v:
            out.append((k, f"{name}: {k} must be text, not {v!r}"))
    if isinstance(p.get("gpu"), str) and p["gpu"] not in catalog.gpus:
        out.append(("gpu", f"{name}: no GPU {p['gpu']!r} in the catalog"))
    if isinstance(p.get("model"), str) and p["model"] not in catalog.models:
        out.append(("model", f"{name}: no model {p['model']!r} in the catalog"))
    return out


def prefill_measurements(path: Path = MEASUREMENTS_FILE) -> list[PrefillMeasurement]:
    """The measured prefill capacities (``prefill:`` in the measurements file)."""
    doc = load_file(path)
    catalog = load_catalog()
    entries = doc.get("prefill") or []
    problems = []
    for i, p in enumerate(entries):
        for key, msg in _prefill_problems(p, catalog):
            line = p.line_of(key) if key and hasattr(p, "line_of") else 0
            problems.append(Problem(str(path), line or entries.line_of(i), msg))
    if problems:
        raise InputError(problems)
    return [PrefillMeasurement(**{k: p[k] for k in _PREFILL}) for p in entries]


def fastest_stack_pools(pools: list[PrefillMeasurement]) -> list[PrefillMeasurement]:
    """The pools of the stack that prefills fastest on each GPU, precision and prompt
    length. ``twin perf`` prices the best public stack (the dashboard's envelope over every
    framework), so a pool a slower framework ran on the same silicon (SGLang's B200 fp8
    pools run at 0.4-0.8x TensorRT-LLM's) says how that stack does, not what the GPU can."""
    best: dict[tuple, tuple[float, str]] = {}
    for p in pools:
        key = (p.gpu, p.model, p.precision, p.isl)
        if key not in best or p.tok_s_per_gpu > best[key][0]:
            best[key] = (p.tok_s_per_gpu, p.framework)
    return [p for p in pools if best[(p.gpu, p.model, p.precision, p.isl)][1] == p.framework]


def predict_prefill_rate(
    p: PrefillMeasurement, catalog: Catalog | None = None, gpu: GPU | None = None
) -> float:
    """The model's prompt tokens per second per GPU for a measured prefill pool: a replica
    at the pool's split that only prefills, in full chunks (``prefill_rate_per_gpu``, the
    rate ``twin perf`` sizes its prefill pools by); ``gpu``: the GPU with other factors
    (the fit's)."""
    catalog = catalog or load_catalog()
    r = serving.Replica(
        gpu or catalog.gpu(p.gpu), catalog.model(p.model), p.precision, p.parallelism, catalog
    )
    return float(serving.prefill_rate_per_gpu(r, p.workload, catalog))


def measurement_curves(
    m: Measurement, catalog: Catalog, gpu: GPU | None = None
) -> tuple[list, serving.Workload]:
    """The frontier's curves under a measurement's conditions, and its workload."""
    model = catalog.model(m.model)
    # a run that states no serving mode is priced as its model's public recipes serve it
    disagg = serving.recipe_placement(model, catalog) if m.disagg is None else bool(m.disagg)
    if m.kv_cache:
        catalog = serving.with_kv_cache(catalog, m.precision, m.kv_cache)
    # InferenceX sends random-token prompts (benchmark_serving --dataset-name random
    # --ignore-eos): speculative drafts are accepted less than on natural text
    accept = (
        float(catalog.constants["mtp_acceptance_random_prompts"])
        if m.source_kind == "InferenceX"
        else None
    )
    w = serving.Workload(
        m.isl,
        m.osl,
        m.osl_cv,
        accept,
        scheduler_steps=m.scheduler_steps,
        inflight_batching=m.inflight_batching,
    )
    cs = serving.curves(
        gpu or catalog.gpu(m.gpu),
        model,
        m.precision,
        w,
        parallelism=m.split,
        catalog=catalog,
        disagg=disagg,
        mtp=m.mtp,
    )
    return cs, w


def predict(
    m: Measurement, catalog: Catalog | None = None, gpu: GPU | None = None
) -> serving.OperatingPoint:
    """The model's operating point for a measurement's conditions."""
    cs, _ = measurement_curves(m, catalog or load_catalog(), gpu)
    return operating_point(m, cs)


def operating_point(m: Measurement, cs: list) -> serving.OperatingPoint:
    """The point on ``cs`` a measurement is compared with: the maximum throughput, or the
    best at its interactivity, within its TTFT limit."""
    if m.tok_s_per_user is None:
        return serving.max_throughput(cs, m.ttft_max_s)
    return serving.at_interactivity(cs, m.tok_s_per_user, m.ttft_max_s)


def predicted_value(m: Measurement, point: serving.OperatingPoint) -> float:
    """The figure in the measurement's own counting convention."""
    return point.tok_s_per_gpu if m.counting == "output" else point.total_tok_s_per_gpu


# --------------------------------------------------------------------------------------
# Public recipes run through the step physics (benchmarks/recipe_check.py)


@dataclass(frozen=True)
class RecipePoint:
    """One run of a public recipe, as twin's physics prices it: a closed loop of
    ``concurrency`` users on a fixed prefill pool and decode replicas."""

    recipe: dict
    concurrency: int
    running: float  # requests in each decode replica's batch
    tok_s_per_user: float
    total_tok_s_per_gpu: float


def recipes() -> list[dict]:
    return list(load_file(RECIPES_FILE)["recipes"])


def _split(d: dict, mtp: int = 0) -> serving.Parallelism:
    return serving.Parallelism(
        int(d["tp"]),
        dp_attention=bool(d.get("dp_attention", False)),
        tp_experts=bool(d.get("tp_experts", False)),
        mtp=mtp,
    )


def recipe_points(rec: dict, catalog: Catalog | None = None) -> list[RecipePoint]:
    """Each concurrency of a recipe: requests flow at the least of what the users, the
    prefill pool and the decode replicas sustain (a request's TTFT is its own prefill; the
    decode batch is what Little's law leaves in it), at InferenceX's random-prompt MTP
    acceptance."""
    catalog = catalog or load_catalog()
    g, m = catalog.gpu(rec["gpu"]), catalog.model(rec["model"])
    accept = float(catalog.constants["mtp_acceptance_random_prompts"])
    w = serving.Workload(int(rec["isl"]), int(rec["osl"]), 0.0, accept)
    pre = serving.Replica(g, m, rec["precision"], _split(rec["prefill"]), catalog)
    dec = serving.Replica(g, m, rec["precision"], _split(rec["decode"], int(rec["mtp"])), catalog)
    pool = pre.n * int(rec["prefill_workers"])
    workers = int(rec["decode_workers"])
    gpus = pool + dec.n * workers
    rate = serving.prefill_rate_per_gpu(pre, w, catalog) * pool / w.isl  # prompts per second
    own = float(pre.prefill_time_s(w.isl))
    gain = tokens_per_step(dec, w, catalog)
    ranks = dec.n if dec.par.dp_attention else 1
    cap = dec.max_batch(w)
    if rec.get("max_batch"):
        cap = min(cap, int(rec["max_batch"]) * ranks)
    out = []
    for n in rec["concurrency"]:
        b = min(cap, n / workers)
        for _ in range(4):  # the batch the flow leaves in each decode replica
            tpot = float(dec.step(b, w.mean_context).t_s) / gain
            flow = min(n / (own + w.osl * tpot), rate, workers * b / (w.osl * tpot))
            b = min(cap, n / workers, flow * w.osl * tpot / workers)
        out.append(RecipePoint(rec, int(n), b, 1 / tpot, flow * (w.isl + w.osl) / gpus))
    return out


def recipe_frontier_at(points: list[RecipePoint], tok_s_per_user: float) -> float | None:
    """The recipes' throughput at an interactivity as a dashboard reads it: the frontier
    of the runs (best throughput at that interactivity or above), interpolated linearly
    between the runs that bracket it; None past the most interactive run."""
    pts = sorted((p.tok_s_per_user, p.total_tok_s_per_gpu) for p in points)
    front: list[tuple[float, float]] = []
    for u, v in reversed(pts):  # from the most interactive down: keep each new best
        if not front or v > front[-1][1]:
            front.append((u, v))
    front.reverse()
    if not front or tok_s_per_user > front[-1][0]:
        return None
    if tok_s_per_user <= front[0][0]:
        return front[0][1]
    for (u0, v0), (u1, v1) in zip(front, front[1:], strict=False):
        if u0 <= tok_s_per_user <= u1:
            return v0 + (v1 - v0) * (tok_s_per_user - u0) / (u1 - u0)
    return None
