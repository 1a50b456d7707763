"""Factory layouts: a whole AI factory written in YAML, read into frozen dataclasses.

A layout says what is built — the site, the power tree (feeds → PDUs → racks, A/B where
the file says so), cooling loops, rows of racks with their GPU SKU, the leaf/spine fabric —
and what runs on it: model deployments, workload classes and the routing policy. The
engine reads a ``Layout`` value and never sees YAML; every mistake in a file is reported as
``FILE:LINE: message``, all of them at once where possible.

Compact forms keep a 1,000-rack factory short (see ``layouts/*.yaml`` for the format):

- a row entry ``{id: row-a, gpu: h100, racks: 16}`` stamps out racks ``row-a-01..16``;
  with ``pdus: 4, feed: feed-a`` (and ``b_feed: feed-b`` for A/B feeding) it also stamps
  out the PDUs that feed them, and ``cooling: loop-1`` puts the row on a cooling loop;
- a row entry with ``count: 40`` stamps out 40 such rows ``ID-01..ID-40``; its own id then
  names the group, usable wherever racks are named (PDU and loop ``racks:``, placements);
- one leaf switch per ``racks_per_leaf`` racks of a row, every leaf linked to every spine.

All component ids (feeds, PDUs, loops, row groups, rows, racks, switches, links,
deployments, workload classes) share one namespace, so one command grammar can name any
of them: ``fail pdu-3``, ``swap row-b gb300``, ``fail link-leaf-3-spine-1``.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any

import twin
from twin.core.catalog import GPU, Catalog, load_catalog
from twin.core.errors import InputError, Problem, UnknownName
from twin.core.units import parse_bandwidth_gb_s, parse_count, parse_duration_s, parse_power_kw
from twin.core.yamlsrc import (
    Reader,
    YList,
    YMap,
    boolean,
    load_file,
    non_negative,
    number,
    positive,
    positive_int,
    text,
)

__all__ = [
    "ROUTING_POLICIES",
    "Agentic",
    "CoolingLoop",
    "Deployment",
    "Fabric",
    "Feed",
    "Layout",
    "LengthDist",
    "Link",
    "PDU",
    "Rack",
    "Row",
    "RowGroup",
    "Site",
    "Switch",
    "WorkloadClass",
    "builtin_layouts",
    "layout_from_doc",
    "load_layout",
    "resolve_layout_path",
]

ROUTING_POLICIES = ("round-robin", "least-loaded", "kv-aware", "power-aware", "slo-aware")
LENGTH_KINDS = ("fixed", "lognormal", "uniform")
PRECISION_BYTES = {"bf16": 2.0, "fp8": 1.0, "fp4": 0.5}  # bytes per weight

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
# Bounds that catch a typo (`racks: 16000`) before it builds millions of objects; about
# 100× the racks and links of the built-in hyperscale layout.
MAX_RACKS = 100_000
MAX_LINKS = 1_000_000

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
    opex_usd_per_gpu_hr: float
    ambient_c: float
    capex_usd_per_gpu: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    """Per-SKU overrides of the catalog's capital cost (``economics.capex_usd_per_gpu``)."""

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


# --------------------------------------------------------------------------- finding files


def builtin_layouts() -> dict[str, Path]:
    """Built-in layout name → file: ``twin/_layouts`` in a wheel, ``layouts/`` in the repo."""
    pkg = Path(twin.__file__).parent
    for folder in (pkg / "_layouts", pkg.parent / "layouts"):
        if folder.is_dir():
            files = sorted(folder.glob("*.yaml"))
            if files:
                return {f.stem: f for f in files}
    return {}


def resolve_layout_path(target: str | Path) -> Path:
    """A layout file, or the file of a built-in layout named ``target``."""
    path = Path(target)
    if path.is_file():
        return path
    builtins = builtin_layouts()
    if str(target) in builtins:
        return builtins[str(target)]
    if isinstance(target, Path) or "/" in str(target) or path.suffix in (".yaml", ".yml"):
        raise InputError(
            [
                Problem(
                    str(target), 0, f"no such layout file (built-in layouts: {', '.join(builtins)})"
                )
            ]
        )
    raise UnknownName("layout", str(target), builtins)


def load_layout(target: str | Path, catalog: Catalog | None = None) -> Layout:
    """Read a layout file or built-in layout; raises ``InputError`` listing every mistake."""
    path = resolve_layout_path(target)
    doc = load_file(path)
    return layout_from_doc(doc, str(path), catalog if catalog is not None else load_catalog())


def layout_from_doc(doc: Any, file: str, catalog: Catalog) -> Layout:
    """A layout from parsed YAML (``yamlsrc.load_file``); ``file`` names it in messages."""
    return _Builder(file, catalog).build(doc)


# --------------------------------------------------------------------------- value parsers
# Each turns one YAML value into a number in the unit its name says or raises ValueError
# with a message fit to follow ``FILE:LINE: where.key:``.


def _ident(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"expected an id (letters, digits, '-', '_', '.'), got {value!r}")
    s = str(value)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", s):
        raise ValueError(f"an id may hold only letters, digits, '-', '_' and '.', got {value!r}")
    return s


def _power_kw(value: Any) -> float:
    kw = parse_power_kw(value)
    if kw <= 0:
        raise ValueError(f"must be greater than 0, got {value!r}")
    return kw


def _duration_s(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(f"a duration needs a unit, like '2s' or '50ms', got {value!r}")
    return parse_duration_s(value)


def _positive_duration_s(value: Any) -> float:
    s = _duration_s(value)
    if s <= 0:
        raise ValueError(f"must be greater than 0, got {value!r}")
    return s


def _bandwidth_gb_s(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(f"a bandwidth needs a unit, like '400Gbps' or '50GB/s', got {value!r}")
    gb_s = parse_bandwidth_gb_s(value)
    if gb_s <= 0:
        raise ValueError(f"must be greater than 0, got {value!r}")
    return gb_s


_RATE = re.compile(
    r"^\s*(?P<num>[0-9]*\.?[0-9]+)\s*(?P<mult>[kKM]?)\s*(?:/\s*(?P<per>s|sec|m|min|h)|(?P<rps>rps))\s*$"
)
_PER_S = {"s": 1.0, "sec": 1.0, "m": 1 / 60, "min": 1 / 60, "h": 1 / 3600, None: 1.0}


def _rate_rps(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise ValueError(
            f"a rate needs a unit, like '40/s' or '2k/min' (or write rate_rps: {value}), got {value!r}"
        )
    m = _RATE.match(str(value))
    if not m:
        raise ValueError(f"expected a rate like '40/s', '1.5k/s' or '600/min', got {value!r}")
    mult = {"": 1, "k": 1e3, "K": 1e3, "M": 1e6}[m["mult"]]
    rps = float(m["num"]) * mult * _PER_S[m["per"]]
    if rps <= 0:
        raise ValueError(f"must be greater than 0, got {value!r}")
    return rps


def _tokens(value: Any) -> int:
    n = parse_count(value)
    if n < 0:
        raise ValueError(f"cannot be negative, got {value!r}")
    return n


def _positive_tokens(value: Any) -> int:
    n = parse_count(value)
    if n <= 0:
        raise ValueError(f"must be greater than 0, got {value!r}")
    return n


def _count_or_auto(value: Any) -> int | None:
    if value == "auto":
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"expected a whole number greater than 0 or 'auto', got {value!r}")
    return value


def _whole(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"expected a whole number, got {value!r}")
    return value


def _pue(value: Any) -> float:
    v = number(value)
    if v < 1:
        raise ValueError(f"PUE cannot be below 1 (facility power includes IT power), got {value!r}")
    return v


def _fraction_open(value: Any) -> float:
    v = number(value)
    if not 0 < v < 1:
        raise ValueError(f"must be a fraction between 0 and 1, got {value!r}")
    return v


def _hour(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        h = float(value)
    elif isinstance(value, str) and value.strip().lower().endswith("h"):
        h = parse_duration_s(value) / 3600
    else:
        raise ValueError(f"expected an hour of the day like 9 or '9.5h', got {value!r}")
    if not 0 <= h <= 24:
        raise ValueError(f"an hour of the day is between 0 and 24, got {value!r}")
    return h


def _numbered(prefix: str, start: int, count: int) -> list[str]:
    width = max(2, len(str(start + count - 1)))
    return [f"{prefix}-{n:0{width}d}" for n in range(start, start + count)]


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}{'es' if word.endswith('s') else 's'}"


# --------------------------------------------------------------------------- the reader

_TOP_KEYS = [
    "name",
    "description",
    "seed",
    "tick",
    "site",
    "economics",
    "power",
    "cooling",
    "fabric",
    "rows",
    "deployments",
    "workloads",
    "routing",
]
_SITE_KEYS = ["name", "envelope", "pue", "ambient_c"]
_ECONOMICS_KEYS = ["usd_per_kwh", "amortisation_years", "opex_usd_per_gpu_hr", "capex_usd_per_gpu"]
_POWER_KEYS = ["feeds", "pdus"]
_FEED_KEYS = ["id", "capacity"]
_PDU_KEYS = ["id", "feed", "capacity", "racks"]
_LOOP_KEYS = ["id", "capacity", "racks"]
_ROW_KEYS = [
    "id",
    "count",
    "start",
    "gpu",
    "racks",
    "gpus_per_rack",
    "rack_prefix",
    "pdus",
    "feed",
    "b_feed",
    "pdu_capacity",
    "cooling",
    "racks_per_leaf",
]
_RACK_KEYS = ["id", "gpu", "gpus", "cooling"]
_FABRIC_KEYS = [
    "spines",
    "uplink",
    "oversubscription",
    "frontend",
    "rail_optimised",
    "racks_per_leaf",
]
_DEPLOYMENT_KEYS = [
    "id",
    "model",
    "precision",
    "gpus_per_replica",
    "replicas",
    "placement",
    "disaggregated",
    "prefill_share",
]
_WORKLOAD_KEYS = [
    "id",
    "deployment",
    "rate",
    "rate_rps",
    "diurnal",
    "burstiness",
    "isl",
    "osl",
    "slo",
    "agentic",
]
_LENGTH_KEYS = ["mean", "dist", "sigma", "min", "max"]
_SLO_KEYS = ["ttft", "tpot"]
_AGENTIC_KEYS = ["steps", "tool_pause", "context_growth"]


@dataclass
class _RackDraft:
    id: str
    row: str
    index: int
    gpu: str
    gpus: int
    line: int  # where to report this rack's problems
    cooling: list[str] = field(default_factory=list)
    pdus: list[str] = field(default_factory=list)
    leaf: str = ""


@dataclass
class _PduDraft:
    id: str
    feed: str
    capacity_kw: float
    line: int
    racks: list[str] = field(default_factory=list)


@dataclass
class _RowDraft:
    id: str
    racks: list[_RackDraft]
    racks_per_leaf: int | None


class _Builder:
    """Reads one layout document, collecting every problem before giving up."""

    def __init__(self, file: str, catalog: Catalog):
        self.file = file
        self.catalog = catalog
        self.r = Reader(file)
        self.ids: dict[str, tuple[str, int]] = {}  # id → (kind, line)
        self.feeds: dict[str, Feed] = {}
        self.pdus: dict[str, _PduDraft] = {}
        self.pdu_refs: list[tuple[_PduDraft, YList | None]] = []
        self.loops: dict[str, tuple[float, int]] = {}
        self.loop_refs: list[tuple[str, YList | None]] = []
        self.rows: dict[str, _RowDraft] = {}
        self.racks: dict[str, _RackDraft] = {}
        self.groups: dict[str, list[str]] = {}

    # ---- helpers

    def error(self, line: int, message: str) -> None:
        self.r.error(line, message)

    def register(self, ident: str, kind: str, line: int) -> bool:
        if ident in self.ids:
            other, at = self.ids[ident]
            self.error(line, f"duplicate id {ident!r}: already the id of the {other} at line {at}")
            return False
        self.ids[ident] = (kind, line)
        return True

    def register_many(self, idents: Iterable[str], kind: str, line: int, origin: str) -> bool:
        """Register generated ids; report the first clash of a batch (and how many more)."""
        clashes = [i for i in idents if i in self.ids]
        if clashes:
            other, at = self.ids[clashes[0]]
            more = f" (and {len(clashes) - 1} more)" if len(clashes) > 1 else ""
            self.error(
                line,
                f"{origin} makes {kind} id {clashes[0]!r}{more}, already the id of the {other} at line {at}",
            )
            return False
        for i in idents:
            self.ids[i] = (kind, line)
        return True

    def gpu(self, sku: Any, line: int, where: str) -> GPU | None:
        if not isinstance(sku, str):
            self.error(line, f"{where}: expected a GPU SKU, got {sku!r}")
            return None
        g = self.catalog.gpus.get(sku.lower())
        if g is None:
            self.error(line, f"{where}: {UnknownName('GPU', sku, self.catalog.gpus)}")
        return g

    def items(self, top: YMap, key: str, where: str) -> list[YMap]:
        """The mappings of the list under ``top[key]`` (items that are not are reported)."""
        if key not in top or top[key] is None:
            return []
        seq = self.r.sequence(top[key], where, top.line_of(key))
        if seq is None:
            return []
        out = []
        for i, item in enumerate(seq):
            m = self.r.mapping(item, f"{where}[{i + 1}]", seq.line_of(i))
            if m is not None:
                out.append(m)
        return out

    def refs(self, m: YMap, key: str, where: str) -> YList | None:
        """A list of ids (a single id is accepted too), checked later by ``expand``."""
        value = m.get(key)
        if value is None:
            return None
        if isinstance(value, str | int) and not isinstance(value, bool):
            one = YList([str(value)])
            one.line = m.line_of(key)
            one.lines = [m.line_of(key)]
            return one
        seq = self.r.sequence(value, f"{where}.{key}", m.line_of(key))
        return seq

    def expand(self, refs: YList | None, where: str) -> list[str]:
        """Rack, row and group ids → rack ids, in the order written, without repeats."""
        out: dict[str, None] = {}
        for i, ref in enumerate(refs or ()):
            ref = str(ref)
            if ref in self.racks:
                out[ref] = None
            elif ref in self.groups or ref in self.rows:
                for row in self.groups.get(ref, [ref]):
                    out.update(dict.fromkeys(rk.id for rk in self.rows[row].racks))
            else:
                known = [*self.groups, *self.rows]
                close = difflib.get_close_matches(ref, known + list(self.racks), n=1)
                hint = (
                    f" (did you mean {close[0]!r}?)"
                    if close
                    else f"; rows: {', '.join(known[:20])}"
                )
                self.error(refs.line_of(i), f"{where}: unknown rack or row {ref!r}{hint}")
        return list(out)

    # ---- sections

    def build(self, doc: Any) -> Layout:
        r = self.r
        top = r.mapping(doc, "layout", 1)
        if top is None:
            r.raise_if_any()
        if any(k in top for k in SCENARIO_KEYS):
            key = next(k for k in SCENARIO_KEYS if k in top)
            self.error(top.line_of(key), f"this is a scenario file ({key!r}), not a layout")
            r.raise_if_any()
        r.only(top, _TOP_KEYS, "layout")
        for key in ("site", "power", "cooling", "fabric", "rows"):
            if key not in top:
                self.error(top.line, f"layout: missing required section {key!r}")
        name = r.get(top, "name", text, "layout", default=Path(self.file).stem)
        description = r.get(top, "description", text, "layout", default="")
        seed = r.get(top, "seed", _whole, "layout", default=DEFAULT_SEED)
        tick_s = r.get(top, "tick", _positive_duration_s, "layout", default=None)
        site = self.site(top, name)
        self.power(top)
        self.cooling(top)
        self.read_rows(top)
        self.connect()
        fabric = self.fabric(top)
        deployments = self.deployments(top)
        workloads = self.workloads(top, deployments)
        routing = r.get(top, "routing", self.routing, "layout", default=DEFAULT_ROUTING)
        r.raise_if_any()
        return self.assemble(
            name, description, site, fabric, deployments, workloads, routing, tick_s, seed
        )

    def routing(self, value: Any) -> str:
        if value not in ROUTING_POLICIES:
            close = difflib.get_close_matches(str(value), ROUTING_POLICIES, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(
                f"unknown routing policy {value!r}{hint}; known: {', '.join(ROUTING_POLICIES)}"
            )
        return value

    def site(self, top: YMap, name: str) -> Site:
        r = self.r
        m = r.mapping(top["site"], "site", top.line_of("site")) if "site" in top else None
        e = YMap()
        if "economics" in top:
            e = r.mapping(top["economics"], "economics", top.line_of("economics")) or YMap()
            r.only(e, _ECONOMICS_KEYS, "economics")
        capex: dict[str, float] = {}
        if "capex_usd_per_gpu" in e:
            cm = r.mapping(
                e["capex_usd_per_gpu"],
                "economics.capex_usd_per_gpu",
                e.line_of("capex_usd_per_gpu"),
            )
            for sku in cm or ():
                if self.gpu(sku, cm.line_of(sku), "economics.capex_usd_per_gpu") is not None:
                    capex[str(sku).lower()] = r.get(
                        cm, sku, non_negative, "economics.capex_usd_per_gpu", default=0.0
                    )
        economics = {
            "usd_per_kwh": r.get(
                e, "usd_per_kwh", non_negative, "economics", default=DEFAULT_USD_PER_KWH
            ),
            "amortisation_years": r.get(
                e, "amortisation_years", positive, "economics", default=DEFAULT_AMORTISATION_YEARS
            ),
            "opex_usd_per_gpu_hr": r.get(
                e,
                "opex_usd_per_gpu_hr",
                non_negative,
                "economics",
                default=DEFAULT_OPEX_USD_PER_GPU_HR,
            ),
            "capex_usd_per_gpu": MappingProxyType(capex),
        }
        if m is None:  # missing or not a mapping: already reported
            return Site(name, 0.0, 1.0, ambient_c=DEFAULT_AMBIENT_C, **economics)
        r.only(m, _SITE_KEYS, "site")
        return Site(
            name=r.get(m, "name", text, "site", default=name),
            envelope_kw=r.get(m, "envelope", _power_kw, "site") or 0.0,
            pue=r.get(m, "pue", _pue, "site") or 1.0,
            ambient_c=r.get(m, "ambient_c", number, "site", default=DEFAULT_AMBIENT_C),
            **economics,
        )

    def power(self, top: YMap) -> None:
        r = self.r
        if "power" not in top:
            return
        m = r.mapping(top["power"], "power", top.line_of("power"))
        if m is None:
            return
        r.only(m, _POWER_KEYS, "power")
        if "feeds" not in m:
            self.error(m.line, "power: missing required key 'feeds'")
        for fm in self.items(m, "feeds", "power.feeds"):
            r.only(fm, _FEED_KEYS, "power.feeds")
            fid = r.get(fm, "id", _ident, "power.feeds")
            cap = r.get(fm, "capacity", _power_kw, f"power.feeds.{fid}")
            if fid is not None and self.register(fid, "feed", fm.line_of("id")):
                self.feeds[fid] = Feed(fid, cap or 0.0)
        for pm in self.items(m, "pdus", "power.pdus"):
            r.only(pm, _PDU_KEYS, "power.pdus")
            pid = r.get(pm, "id", _ident, "power.pdus")
            where = f"power.pdus.{pid}"
            feed = r.get(pm, "feed", _ident, where)
            cap = r.get(pm, "capacity", _power_kw, where)
            if feed is not None and feed not in self.feeds:
                self.error(pm.line_of("feed"), f"{where}.feed: {self.unknown_feed(feed)}")
            if "racks" not in pm:
                self.error(
                    pm.line, f"{where}: missing required key 'racks' (the racks or rows it feeds)"
                )
            if pid is not None and self.register(pid, "PDU", pm.line_of("id")):
                draft = _PduDraft(pid, feed or "", cap or 0.0, pm.line)
                self.pdus[pid] = draft
                self.pdu_refs.append((draft, self.refs(pm, "racks", where)))

    def unknown_feed(self, feed: str) -> str:
        if not self.feeds:
            return f"unknown feed {feed!r}; power.feeds lists none"
        return str(UnknownName("feed", feed, self.feeds))

    def cooling(self, top: YMap) -> None:
        r = self.r
        for lm in self.items(top, "cooling", "cooling"):
            r.only(lm, _LOOP_KEYS, "cooling")
            lid = r.get(lm, "id", _ident, "cooling")
            cap = r.get(lm, "capacity", _power_kw, f"cooling.{lid}")
            if lid is not None and self.register(lid, "cooling loop", lm.line_of("id")):
                self.loops[lid] = (cap or 0.0, lm.line)
                self.loop_refs.append((lid, self.refs(lm, "racks", f"cooling.{lid}")))

    def read_rows(self, top: YMap) -> None:
        for m in self.items(top, "rows", "rows"):
            self.read_row(m)

    def read_row(self, m: YMap) -> None:
        r = self.r
        r.only(m, _ROW_KEYS, "rows")
        rid = r.get(m, "id", _ident, "rows")
        if rid is None:
            return
        where = f"rows.{rid}"
        count = r.get(m, "count", positive_int, where, default=None)
        start = r.get(m, "start", _whole, where, default=1)
        if count is None and "start" in m:
            self.error(
                m.line_of("start"), f"{where}.start: only with count (it numbers the stamped rows)"
            )
        if count is not None and "rack_prefix" in m:
            self.error(
                m.line_of("rack_prefix"),
                f"{where}.rack_prefix: cannot be used with count (the rows would share rack ids)",
            )
        if isinstance(m.get("racks"), list) and "rack_prefix" in m:
            self.error(
                m.line_of("rack_prefix"),
                f"{where}.rack_prefix: only with racks: N (a list names its racks)",
            )
        # The row's SKU and rack size.
        gpu = self.gpu(m["gpu"], m.line_of("gpu"), f"{where}.gpu") if "gpu" in m else None
        gpus_per_rack = r.get(m, "gpus_per_rack", positive_int, where, default=None)
        if gpu is not None and gpus_per_rack is not None and gpus_per_rack % gpu.gpus_per_node:
            self.error(
                m.line_of("gpus_per_rack"),
                f"{where}.gpus_per_rack: {gpus_per_rack} is not a whole number of {gpu.id} nodes ({gpu.gpus_per_node} GPUs each)",
            )
        racks_value = m.get("racks")
        explicit = isinstance(racks_value, list)
        n_racks = None
        if racks_value is None:
            self.error(
                m.line, f"{where}: missing required key 'racks' (a number, or a list of racks)"
            )
        elif not explicit:
            n_racks = r.get(m, "racks", positive_int, where)
            if "gpu" not in m:
                self.error(
                    m.line, f"{where}: missing required key 'gpu' (the GPU SKU of its racks)"
                )
        elif count is not None:
            self.error(
                m.line_of("racks"),
                f"{where}.racks: a list of racks cannot be stamped with count; give a number",
            )
            return
        # Power: generated PDUs.
        pdus_n = r.get(m, "pdus", positive_int, where, default=None)
        feed = r.get(m, "feed", _ident, where, default=None)
        b_feed = r.get(m, "b_feed", _ident, where, default=None)
        pdu_cap = r.get(m, "pdu_capacity", _power_kw, where, default=None)
        if pdus_n is not None and "feed" not in m:
            self.error(m.line_of("pdus"), f"{where}: pdus needs feed (and b_feed for A/B feeding)")
        for key in ("feed", "b_feed", "pdu_capacity"):
            if key in m and "pdus" not in m:
                self.error(
                    m.line_of(key),
                    f"{where}.{key}: only with pdus (the number of PDUs to make for the row)",
                )
        for key, f in (("feed", feed), ("b_feed", b_feed)):
            if f is not None and f not in self.feeds:
                self.error(m.line_of(key), f"{where}.{key}: {self.unknown_feed(f)}")
        if feed is not None and feed == b_feed:
            self.error(
                m.line_of("b_feed"),
                f"{where}.b_feed: must differ from feed for A/B feeding, both are {feed!r}",
            )
        if pdus_n is not None and n_racks is not None and pdus_n > n_racks:
            self.error(
                m.line_of("pdus"),
                f"{where}.pdus: {pdus_n} PDUs for {n_racks} racks; at most one PDU per rack and side",
            )
            pdus_n = None
        # Cooling: one loop, or (with count) a list shared out over the rows in order.
        loops = self.row_cooling(m, where, count)
        racks_per_leaf = r.get(m, "racks_per_leaf", positive_int, where, default=None)

        size = (count or 1) * (n_racks or (len(racks_value) if explicit else 0))
        if len(self.racks) + size > MAX_RACKS:
            self.error(
                m.line,
                f"{where}: {size:,} racks would make more than {MAX_RACKS:,} in the layout",
            )
            return
        names = [rid] if count is None else _numbered(rid, start, count)
        if count is not None:
            if not self.register(rid, "row group", m.line_of("id")):
                return
            if not self.register_many(names, "row", m.line, f"{where} (count: {count})"):
                return
            self.groups[rid] = names
        elif not self.register(rid, "row", m.line_of("id")):
            return
        for k, row_id in enumerate(names):
            loop = loops[k * len(loops) // len(names)] if loops else None
            if explicit:
                racks = self.explicit_racks(m, row_id, gpu, gpus_per_rack, loop)
            elif n_racks is not None and gpu is not None:
                prefix = str(m["rack_prefix"]) if "rack_prefix" in m else f"{row_id}-"
                width = max(2, len(str(n_racks)))
                ids = [f"{prefix}{i:0{width}d}" for i in range(1, n_racks + 1)]
                if not self.register_many(ids, "rack", m.line, f"row {row_id!r}"):
                    continue
                gpus = gpus_per_rack or gpu.gpus_per_rack
                racks = [
                    _RackDraft(i, row_id, n + 1, gpu.id, gpus, m.line, [loop] if loop else [])
                    for n, i in enumerate(ids)
                ]
            else:  # its SKU or size was wrong (reported): keep the row, empty
                racks = []
            for rack in racks:
                self.racks[rack.id] = rack
            self.rows[row_id] = _RowDraft(row_id, racks, racks_per_leaf)
            if pdus_n is not None and feed is not None and racks:
                self.make_pdus(row_id, racks, pdus_n, feed, b_feed, pdu_cap, m)

    def row_cooling(self, m: YMap, where: str, count: int | None) -> list[str]:
        if "cooling" not in m:
            return []
        value = m["cooling"]
        if isinstance(value, list):
            if count is None:
                self.error(
                    m.line_of("cooling"),
                    f"{where}.cooling: a list of loops is only for rows stamped with count; give one loop",
                )
                return []
            if len(value) > count:
                self.error(
                    m.line_of("cooling"), f"{where}.cooling: {len(value)} loops for {count} rows"
                )
                return []
            loops = [str(v) for v in value]
        else:
            loops = [str(value)]
        for loop in loops:
            if loop not in self.loops:
                self.error(m.line_of("cooling"), f"{where}.cooling: {self.unknown_loop(loop)}")
        return [lp for lp in loops if lp in self.loops]

    def unknown_loop(self, loop: str) -> str:
        if not self.loops:
            return f"unknown cooling loop {loop!r}; the cooling section lists none"
        return str(UnknownName("cooling loop", loop, self.loops))

    def explicit_racks(
        self, m: YMap, row_id: str, row_gpu: GPU | None, gpus_per_rack: int | None, loop: str | None
    ) -> list[_RackDraft]:
        r = self.r
        seq: YList = m["racks"]
        out = []
        for i, item in enumerate(seq):
            line = seq.line_of(i)
            if isinstance(item, str | int) and not isinstance(item, bool):
                item = YMap({"id": item})
                item.line, item.lines = line, {"id": line}
            rm = r.mapping(item, f"rows.{row_id}.racks[{i + 1}]", line)
            if rm is None:
                continue
            r.only(rm, _RACK_KEYS, f"rows.{row_id}.racks")
            rack_id = r.get(rm, "id", _ident, f"rows.{row_id}.racks")
            where = f"rows.{row_id}.racks.{rack_id}"
            if "gpu" in rm:
                gpu = self.gpu(rm["gpu"], rm.line_of("gpu"), f"{where}.gpu")
            else:
                gpu = row_gpu
                if "gpu" not in m:
                    self.error(rm.line, f"{where}: no GPU SKU (give gpu: on the rack or its row)")
            gpus = r.get(rm, "gpus", positive_int, where, default=None)
            if gpu is not None and gpus is not None and gpus % gpu.gpus_per_node:
                self.error(
                    rm.line_of("gpus"),
                    f"{where}.gpus: {gpus} is not a whole number of {gpu.id} nodes ({gpu.gpus_per_node} GPUs each)",
                )
            rack_loop = loop
            if "cooling" in rm:
                rack_loop = str(rm["cooling"])
                if rack_loop not in self.loops:
                    self.error(
                        rm.line_of("cooling"), f"{where}.cooling: {self.unknown_loop(rack_loop)}"
                    )
                    rack_loop = None
            if (
                rack_id is None
                or gpu is None
                or not self.register(rack_id, "rack", rm.line_of("id"))
            ):
                continue
            n = gpus or (gpus_per_rack if "gpu" not in rm and gpus_per_rack else gpu.gpus_per_rack)
            out.append(
                _RackDraft(
                    rack_id,
                    row_id,
                    len(out) + 1,
                    gpu.id,
                    n,
                    rm.line,
                    [rack_loop] if rack_loop else [],
                )
            )
        return out

    def make_pdus(
        self,
        row_id: str,
        racks: list[_RackDraft],
        n: int,
        feed: str,
        b_feed: str | None,
        capacity_kw: float | None,
        m: YMap,
    ) -> None:
        if n > len(racks):
            self.error(
                m.line_of("pdus"),
                f"rows.{row_id}.pdus: {n} PDUs for {len(racks)} racks; at most one PDU per rack and side",
            )
            return
        sides = [("a", feed), ("b", b_feed)] if b_feed else [("", feed)]
        ids = [f"{row_id}-pdu-{side}{j + 1}" for side, _ in sides for j in range(n)]
        if not self.register_many(ids, "PDU", m.line_of("pdus"), f"row {row_id!r}"):
            return
        for side, side_feed in sides:
            for j in range(n):
                share = [rk for k, rk in enumerate(racks) if k * n // len(racks) == j]
                cap = capacity_kw
                if cap is None:
                    peak = sum(rack_peak_kw(self.catalog.gpus[rk.gpu], rk.gpus) for rk in share)
                    cap = math.ceil(peak * PDU_HEADROOM / PDU_ROUNDING_KW) * PDU_ROUNDING_KW
                pdu = _PduDraft(
                    f"{row_id}-pdu-{side}{j + 1}",
                    side_feed or "",
                    cap,
                    m.line_of("pdus"),
                    [rk.id for rk in share],
                )
                self.pdus[pdu.id] = pdu
                for rk in share:
                    rk.pdus.append(pdu.id)

    def connect(self) -> None:
        """Attach racks named by PDUs and loops; check every rack is fed and cooled."""
        for pdu, refs in self.pdu_refs:
            for rack_id in self.expand(refs, f"power.pdus.{pdu.id}.racks"):
                pdu.racks.append(rack_id)
                self.racks[rack_id].pdus.append(pdu.id)
        for loop, refs in self.loop_refs:
            for rack_id in self.expand(refs, f"cooling.{loop}.racks"):
                self.racks[rack_id].cooling.append(loop)
        unfed: dict[int, list[str]] = {}
        uncooled: dict[int, list[str]] = {}
        for rack in self.racks.values():
            if not rack.pdus:
                unfed.setdefault(rack.line, []).append(rack.id)
            elif len(rack.pdus) > 2:
                self.error(
                    rack.line,
                    f"rack {rack.id!r} is fed by {len(rack.pdus)} PDUs ({', '.join(rack.pdus)}); at most 2 (A and B)",
                )
            elif len(rack.pdus) == 2:
                a, b = (self.pdus[p].feed for p in rack.pdus)
                if a == b and a:
                    self.error(
                        rack.line,
                        f"rack {rack.id!r}: its PDUs {rack.pdus[0]!r} and {rack.pdus[1]!r} are both on feed {a!r}; A/B feeding needs two feeds",
                    )
            if not rack.cooling:
                uncooled.setdefault(rack.line, []).append(rack.id)
            elif len(rack.cooling) > 1:
                self.error(
                    rack.line,
                    f"rack {rack.id!r} is on {len(rack.cooling)} cooling loops ({', '.join(rack.cooling)}); a rack is on one",
                )
        for line, ids in unfed.items():
            self.error(
                line,
                f"{self.some_racks(ids)} fed by no PDU (give the row pdus: N and feed:, or list it in a PDU's racks)",
            )
        for line, ids in uncooled.items():
            self.error(
                line,
                f"{self.some_racks(ids)} on no cooling loop (give the row cooling: LOOP, or list it in a loop's racks)",
            )

    @staticmethod
    def some_racks(ids: list[str]) -> str:
        if len(ids) == 1:
            return f"rack {ids[0]!r} is"
        return f"racks {ids[0]!r} … {ids[-1]!r} ({len(ids)} racks) are"

    def fabric(self, top: YMap) -> Fabric:
        r = self.r
        m = r.mapping(top["fabric"], "fabric", top.line_of("fabric")) if "fabric" in top else None
        if m is None:
            return Fabric((), (), 0.0, True)
        r.only(m, _FABRIC_KEYS, "fabric")
        spines_n = r.get(m, "spines", positive_int, "fabric")
        uplink = r.get(m, "uplink", _bandwidth_gb_s, "fabric", default=None)
        over = r.get(m, "oversubscription", positive, "fabric", default=1.0)
        if "uplink" in m and "oversubscription" in m:
            self.error(
                m.line_of("oversubscription"), "fabric: give uplink or oversubscription, not both"
            )
        frontend = r.get(m, "frontend", _bandwidth_gb_s, "fabric")
        rail = r.get(m, "rail_optimised", boolean, "fabric", default=True)
        per_leaf = r.get(
            m, "racks_per_leaf", positive_int, "fabric", default=DEFAULT_RACKS_PER_LEAF
        )
        if spines_n is None or frontend is None:
            return Fabric((), (), 0.0, bool(rail))
        n_leaves = sum(
            -(-len(row.racks) // (row.racks_per_leaf or per_leaf)) for row in self.rows.values()
        )
        if n_leaves * spines_n > MAX_LINKS:
            self.error(
                m.line_of("spines"),
                f"fabric.spines: {n_leaves:,} leaves × {spines_n:,} spines is more than {MAX_LINKS:,} links",
            )
            return Fabric((), (), 0.0, bool(rail))
        leaves: list[Switch] = []
        for row in self.rows.values():
            step = row.racks_per_leaf or per_leaf
            for k in range(0, len(row.racks), step):
                leaf = Switch(
                    f"leaf-{len(leaves) + 1}",
                    "leaf",
                    tuple(rk.id for rk in row.racks[k : k + step]),
                )
                leaves.append(leaf)
                for rk in row.racks[k : k + step]:
                    rk.leaf = leaf.id
        spines = [Switch(f"spine-{s + 1}", "spine", ()) for s in range(spines_n)]
        links = []
        for leaf in leaves:
            gb_s = uplink
            if gb_s is None:  # non-blocking, divided by the oversubscription ratio
                down = sum(
                    self.racks[rk].gpus * self.catalog.gpus[self.racks[rk].gpu].scale_out_gb_s
                    for rk in leaf.racks
                )
                gb_s = down / spines_n / over
            links.extend(Link(f"link-{leaf.id}-{sp.id}", leaf.id, sp.id, gb_s) for sp in spines)
        fabric_line = m.line
        self.register_many([s.id for s in leaves + spines], "switch", fabric_line, "fabric")
        self.register_many([lk.id for lk in links], "link", fabric_line, "fabric")
        return Fabric(tuple(leaves + spines), tuple(links), frontend, bool(rail))

    def deployments(self, top: YMap) -> list[Deployment]:
        r = self.r
        out = []
        for m in self.items(top, "deployments", "deployments"):
            r.only(m, _DEPLOYMENT_KEYS, "deployments")
            did = r.get(m, "id", _ident, "deployments")
            where = f"deployments.{did}"
            start = len(r.problems)
            model_id = r.get(m, "model", text, where)
            model = None
            if model_id is not None:
                model = self.catalog.models.get(model_id.lower())
                if model is None:
                    self.error(
                        m.line_of("model"),
                        f"{where}.model: {UnknownName('model', model_id, self.catalog.models)}",
                    )
            precision = r.get(m, "precision", text, where)
            if precision is not None and precision.lower() not in PRECISION_BYTES:
                self.error(
                    m.line_of("precision"),
                    f"{where}.precision: unknown precision {precision!r}; known: {', '.join(PRECISION_BYTES)}",
                )
                precision = None
            precision = precision.lower() if precision else None
            gpr = r.get(m, "gpus_per_replica", _count_or_auto, where, default=None)
            replicas = r.get(m, "replicas", _count_or_auto, where, default=None)
            disagg = r.get(m, "disaggregated", boolean, where, default=False)
            share = r.get(m, "prefill_share", _fraction_open, where, default=None)
            if share is not None and not disagg:
                self.error(
                    m.line_of("prefill_share"),
                    f"{where}.prefill_share: only with disaggregated: true",
                )
            if "placement" not in m:
                self.error(
                    m.line,
                    f"{where}: missing required key 'placement' (the rows or racks it runs on)",
                )
            refs = self.refs(m, "placement", where)
            if refs is not None and not refs:
                self.error(m.line_of("placement"), f"{where}.placement: names no racks or rows")
            racks = self.expand(refs, f"{where}.placement")
            if did is not None and not self.register(did, "deployment", m.line_of("id")):
                continue
            if len(r.problems) > start or did is None or model is None or precision is None:
                continue
            if racks:  # empty only when its rows were already reported
                self.check_deployment(m, where, racks, model, precision, gpr, replicas, disagg)
            out.append(
                Deployment(
                    did,
                    model.id,
                    precision,
                    gpr,
                    replicas,
                    tuple(racks),
                    disagg,
                    (share or DEFAULT_PREFILL_SHARE) if disagg else 0.0,
                    tuple(str(ref) for ref in refs or ()),
                )
            )
        return out

    def check_deployment(
        self,
        m: YMap,
        where: str,
        racks: list[str],
        model: Any,
        precision: str,
        gpr: int | None,
        replicas: int | None,
        disagg: bool,
    ) -> None:
        skus = dict.fromkeys(self.racks[rk].gpu for rk in racks)
        cannot = [s for s in skus if precision not in self.catalog.gpus[s].precisions]
        if cannot:
            can = ", ".join(self.catalog.gpus[cannot[0]].precisions)
            self.error(
                m.line_of("precision"),
                f"{where}.precision: {', '.join(cannot)} cannot run {precision} (it does {can})",
            )
        available = sum(self.racks[rk].gpus for rk in racks)
        if gpr is not None and replicas is not None and gpr * replicas > available:
            self.error(
                m.line_of("replicas"),
                f"{where}: {replicas} replicas × {gpr} GPUs = {gpr * replicas:,} GPUs, but its racks have {available:,}",
            )
        elif gpr is not None and gpr > available:
            self.error(
                m.line_of("gpus_per_replica"),
                f"{where}.gpus_per_replica: {gpr} GPUs, but its racks have {available:,}",
            )
        if disagg and replicas is not None and replicas < 2:
            self.error(
                m.line_of("replicas"),
                f"{where}.replicas: a disaggregated deployment needs at least 2 (prefill and decode)",
            )
        if gpr is not None and skus:
            weights_gb = model.params_b * PRECISION_BYTES[precision]
            smallest = min(skus, key=lambda s: self.catalog.gpus[s].hbm_gb)
            hbm_gb = self.catalog.gpus[smallest].hbm_gb * gpr
            if weights_gb > hbm_gb:
                self.error(
                    m.line_of("gpus_per_replica"),
                    f"{where}.gpus_per_replica: {model.id} in {precision} has {weights_gb:,.0f} GB of weights, more than {gpr} × {smallest} hold ({hbm_gb:,.0f} GB)",
                )

    def workloads(self, top: YMap, deployments: list[Deployment]) -> list[WorkloadClass]:
        r = self.r
        out = []
        for m in self.items(top, "workloads", "workloads"):
            r.only(m, _WORKLOAD_KEYS, "workloads")
            wid = r.get(m, "id", _ident, "workloads")
            where = f"workloads.{wid}"
            start = len(r.problems)
            dep = r.get(m, "deployment", _ident, where)
            if dep is not None and self.ids.get(dep, ("",))[0] != "deployment":
                known = [k for k, (kind, _) in self.ids.items() if kind == "deployment"]
                self.error(
                    m.line_of("deployment"),
                    f"{where}.deployment: {UnknownName('deployment', dep, known)}",
                )
            if "rate" in m and "rate_rps" in m:
                self.error(m.line_of("rate_rps"), f"{where}: give rate or rate_rps, not both")
            if "rate" in m or "rate_rps" not in m:
                rate = r.get(m, "rate", _rate_rps, where)
            else:
                rate = r.get(m, "rate_rps", positive, where)
            diurnal = self.diurnal(m, where)
            burst = r.get(m, "burstiness", positive, where, default=1.0)
            isl = self.length(m, "isl", where)
            osl = self.length(m, "osl", where)
            ttft = tpot = None
            if "slo" not in m:
                self.error(
                    m.line,
                    f"{where}: missing required key 'slo' (e.g. slo: {{ttft: 2s, tpot: 50ms}})",
                )
            else:
                sm = r.mapping(m["slo"], f"{where}.slo", m.line_of("slo"))
                if sm is not None:
                    r.only(sm, _SLO_KEYS, f"{where}.slo")
                    ttft = r.get(sm, "ttft", _positive_duration_s, f"{where}.slo")
                    tpot = r.get(sm, "tpot", _positive_duration_s, f"{where}.slo")
            agentic = None
            if "agentic" in m:
                am = r.mapping(m["agentic"], f"{where}.agentic", m.line_of("agentic"))
                if am is not None:
                    r.only(am, _AGENTIC_KEYS, f"{where}.agentic")
                    steps = r.get(am, "steps", positive, f"{where}.agentic")
                    if steps is not None and steps < 1:
                        self.error(
                            am.line_of("steps"),
                            f"{where}.agentic.steps: a session has at least 1 step, got {steps:g}",
                        )
                    agentic = Agentic(
                        steps or 1.0,
                        r.get(am, "tool_pause", _duration_s, f"{where}.agentic") or 0.0,
                        r.get(am, "context_growth", _tokens, f"{where}.agentic") or 0,
                    )
            if wid is not None and not self.register(wid, "workload class", m.line_of("id")):
                continue
            if len(r.problems) > start or wid is None:
                continue
            out.append(WorkloadClass(wid, dep, rate, diurnal, burst, isl, osl, ttft, tpot, agentic))
        return out

    def diurnal(self, m: YMap, where: str) -> tuple[tuple[float, float], ...]:
        if "diurnal" not in m or m["diurnal"] is None:
            return ()
        r = self.r
        value = m["diurnal"]
        where = f"{where}.diurnal"
        pairs: list[tuple[Any, Any, int]] = []
        if isinstance(value, YMap):
            pairs = [(k, v, value.line_of(k)) for k, v in value.items()]
        elif isinstance(value, YList):
            for i, item in enumerate(value):
                if isinstance(item, list) and len(item) == 2:
                    pairs.append((item[0], item[1], value.line_of(i)))
                else:
                    self.error(value.line_of(i), f"{where}: expected [hour, factor], got {item!r}")
        else:
            self.error(
                m.line_of("diurnal"),
                f"{where}: expected hour: factor pairs like {{0: 0.4, 12: 1.0}}, got {value!r}",
            )
        out: dict[float, float] = {}
        for hour, factor, line in pairs:
            try:
                h = _hour(hour)
                f = non_negative(factor)
            except ValueError as e:
                self.error(line, f"{where}: {e}")
                continue
            if h in out:
                self.error(line, f"{where}: hour {hour!r} given twice")
            out[h] = f
        if pairs and not any(out.values()) and out:
            r.error(
                m.line_of("diurnal"), f"{where}: every factor is 0; the class would send nothing"
            )
        return tuple(sorted(out.items()))

    def length(self, m: YMap, key: str, where: str) -> LengthDist | None:
        where = f"{where}.{key}"
        if key not in m:
            self.error(
                m.line,
                f"{where.rsplit('.', 1)[0]}: missing required key {key!r} (token lengths, e.g. {key}: 1k)",
            )
            return None
        value = m[key]
        r = self.r
        if not isinstance(value, dict):
            try:
                return LengthDist(float(_positive_tokens(value)))
            except ValueError as e:
                self.error(m.line_of(key), f"{where}: {e}")
                return None
        r.only(value, _LENGTH_KEYS, where)
        start = len(r.problems)
        kind = value.get("dist")
        if kind is None:
            kind = (
                "lognormal"
                if "sigma" in value
                else "uniform"
                if "mean" not in value and "max" in value
                else "fixed"
            )
        elif kind not in LENGTH_KINDS:
            self.error(
                value.line_of("dist"),
                f"{where}.dist: unknown distribution {kind!r}; known: {', '.join(LENGTH_KINDS)}",
            )
            return None
        lo = r.get(value, "min", _tokens, where, default=0)
        hi = r.get(value, "max", _tokens, where, default=0)
        sigma = r.get(value, "sigma", positive, where, default=None) if kind == "lognormal" else 0.0
        if kind == "lognormal" and sigma is None and "sigma" not in value:
            self.error(value.line, f"{where}: a lognormal length needs sigma (e.g. sigma: 0.6)")
        if kind != "lognormal" and "sigma" in value:
            self.error(value.line_of("sigma"), f"{where}.sigma: only for dist: lognormal")
        if kind == "uniform":
            if "max" not in value:
                self.error(value.line, f"{where}: a uniform length needs min and max")
            mean = r.get(value, "mean", _positive_tokens, where, default=(lo + hi) / 2)
        else:
            mean = r.get(value, "mean", _positive_tokens, where)
        if len(r.problems) > start or mean is None:
            return None
        if hi and lo > hi:
            self.error(value.line_of("min"), f"{where}: min {lo} is above max {hi}")
        elif mean < lo or (hi and mean > hi):
            self.error(
                value.line_of("mean") if "mean" in value else value.line,
                f"{where}: mean {mean:g} is outside min..max ({lo}..{hi or '∞'})",
            )
        return LengthDist(float(mean), kind, float(sigma or 0.0), lo, hi)

    def assemble(
        self,
        name: str,
        description: str,
        site: Site,
        fabric: Fabric,
        deployments: list[Deployment],
        workloads: list[WorkloadClass],
        routing: str,
        tick_s: float | None,
        seed: int,
    ) -> Layout:
        racks = tuple(
            Rack(d.id, d.row, d.index, d.gpu, d.gpus, tuple(d.pdus), d.cooling[0], d.leaf)
            for row in self.rows.values()
            for d in row.racks
        )
        rows = tuple(
            Row(
                row.id,
                tuple(d.id for d in row.racks),
                row.racks[0].gpu if len({d.gpu for d in row.racks}) == 1 else None,
            )
            for row in self.rows.values()
            if row.racks
        )
        rack_order = {rk.id: i for i, rk in enumerate(racks)}
        loops = tuple(
            CoolingLoop(
                lid,
                cap,
                tuple(
                    sorted((rk.id for rk in racks if rk.cooling == lid), key=rack_order.__getitem__)
                ),
            )
            for lid, (cap, _) in self.loops.items()
        )
        pdus = tuple(PDU(p.id, p.feed, p.capacity_kw, tuple(p.racks)) for p in self.pdus.values())
        groups = tuple(RowGroup(g, tuple(rows_)) for g, rows_ in self.groups.items())
        return Layout(
            name=name,
            description=description,
            file=self.file,
            site=site,
            feeds=tuple(self.feeds.values()),
            pdus=pdus,
            cooling=loops,
            rows=rows,
            racks=racks,
            fabric=fabric,
            deployments=tuple(deployments),
            workloads=tuple(workloads),
            routing=routing,
            tick_s=tick_s,
            seed=seed,
            groups=groups,
        )


def summary_line(layout: Layout, catalog: Catalog) -> str:
    """One line saying what a layout holds, for ``twin check`` and logs."""
    facility_mw = layout.peak_it_kw(catalog) * layout.site.pue / 1000
    return (
        f"{layout.name}: {_plural(len(layout.racks), 'rack')} in {_plural(len(layout.rows), 'row')}, "
        f"{layout.gpus_total:,} GPUs ({', '.join(layout.gpu_skus)}), "
        f"{_plural(len(layout.deployments), 'deployment')}, {_plural(len(layout.workloads), 'workload class')}, "
        f"{layout.site.envelope_kw / 1000:,.1f} MW envelope (peak {facility_mw:,.1f} MW at PUE {layout.site.pue:g})"
    )
