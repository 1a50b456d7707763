"""One registry of the factory's metrics: what each is called, in which unit, how it is computed.

Every figure the program shows about a factory as a whole is one ``Metric`` here: its name
(the key of ``Snapshot.gauges``, of the report's ``summary`` and ``series``, of a
scenario's ``expect:`` conditions and of a sweep's ``keep:``), its label and unit, how a
screen or a report prints it, which way is better, its formula, how it aggregates over a
run, and whether the control room shows it as a gauge. The engine, the run report, the
scenario parser, the Markdown report, ``twin run``/``compare``/``sweep`` and the TUI all
read it; none of them names a metric's label, unit or formula again.

One formula serves a tick and a run. It reads ``Quantities``: rates (tokens/s, kW, $/s)
and request counts and latency histograms over a span. The engine fills them from the last
tick (and its 60 s windows) for the gauges, and from its whole-run accumulators for the
report's summary — so a gauge and its run aggregate cannot drift apart.

Adding a metric is one ``register(Metric(...))`` (and, when its formula needs a quantity
the engine does not yet meter, that quantity in ``engine/metrics.py``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np

# how a metric aggregates over a run (the report's ``summary``)
RUN = "run"  # the same formula over the whole run's totals (not a mean of gauges)
LIVE = "live"  # an instant's state (queue, utilisation, envelope): no run aggregate
TOTAL = "total"  # only a whole-run total (requests, energy, cost): no gauge
FACTORY = "factory"  # read from the factory by the scenario player (faults, events, clock)
AGGREGATES = (RUN, LIVE, TOTAL, FACTORY)

# what a stored value measures, and so how a file writes it and a text shows it (a
# scenario condition's ``30MW``, ``500ms``, ``99%``; `units.format_metric`)
DURATION = "duration"  # seconds: a latency (shown in ms or s)
TIME = "time"  # seconds on the run's clock (shown as 1m15s)
POWER = "power"  # kW (shown in kW or MW)
SHARE = "share"  # 0–1 (shown and written as %)
TEMPERATURE = "temperature"  # °C
TOKEN_RATE = "token rate"  # tokens/s
REQUEST_RATE = "request rate"  # requests/s
USD = "usd"  # dollars
USD_PER_MTOK = "usd per mtok"  # dollars per million tokens
STATE = "state"  # a word: a component's state
NUMBER = "number"  # anything else: a plain number
#: The quantity of a metric whose `Metric.quantity` is not given, by (shown unit, scale).
_BY_UNIT = {
    ("s", 1.0): DURATION,
    ("ms", 1e3): DURATION,
    ("kW", 1.0): POWER,
    ("MW", 1e-3): POWER,
    ("%", 100.0): SHARE,
    ("°C", 1.0): TEMPERATURE,
    ("tok/s", 1.0): TOKEN_RATE,
    ("req/s", 1.0): REQUEST_RATE,
    ("$", 1.0): USD,
    ("$/Mtok", 1.0): USD_PER_MTOK,
}


class Quantities:
    """What formulas read over a span (a tick with its 60 s windows, or a whole run).

    ``rates`` holds per-second figures (``output_tok_s``, ``prefill_tok_s``, ``it_kw``,
    ``facility_kw``, ``capital_usd_s``, ``energy_usd_s``) and whatever else the engine
    meters (``queue_depth`` …); ``counts`` the request counts (``admitted``, ``met``,
    ``shed``, ``failed``, ``abandoned``, ``requests``); ``hists`` the latency histograms
    (``ttft``, ``tpot``) whose percentiles are computed once and shared."""

    def __init__(
        self,
        rates: Mapping[str, float],
        counts: Mapping[str, float],
        hists: Mapping[str, np.ndarray],
        seconds: float,
        percentiles: Callable[[np.ndarray, tuple[float, ...]], list[float]],
    ):
        self.rates, self.counts, self.hists, self.seconds = rates, counts, hists, seconds
        self._percentiles = percentiles
        self._pct: dict[str, list[float]] = {}

    def __getitem__(self, key: str) -> float:
        return self.rates[key]

    def percentile(self, hist: str, q: float) -> float:
        if hist not in self._pct:
            self._pct[hist] = self._percentiles(self.hists[hist], PERCENTILES)
        return self._pct[hist][PERCENTILES.index(q)]


PERCENTILES = (0.5, 0.95, 0.99)


@dataclass(frozen=True)
class Gauge:
    """How the control room's gauge strip shows a metric."""

    title: str  # the gauge's title: "tokens/s per MW"
    short: str  # the title in a narrow gauge, and the glossary's label: "tok/s/MW"
    help: str  # plain words for ``?`` and a click on the gauge: what, in which unit, of what


@dataclass(frozen=True)
class Metric:
    name: str  # carries its unit: ``ttft_p95_s``, ``facility_power_kw``
    label: str  # in tables and reports: "time to first token p95"
    unit: str = ""  # of the shown figure (after ``scale``): "ms", "MW", "%", "$/Mtok"
    scale: float = 1.0  # the value times this is the shown figure (s → ms: 1e3)
    fmt: str = "{:,.0f}"  # the shown figure's format
    better: str = ""  # "higher" | "lower" | "" (neither: a state, a limit)
    formula: Callable[[Quantities], float] | None = None
    aggregate: str = RUN  # RUN | LIVE | TOTAL | FACTORY (see above)
    headline: bool = False  # a key figure: `twin run`'s summary, the Markdown, compare, sweep
    detail: bool = False  # in the Markdown's key figures under the headline (a breakdown)
    series: bool = False  # sampled over time into the report's ``series``
    gauge: Gauge | None = None  # shown in the control room's gauge strip (in registry order)
    quantity: str = ""  # what the stored value measures (DURATION …); "": by unit and scale

    def __post_init__(self) -> None:
        if self.aggregate not in AGGREGATES:
            raise ValueError(f"metric {self.name}: aggregate {self.aggregate!r}")
        if self.better not in ("higher", "lower", ""):
            raise ValueError(f"metric {self.name}: better {self.better!r}")
        if (self.formula is None) != (self.aggregate == FACTORY):
            raise ValueError(f"metric {self.name}: a formula unless read from the factory")
        if not self.quantity:
            q = _BY_UNIT.get((self.unit, self.scale), NUMBER)
            object.__setattr__(self, "quantity", q)

    @property
    def live(self) -> bool:
        """A gauge each tick: in ``Snapshot.gauges`` and its history, and in conditions."""
        return self.aggregate in (RUN, LIVE)

    @property
    def run(self) -> bool:
        """In the report's ``summary`` (a whole-run figure)."""
        return self.aggregate in (RUN, TOTAL)

    @property
    def heading(self) -> str:
        """The label with its unit, for a table column: "time to first token p95 (ms)"."""
        return f"{self.label} ({self.unit})" if self.unit else self.label

    def figure(self, value: float | None) -> str:
        """The shown number (scaled and formatted, no unit); '—' when there is none."""
        if value is None or not math.isfinite(value):
            return "—"
        return self.fmt.format(value * self.scale)

    def show(self, value: float | None) -> str:
        """The number with its unit: '16.8 ms', '31.2 MW', '99.1 %'."""
        fig = self.figure(value)
        if fig == "—" or not self.unit:
            return fig
        if self.unit.startswith("$"):
            return f"${fig}{self.unit[1:]}"
        return f"{fig} {self.unit}"


_REGISTRY: dict[str, Metric] = {}


def register(metric: Metric) -> Metric:
    """Add a metric (a new name, or replacing one of the same name in place)."""
    _REGISTRY[metric.name] = metric
    return metric


def unregister(name: str) -> None:
    """Take a metric out again (tests that register one)."""
    _REGISTRY.pop(name, None)


def get(name: str) -> Metric | None:
    return _REGISTRY.get(name)


def metrics() -> Iterator[Metric]:
    """Every metric, in display order."""
    return iter(tuple(_REGISTRY.values()))


def gauge_keys() -> tuple[str, ...]:
    """The engine's per-tick gauges (``Snapshot.gauges``), in display order."""
    return tuple(m.name for m in metrics() if m.live)


def summary_keys() -> tuple[str, ...]:
    """The report's run aggregates (``summary``), in display order."""
    return tuple(m.name for m in metrics() if m.run)


def headline() -> tuple[Metric, ...]:
    return tuple(m for m in metrics() if m.headline)


def series_keys() -> tuple[str, ...]:
    """The gauges sampled over time into the report's ``series`` (with ``t_s``)."""
    return tuple(m.name for m in metrics() if m.series and m.live)


def condition_keys() -> tuple[str, ...]:
    """The metrics a scenario condition (``expect:``, ``abort_if:``, ``when``) may read."""
    return tuple(m.name for m in metrics() if m.live or m.aggregate == FACTORY)


def gauges() -> tuple[Metric, ...]:
    """The metrics of the control room's gauge strip, in order."""
    return tuple(m for m in metrics() if m.gauge is not None)


#: Fields of components that scenario conditions read (``rack r07 temp_c > 35``; which kind
#: has which: ``scenario.model.COMPONENT_FIELDS``) and what each measures, where the field
#: is not also a factory metric of the same name and unit (``class chat ttft_p95_s``).
FIELDS = {
    "temp_c": TEMPERATURE,
    "hottest_c": TEMPERATURE,
    "power_kw": POWER,
    "load_kw": POWER,
    "capacity_kw": POWER,
    "clock": NUMBER,  # 1 = full clocks
    "state": STATE,
    "replicas_up": NUMBER,
    "queue": NUMBER,
    "running": NUMBER,
    "rate_rps": REQUEST_RATE,
}


def quantity(name: str) -> str:
    """What a metric's or a component field's value measures (``NUMBER`` if unknown)."""
    m = _REGISTRY.get(name)
    return m.quantity if m is not None else FIELDS.get(name, NUMBER)


def better(name: str) -> str:
    m = _REGISTRY.get(name)
    return m.better if m else ""


def compute(q: Quantities, live: bool) -> dict[str, float]:
    """Every metric's value over ``q``: the gauges (``live``) or the run's summary."""
    return {
        m.name: m.formula(q)
        for m in metrics()
        if m.formula is not None and (m.live if live else m.run)
    }


# ---------------------------------------------------------------------------------------
# formulas


def _per(num: float, den: float, scale: float = 1.0, none: float = 0.0) -> float:
    return num / den * scale if den > 0 else none


def _usd_per_mtok(*parts: str) -> Callable[[Quantities], float]:
    return lambda q: _per(sum(q[p] for p in parts), q["output_tok_s"], 1e6, math.inf)


def _pct(hist: str, p: float) -> Callable[[Quantities], float]:
    return lambda q: q.percentile(hist, p)


def _attainment(q: Quantities) -> float:
    c = q.counts
    denom = c["admitted"] + c["shed"] + c["failed"] + c["abandoned"]
    # a share: the windows' running sums can leave ``met`` a rounding above ``admitted``
    return min(1.0, max(0.0, float(c["met"] / denom))) if denom > 0 else 1.0


def _rate(key: str) -> Callable[[Quantities], float]:
    return lambda q: q[key]


def _count(key: str) -> Callable[[Quantities], float]:
    return lambda q: float(q.counts[key])


_LATENCY = {
    "ttft": (
        "time to first token",
        "TTFT",
        "time to first token, 95th percentile over the last 60 s, ms or s; the note: the "
        "worst request class as a share of its own TTFT SLO (100% = at its limit)",
    ),
    "tpot": (
        "time per output token",
        "TPOT",
        "time per output token after the first, 95th percentile over the last 60 s of "
        "requests (each request's mean TPOT counted once), ms; the note: the worst class "
        "as a share of its TPOT SLO",
    ),
}


def _latencies() -> Iterator[Metric]:
    for hist, (label, short, words) in _LATENCY.items():
        for p in PERCENTILES:
            n = round(p * 100)
            yield Metric(
                f"{hist}_p{n}_s",
                f"{label} p{n}",
                "s" if hist == "ttft" else "ms",
                1.0 if hist == "ttft" else 1e3,
                "{:.3f}" if hist == "ttft" else "{:.1f}",
                "lower",
                _pct(hist, p),
                headline=n == 95,
                series=n != 50,
                gauge=Gauge(f"{short} p95", f"{short} p95", words) if n == 95 else None,
            )


_BUILTIN = (
    Metric(
        "output_tok_s",
        "output throughput",
        "tok/s",
        fmt="{:,.0f}",
        better="higher",
        formula=_rate("output_tok_s"),
        headline=True,
        series=True,
        gauge=Gauge(
            "output tokens/s",
            "out tok/s",
            "output tokens generated per second, whole factory (input tokens not counted); "
            "the note: goodput (tokens of requests that met their SLO), or requests shed "
            "(turned away at admission) and failed (lost to a fault) per second",
        ),
    ),
    Metric(
        "total_tok_s",
        "input and output throughput",
        "tok/s",
        better="higher",
        formula=lambda q: q["output_tok_s"] + q["prefill_tok_s"],
        series=True,
    ),
    Metric(
        "goodput_tok_s",
        "goodput (output of requests that met their SLO)",
        "tok/s",
        better="higher",
        formula=_rate("goodput_tok_s"),
        aggregate=LIVE,
        series=True,
    ),
    Metric(
        "tok_s_per_mw",
        "throughput per facility MW",
        "tok/s/MW",
        better="higher",
        formula=lambda q: _per(q["output_tok_s"], q["facility_kw"] / 1000.0),
        headline=True,
        series=True,
        gauge=Gauge(
            "tokens/s per MW",
            "tok/s/MW",
            "output tokens per second per megawatt of facility power (IT × PUE); "
            "the note: tokens per joule",
        ),
    ),
    Metric(
        "tok_per_joule",
        "energy efficiency",
        "tok/J",
        fmt="{:.3f}",
        better="higher",
        formula=lambda q: _per(q["output_tok_s"], q["facility_kw"] * 1000.0),
        headline=True,
        series=True,
    ),
    Metric(
        "usd_per_mtok",
        "cost of output",
        "$/Mtok",
        fmt="{:.3f}",
        better="lower",
        formula=_usd_per_mtok("capital_usd_s", "energy_usd_s"),
        headline=True,
        series=True,
        gauge=Gauge(
            "cost $/Mtok",
            "$/Mtok",
            "dollars per million output tokens: capital (GPUs over their life) + opex + "
            "energy; the note: the energy part",
        ),
    ),
    Metric(
        "usd_per_mtok_capital",
        "… of which capital and opex",
        "$/Mtok",
        fmt="{:.3f}",
        better="lower",
        formula=_usd_per_mtok("capital_usd_s"),
        detail=True,
        series=True,
    ),
    Metric(
        "usd_per_mtok_energy",
        "… of which energy",
        "$/Mtok",
        fmt="{:.3f}",
        better="lower",
        formula=_usd_per_mtok("energy_usd_s"),
        detail=True,
        series=True,
    ),
    *_latencies(),
    Metric(
        "slo_attainment",
        "SLO attainment",
        "%",
        100.0,
        "{:.2f}",
        "higher",
        _attainment,
        headline=True,
        series=True,
        gauge=Gauge(
            "SLO attainment",
            "SLO met",
            "share of requests over the last 60 s that met both their TTFT and TPOT SLOs, "
            "shed and failed requests counted as missed; goal ≥ 99%",
        ),
    ),
    Metric(
        "queue_depth",
        "requests queued",
        "requests",
        fmt="{:,.0f}",
        better="lower",
        formula=_rate("queue_depth"),
        aggregate=LIVE,
        series=True,
    ),
    Metric(
        "utilisation",
        "utilisation (output over capacity at the SLO pace)",
        "%",
        100.0,
        "{:.1f}",
        formula=_rate("utilisation"),
        aggregate=LIVE,
        series=True,
    ),
    Metric(
        "it_power_kw",
        "IT power",
        "MW",
        1e-3,
        "{:,.2f}",
        "lower",
        _rate("it_kw"),
        headline=True,
        series=True,
    ),
    Metric(
        "facility_power_kw",
        "facility power",
        "MW",
        1e-3,
        "{:,.2f}",
        "lower",
        _rate("facility_kw"),
        headline=True,
        series=True,
        gauge=Gauge(
            "facility power",
            "facility",
            "facility power in MW (IT power × PUE) against the site's utility envelope "
            "(or the :cap), and the share of it used",
        ),
    ),
    Metric(
        "envelope_kw",
        "power envelope (the site's, or the cap)",
        "MW",
        1e-3,
        "{:,.2f}",
        formula=_rate("envelope_kw"),
        aggregate=LIVE,
        series=True,
    ),
    Metric(
        "shed_rps",
        "requests shed (turned away at admission)",
        "req/s",
        fmt="{:,.2f}",
        better="lower",
        formula=_rate("shed_rps"),
        aggregate=LIVE,
        series=True,
    ),
    Metric(
        "failed_rps",
        "requests failed (lost to a fault)",
        "req/s",
        fmt="{:,.2f}",
        better="lower",
        formula=_rate("failed_rps"),
        aggregate=LIVE,
        series=True,
    ),
    Metric(
        "requests",
        "requests",
        "requests",
        better="higher",
        formula=_count("requests"),
        aggregate=TOTAL,
    ),
    Metric(
        "requests_shed",
        "requests shed",
        "requests",
        better="lower",
        formula=_count("shed"),
        aggregate=TOTAL,
    ),
    Metric(
        "requests_failed",
        "requests failed",
        "requests",
        better="lower",
        formula=_count("failed"),
        aggregate=TOTAL,
    ),
    Metric(
        "requests_abandoned",
        "requests abandoned (timed out)",
        "requests",
        better="lower",
        formula=_count("abandoned"),
        aggregate=TOTAL,
    ),
    Metric(
        "energy_mwh",
        "facility energy",
        "MWh",
        fmt="{:,.2f}",
        better="lower",
        formula=lambda q: q["facility_kw"] * q.seconds / 3.6e6,
        aggregate=TOTAL,
    ),
    Metric(
        "cost_usd",
        "cost of the run",
        "$",
        fmt="{:,.0f}",
        better="lower",
        formula=lambda q: (q["capital_usd_s"] + q["energy_usd_s"]) * q.seconds,
        aggregate=TOTAL,
    ),
    Metric("active_faults", "faults in progress", "faults", aggregate=FACTORY),
    Metric("critical_events", "critical events so far", "events", aggregate=FACTORY),
    Metric("t_s", "time since the start", "s", fmt="{:,.0f}", aggregate=FACTORY, quantity=TIME),
)

for _m in _BUILTIN:
    register(_m)
