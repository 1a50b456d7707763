"""Public measurements and what the serving model says of them.

The measurements live in ``catalog/data/measurements.yaml``; the fit script
(``benchmarks/fit_efficiency.py``), the tests and the README table all read them here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from twin.core import serving
from twin.core.catalog import GPU, Catalog, load_catalog
from twin.core.yamlsrc import load_file

MEASUREMENTS_FILE = Path(__file__).parent / "catalog" / "measurements.yaml"


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
    Factor("attn", 0.05, 0.80, 0.40, "attention kernels' fraction of their tensor peak"),
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

    @property
    def source_kind(self) -> str:
        return (
            "MLPerf v5.1"
            if "v5.1" in self.source
            else "MLPerf v4.1"
            if "v4.1" in self.source
            else "InferenceX"
        )

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
        return f"{self.gpu} {self.model} {self.precision} {self.isl}/{self.osl} @ {at}"


def measurements() -> list[Measurement]:
    doc = load_file(MEASUREMENTS_FILE)
    fields = Measurement.__dataclass_fields__
    return [Measurement(**{k: m[k] for k in fields if k in m}) for m in doc["measurements"]]


def predict(
    m: Measurement, catalog: Catalog | None = None, gpu: GPU | None = None
) -> serving.OperatingPoint:
    """The model's operating point for a measurement's conditions."""
    catalog = catalog or load_catalog()
    g = gpu or catalog.gpu(m.gpu)
    disagg = None if m.disagg is None else bool(m.disagg)
    # InferenceX sends random-token prompts (benchmark_serving --dataset-name random
    # --ignore-eos): speculative drafts are accepted less than on natural text
    accept = (
        float(catalog.constants["mtp_acceptance_random_prompts"])
        if m.source_kind == "InferenceX"
        else None
    )
    cs = serving.curves(
        g,
        catalog.model(m.model),
        m.precision,
        serving.Workload(m.isl, m.osl, m.osl_cv, accept),
        catalog=catalog,
        disagg=disagg,
        mtp=m.mtp,
    )
    if m.tok_s_per_user is None:
        return serving.max_throughput(cs, m.ttft_max_s)
    return serving.at_interactivity(cs, m.tok_s_per_user, m.ttft_max_s)


def predicted_value(m: Measurement, point: serving.OperatingPoint) -> float:
    """The figure in the measurement's own counting convention."""
    return point.tok_s_per_gpu if m.counting == "output" else point.total_tok_s_per_gpu
