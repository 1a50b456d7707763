"""The layout data model: frozen dataclasses for a factory, its one id namespace and lookups."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

from twin.core.catalog import GPU, Catalog
from twin.core.errors import UnknownName
from twin.core.vocab import LENGTH_KINDS, PRECISION_BYTES, ROUTING_POLICIES  # noqa: E402, F401

# Defaults for what a layout may leave out. Facts about the world carry a source label
# (E estimate, S simulator/analyst constant, as in the catalog).
DEFAULT_ROUTING = "least-loaded"
DEFAULT_SEED = 1
DEFAULT_RACKS_PER_LEAF = 1  # one top-of-rack leaf per rack
DEFAULT_PREFILL_SHARE = 0.25  # E: DistServe / Splitwise splits put about 1/4 of GPUs on prefill
DEFAULT_USD_PER_KWH = 0.08  # E: US industrial electricity price, 2024 average (EIA)
DEFAULT_AMORTISATION_YEARS = (
    5.0  # E: between analysts' 4 years and hyperscalers' 6-year server lives
)
DEFAULT_OPEX_USD_PER_GPU_HR = 0.10  # E: space, staff, maintenance and network, per GPU-hour
DEFAULT_AMBIENT_C = 24.0  # E: typical data-hall supply air (ASHRAE A1 recommends 18-27 °C)
# A generated PDU is sized for its racks' peak load over the continuous-load factor: a
# breaker carries at most 80 % of its rating continuously (NEC 210.19/215.2), i.e. 1.25×.
PDU_HEADROOM = 1.25
PDU_ROUNDING_KW = 10.0
# Bounds that catch a typo (`racks: 16000`) before it builds millions of objects (see
# twin.core.limits for why each is where it is).
from twin.core.limits import MAX_LINKS, MAX_RACKS  # noqa: E402, F401

SCENARIO_KEYS = ("events", "expect")  # a file with these is a scenario, not a layout


# --------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class Site:
    """Where the factory stands and what its power and money cost."""

    name: str
    envelope_kw: float  # utility limit on facility power (IT × PUE)
    pue: float
    usd_per_kwh: float
    amortisation_years: float
    opex_usd_per_gpu_hr: float | None  # None: the catalog's share of the servers' capex
    ambient_c: float
    capex_usd_per_gpu: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    """Per-SKU overrides of the catalog's capital cost (``economics.capex_usd_per_gpu``)."""
    cost_overrides: tuple[tuple[str, float], ...] = ()
    """Other parts of ``twin.core.economics.cost_parts`` the layout sets (name, value)."""

    def __post_init__(self) -> None:
        if not isinstance(self.capex_usd_per_gpu, MappingProxyType):
            object.__setattr__(
                self, "capex_usd_per_gpu", MappingProxyType(dict(self.capex_usd_per_gpu))
            )

    def __reduce__(self) -> tuple:  # a mappingproxy cannot be pickled or deep-copied; a dict can
        args = [getattr(self, f.name) for f in fields(self)]
        args[[f.name for f in fields(self)].index("capex_usd_per_gpu")] = dict(
            self.capex_usd_per_gpu
        )
        return (Site, tuple(args))


@dataclass(frozen=True)
class Feed:
    id: str
    capacity_kw: float


@dataclass(frozen=True)
class PDU:
    """A PDU or busway on one feed; ``racks`` are the racks it feeds."""

    id: str
    feed: str
    capacity_kw: float
    racks: tuple[str, ...]


@dataclass(frozen=True)
class CoolingLoop:
    id: str
    capacity_kw: float
    racks: tuple[str, ...]


@dataclass(frozen=True)
class Rack:
    """One rack: ``gpus`` GPUs of SKU ``gpu``; ``pdus`` has one PDU, or two on different
    feeds (A/B: either alone carries the rack)."""

    id: str
    row: str
    index: int  # 1-based position in its row
    gpu: str
    gpus: int
    pdus: tuple[str, ...]
    cooling: str
    leaf: str

    @property
    def ab_fed(self) -> bool:
        return len(self.pdus) == 2


@dataclass(frozen=True)
class Row:
    id: str
    racks: tuple[str, ...]
    gpu: str | None  # the SKU when every rack has the same one


@dataclass(frozen=True)
class RowGroup:
    """The rows stamped out by one ``count:`` entry, named by that entry's id."""

    id: str
    rows: tuple[str, ...]


@dataclass(frozen=True)
class Switch:
    id: str
    tier: str  # "leaf" or "spine"
    racks: tuple[str, ...]  # the racks a leaf serves; () for a spine


@dataclass(frozen=True)
class Link:
    """A leaf↔spine uplink (a bundle of cables, one link in the model)."""

    id: str
    a: str
    b: str
    gb_s: float


@dataclass(frozen=True)
class Fabric:
    switches: tuple[Switch, ...]
    links: tuple[Link, ...]
    frontend_gb_s: float  # request ingress for the whole site
    rail_optimised: bool

    @property
    def leaves(self) -> tuple[Switch, ...]:
        return tuple(s for s in self.switches if s.tier == "leaf")

    @property
    def spines(self) -> tuple[Switch, ...]:
        return tuple(s for s in self.switches if s.tier == "spine")


@dataclass(frozen=True)
class LengthDist:
    """A token-length distribution. ``min``/``max`` clamp it (0 = no bound)."""

    mean: float
    kind: str = "fixed"  # "fixed" | "lognormal" | "uniform"
    sigma: float = 0.0  # lognormal shape (standard deviation of log length)
    min: int = 0
    max: int = 0


@dataclass(frozen=True)
class Agentic:
    """Multi-step sessions: each step's prompt holds the context so far plus
    ``context_growth_tokens`` more, and steps are separated by tool-call pauses."""

    steps_mean: float
    tool_pause_s: float
    context_growth_tokens: int


@dataclass(frozen=True)
class WorkloadClass:
    """Requests of one kind sent to one deployment.

    ``rate_rps`` is the peak rate: requests per second (new sessions per second for an
    agentic class), multiplied by the diurnal factor at the time of day. ``diurnal`` is
    (hour, factor) points interpolated linearly and wrapping at 24 h; () means flat.
    ``burstiness`` is the coefficient of variation of inter-arrival times: 1 is Poisson.
    ``timeout_s`` is how long a client waits for a first token before giving up.
    """

    id: str
    deployment: str
    rate_rps: float
    diurnal: tuple[tuple[float, float], ...]
    burstiness: float
    isl: LengthDist
    osl: LengthDist
    slo_ttft_s: float
    slo_tpot_s: float
    agentic: Agentic | None = None
    timeout_s: float | None = None  # a client gives up after this wait (None: the engine's rule)


@dataclass(frozen=True)
class Deployment:
    """A model served on a set of racks. ``None`` sizes are chosen by the engine.

    ``racks`` is where replicas are placed (rows and groups expanded, in file order);
    ``disaggregated`` splits prefill and decode onto separate replicas, with
    ``prefill_share`` of the GPUs on prefill and the KV cache moved over the fabric.
    """

    id: str
    model: str
    precision: str
    gpus_per_replica: int | None
    replicas: int | None
    racks: tuple[str, ...]
    disaggregated: bool = False
    prefill_share: float = 0.0
    placement: tuple[str, ...] = ()  # the rows, groups or racks as the file names them


@dataclass(frozen=True)
class Layout:
    name: str
    description: str
    file: str
    site: Site
    feeds: tuple[Feed, ...]
    pdus: tuple[PDU, ...]
    cooling: tuple[CoolingLoop, ...]
    rows: tuple[Row, ...]
    racks: tuple[Rack, ...]
    fabric: Fabric
    deployments: tuple[Deployment, ...]
    workloads: tuple[WorkloadClass, ...]
    routing: str
    tick_s: float | None = None
    seed: int = DEFAULT_SEED
    groups: tuple[RowGroup, ...] = ()
    _index: Mapping[str, Any] = field(init=False, repr=False, compare=False)
    _kinds: Mapping[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[str, Any] = {}
        kinds: dict[str, str] = {}
        for kind, items in (
            ("feed", self.feeds),
            ("pdu", self.pdus),
            ("loop", self.cooling),
            ("group", self.groups),
            ("row", self.rows),
            ("rack", self.racks),
            ("switch", self.fabric.switches),
            ("link", self.fabric.links),
            ("deployment", self.deployments),
            ("workload", self.workloads),
        ):
            for item in items:
                index[item.id] = item
                kinds[item.id] = item.tier if kind == "switch" else kind
        object.__setattr__(self, "_index", MappingProxyType(index))
        object.__setattr__(self, "_kinds", MappingProxyType(kinds))

    def __reduce__(self) -> tuple:  # rebuild the lookups rather than pickle mappingproxies
        return (Layout, tuple(getattr(self, f.name) for f in fields(self) if f.init))

    # ---- lookups (every id is unique across kinds)

    @property
    def ids(self) -> Mapping[str, str]:
        """Every component id → its kind (feed, pdu, loop, group, row, rack, leaf, spine,
        link, deployment, workload)."""
        return self._kinds

    def __contains__(self, component_id: object) -> bool:
        return component_id in self._index

    def component(self, component_id: str) -> Any:
        try:
            return self._index[component_id]
        except KeyError:
            raise UnknownName("component", component_id, self._index) from None

    def kind_of(self, component_id: str) -> str:
        self.component(component_id)
        return self._kinds[component_id]

    def _typed(self, component_id: str, kind: str, cls: type) -> Any:
        item = self._index.get(component_id)
        if not isinstance(item, cls):
            raise UnknownName(
                kind, component_id, (k for k, v in self._index.items() if isinstance(v, cls))
            )
        return item

    def rack(self, rack_id: str) -> Rack:
        return self._typed(rack_id, "rack", Rack)

    def row(self, row_id: str) -> Row:
        return self._typed(row_id, "row", Row)

    def pdu(self, pdu_id: str) -> PDU:
        return self._typed(pdu_id, "PDU", PDU)

    def feed(self, feed_id: str) -> Feed:
        return self._typed(feed_id, "feed", Feed)

    def loop(self, loop_id: str) -> CoolingLoop:
        return self._typed(loop_id, "cooling loop", CoolingLoop)

    def switch(self, switch_id: str) -> Switch:
        return self._typed(switch_id, "switch", Switch)

    def link(self, link_id: str) -> Link:
        return self._typed(link_id, "link", Link)

    def deployment(self, deployment_id: str) -> Deployment:
        return self._typed(deployment_id, "deployment", Deployment)

    def workload(self, workload_id: str) -> WorkloadClass:
        return self._typed(workload_id, "workload class", WorkloadClass)

    def racks_of(self, component_id: str) -> tuple[str, ...]:
        """The racks a component holds, feeds, cools or serves, in layout order."""
        item = self.component(component_id)
        if isinstance(item, Rack):
            return (item.id,)
        if isinstance(item, RowGroup):
            return tuple(r for row in item.rows for r in self._index[row].racks)
        if isinstance(item, Feed):
            behind = {r for p in self.pdus if p.feed == item.id for r in p.racks}
            return tuple(r.id for r in self.racks if r.id in behind)
        if isinstance(item, Switch) and item.tier == "spine":
            return tuple(r.id for r in self.racks)
        if isinstance(item, Link):
            return self._index[item.a].racks
        if isinstance(item, WorkloadClass):
            return self._index[item.deployment].racks
        return tuple(getattr(item, "racks", ()))

    @property
    def gpus_total(self) -> int:
        return sum(r.gpus for r in self.racks)

    @property
    def gpu_skus(self) -> tuple[str, ...]:
        """The GPU SKUs in the layout, in order of first appearance."""
        return tuple(dict.fromkeys(r.gpu for r in self.racks))

    def gpus_by_sku(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.racks:
            out[r.gpu] = out.get(r.gpu, 0) + r.gpus
        return out

    def peak_it_kw(self, catalog: Catalog) -> float:
        """IT power with every rack at its catalog peak (rack_kw scaled by GPU count)."""
        return sum(rack_peak_kw(catalog.gpus[r.gpu], r.gpus) for r in self.racks)


def rack_peak_kw(gpu: GPU, gpus: int) -> float:
    return gpu.rack_kw * gpus / gpu.gpus_per_rack


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}{'es' if word.endswith('s') else 's'}"


def summary_line(layout: Layout, catalog: Catalog) -> str:
    """One line saying what a layout holds, for ``twin check`` and logs."""
    facility_mw = layout.peak_it_kw(catalog) * layout.site.pue / 1000
    return (
        f"{layout.name}: {_plural(len(layout.racks), 'rack')} in {_plural(len(layout.rows), 'row')}, "
        f"{layout.gpus_total:,} GPUs ({', '.join(layout.gpu_skus)}), "
        f"{_plural(len(layout.deployments), 'deployment')}, {_plural(len(layout.workloads), 'workload class')}, "
        f"{layout.site.envelope_kw / 1000:,.1f} MW envelope (peak {facility_mw:,.1f} MW at PUE {layout.site.pue:g})"
    )
