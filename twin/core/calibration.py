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
    cs = serving.curves(
        g,
        catalog.model(m.model),
        m.precision,
        serving.Workload(m.isl, m.osl),
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
