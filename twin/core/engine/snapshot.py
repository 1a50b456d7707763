"""What front ends see of the engine: frozen values, built once per frame.

A snapshot never shares mutable state with the engine: per-rack detail travels as
read-only numpy arrays (cheap for a 1,000-rack factory), everything else as small frozen
dataclasses and tuples.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

#: Gauge keys, in display order; the same names as the JSON report's `summary`.
GAUGE_KEYS = (
    "output_tok_s",
    "total_tok_s",
    "goodput_tok_s",
    "tok_per_joule",
    "tok_s_per_mw",
    "usd_per_mtok",
    "usd_per_mtok_capital",
    "usd_per_mtok_energy",
    "ttft_p50_s",
    "ttft_p95_s",
    "ttft_p99_s",
    "tpot_p50_s",
    "tpot_p95_s",
    "tpot_p99_s",
    "slo_attainment",
    "queue_depth",
    "utilisation",
    "it_power_kw",
    "facility_power_kw",
    "envelope_kw",
    "shed_rps",
    "failed_rps",
)

# Rack states, in order of precedence when several apply.
RACK_OK, RACK_DRAINED, RACK_THROTTLED, RACK_DEGRADED, RACK_SWAPPING, RACK_DOWN = range(6)
RACK_STATE_NAMES = ("ok", "drained", "throttled", "degraded", "swapping", "down")


@dataclass(frozen=True)
class Event:
    id: int
    t_s: float
    severity: str  # "info" | "warning" | "critical"
    source: str  # the component or subsystem it concerns
    message: str


@dataclass(frozen=True)
class Racks:
    """Per-rack detail as read-only arrays, in layout order (``ids[i]`` is rack i)."""

    ids: tuple[str, ...]
    rows: tuple[str, ...]
    gpu: tuple[str, ...]  # current SKU (changes after a swap)
    state: np.ndarray  # uint8, RACK_* codes
    utilisation: np.ndarray  # output over capacity at the SLO pace: 1 = at the knee; above 1 under overload
    power_kw: np.ndarray
    temp_c: np.ndarray  # hottest GPU
    clock: np.ndarray  # 1 = full clocks; < 1 capped or throttled
    replicas: np.ndarray | None = None  # replicas whose first GPU is in the rack
    replicas_up: np.ndarray | None = None


@dataclass(frozen=True)
class Power:
    id: str
    kind: str  # "feed" | "pdu"
    load_kw: float
    capacity_kw: float
    cap_kw: float | None
    state: str  # "ok" | "failed" | "unpowered" | "overloaded"
    feeds: str  # the feed of a PDU; "" for a feed


@dataclass(frozen=True)
class Loop:
    id: str
    load_kw: float
    capacity_kw: float
    state: str  # "ok" | "failed" | "overloaded"
    racks: int
    hottest_c: float


@dataclass(frozen=True)
class Switch:
    id: str
    tier: str
    state: str  # "ok" | "failed"
    racks: int
    links: int = 0  # leaf-spine links on this switch
    links_down: int = 0  # of which down (failed link, or the switch at the other end failed)
    links_degraded: int = 0


@dataclass(frozen=True)
class Link:
    id: str
    a: str
    b: str
    gb_s: float
    capacity_fraction: float  # 0 down, (0,1) degraded, 1 ok
    load: float  # offered traffic over capacity (KV transfers)


@dataclass(frozen=True)
class Deployment:
    id: str
    model: str
    precision: str
    gpus_per_replica: int
    replicas: int
    replicas_up: int
    prefill_replicas: int  # > 0 when disaggregated
    queue: float
    running: float
    batch_mean: float
    output_tok_s: float
    ttft_p95_s: float
    tpot_p95_s: float


@dataclass(frozen=True)
class WorkloadClass:
    id: str
    deployment: str
    rate_rps: float
    ttft_p95_s: float
    tpot_p95_s: float
    slo_ttft_s: float
    slo_tpot_s: float
    slo_attainment: float
    shed_rps: float


@dataclass(frozen=True)
class Snapshot:
    t_s: float
    layout: str
    routing: str
    faults_enabled: bool
    gauges: Mapping[str, float]
    history: Mapping[str, np.ndarray]  # gauge key -> recent values (oldest first), and "t_s"
    racks: Racks
    power: tuple[Power, ...]
    loops: tuple[Loop, ...]
    switches: tuple[Switch, ...]
    links: tuple[Link, ...]  # only links that are not fully ok, plus the busiest few
    deployments: tuple[Deployment, ...]
    classes: tuple[WorkloadClass, ...]
    events: tuple[Event, ...]  # the most recent, oldest first
    active_faults: tuple[tuple[str, str, float], ...]  # (component, kind, repair at t_s or inf)
    surge: float
    site_cap_kw: float | None
